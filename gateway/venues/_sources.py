"""Where the simulated venue's ticks come from: the shipped tick file, or the database.

A source is opened once (checking that it has data, so that a misconfiguration stops the
gateway at start) and then gives one pass over its ticks, in time order, as often as asked.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from shared.domain import Tick
from shared.marketdata import parse_ctp_tick_rows


class ReplaySource(Protocol):
    name: str

    async def open(self) -> str:
        """Check the data is there (raising ValueError or OSError if not); a description."""

    def one_pass(self) -> AsyncIterator[Tick]:
        """Every tick once, in time order."""


def load_ticks(path: Path) -> list[Tick]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(parse_ctp_tick_rows(handle))


class FileReplay:
    """A CTP-column tick file, small enough to hold in memory (the shipped one is one day)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.name = path.name
        self._ticks: list[Tick] = []

    async def open(self) -> str:
        self._ticks = await asyncio.to_thread(load_ticks, self._path)
        if not self._ticks:
            raise ValueError(f"{self._path} holds no ticks")
        return f"{len(self._ticks)} ticks from {self._path.name}"

    async def one_pass(self) -> AsyncIterator[Tick]:
        for tick in self._ticks:
            yield tick
