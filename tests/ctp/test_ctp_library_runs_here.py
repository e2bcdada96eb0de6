"""Whether the CTP tests of this folder could run: they need the library importable."""

from __future__ import annotations

from tests.ctp.conftest import CTP_PROBLEM
from tests.support.services import unavailable


def test_ctp_library_runs_here() -> None:
    if CTP_PROBLEM is not None:
        unavailable("the CTP library", CTP_PROBLEM)
    from openctp_ctp import mdapi  # noqa: PLC0415  (only once the locale is known to be there)

    assert mdapi.CThostFtdcMdApi.GetApiVersion()  # the native library answers
