"""CTP tests: make the zh_CN.GB18030 locale available before anything imports openctp_ctp.

The library aborts the whole process on import without that locale, so this runs at conftest
import time, before pytest imports the test modules of this folder. Where the locale cannot be
made (no localedef, no locale sources), those modules are not collected at all (importing
them would end the run) and `test_ctp_library_runs_here` reports why: a skip for a developer,
a failure in CI, which promises the services and tools.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gateway.venues.ctp.environment import CtpEnvironmentError, check_import, prepare_locale

try:
    prepare_locale(Path(tempfile.gettempdir()) / "quant-ctp-locale")
    check_import()
except CtpEnvironmentError as exc:
    CTP_PROBLEM: str | None = str(exc)
else:
    CTP_PROBLEM = None

if CTP_PROBLEM is not None:
    collect_ignore_glob = [
        "test_contracts.py",
        "test_ctp_gateway.py",
        "test_ctp_venue.py",
        "test_mapping.py",
        "test_md_session.py",
        "test_td_session.py",
    ]
