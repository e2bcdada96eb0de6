"""The process is made fit for openctp-ctp before it is imported: the GB18030 locale found or
generated (without root), the import proven in a child process, and the flow directory made.
Where that cannot be done the gateway gets a message saying how to fix it, never an abort."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.venues.ctp.environment import (
    LOCALE,
    CtpEnvironmentError,
    check_import,
    flow_prefix,
    prepare_locale,
)


@pytest.fixture(scope="module")
def locale_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ctp-cache")


@pytest.fixture(autouse=True)
def _own_locpath(monkeypatch: pytest.MonkeyPatch) -> None:
    # prepare_locale sets LOCPATH for the process: each test starts without and restores it.
    monkeypatch.delenv("LOCPATH", raising=False)


def test_the_locale_is_made_once_and_the_libraries_then_import(locale_cache: Path) -> None:
    made = prepare_locale(locale_cache)
    if made is not None:  # this system lacks the locale: generated into the cache
        assert (made / LOCALE / "LC_CTYPE").is_file()
        assert os.environ["LOCPATH"] == str(made)
        stamp = (made / LOCALE / "LC_CTYPE").stat().st_mtime_ns
        assert prepare_locale(locale_cache) is None  # available now: nothing more to do
        os.environ.pop("LOCPATH")  # a restart: the cache is found, not generated again
        assert prepare_locale(locale_cache) == made
        assert (made / LOCALE / "LC_CTYPE").stat().st_mtime_ns == stamp
    check_import()  # a child process imports openctp_ctp and survives


def test_without_the_locale_the_import_failure_is_explained(locale_cache: Path) -> None:
    if prepare_locale(locale_cache) is None:
        pytest.skip("this system provides zh_CN.GB18030 itself: the import cannot fail here")
    os.environ.pop("LOCPATH")  # what a process that skipped the preparation would see
    with pytest.raises(CtpEnvironmentError, match="LOCPATH") as caught:
        check_import()
    assert "localedef -i zh_CN -f GB18030" in str(caught.value)


def test_without_localedef_the_fix_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locale_cache: Path
) -> None:
    if prepare_locale(locale_cache) is None:
        pytest.skip("this system provides zh_CN.GB18030 itself: nothing to generate")
    monkeypatch.delenv("LOCPATH")
    monkeypatch.setenv("PATH", str(tmp_path))  # no localedef to be found
    with pytest.raises(CtpEnvironmentError, match="localedef") as caught:
        prepare_locale(tmp_path / "empty-cache")
    assert "apt install locales" in str(caught.value)


def test_the_flow_prefix_is_an_existing_directory_ending_in_a_slash(tmp_path: Path) -> None:
    prefix = flow_prefix(tmp_path / "flow" / "md")
    assert prefix.endswith("/")
    assert Path(prefix).is_dir()
    assert flow_prefix(tmp_path / "flow" / "md") == prefix  # idempotent
