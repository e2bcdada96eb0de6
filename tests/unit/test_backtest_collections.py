"""While event-driven backtests run, the young generation is collected rarely; the process's
own thresholds come back when the last run ends, whatever happened in it."""

from __future__ import annotations

import gc
import threading

import pytest

from shared.backtest._collections import rare_collections


@pytest.fixture(autouse=True)
def thresholds() -> object:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def _failing_run() -> None:
    with rare_collections():
        assert gc.get_threshold()[0] >= 100_000
        raise RuntimeError("a strategy failed")


def test_thresholds_are_raised_during_a_run_and_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError):
        _failing_run()
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_restore_the_process_setting_once_both_end() -> None:
    first_in, release = threading.Event(), threading.Event()

    def first() -> None:
        with rare_collections():
            first_in.set()
            release.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with rare_collections():
        assert gc.get_threshold()[0] >= 100_000
    assert gc.get_threshold()[0] >= 100_000  # the first run is still going
    release.set()
    thread.join(5)
    assert gc.get_threshold() == (700, 10, 10)
