"""CTP tests: make the zh_CN.GB18030 locale available before anything imports openctp_ctp.

The library aborts the whole process on import without that locale, so this runs at conftest
import time, before pytest imports the test modules of this folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gateway.venues.ctp.environment import prepare_locale

prepare_locale(Path(tempfile.gettempdir()) / "quant-ctp-locale")
