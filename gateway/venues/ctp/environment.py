"""What openctp-ctp needs from the process before it is imported, prepared by the gateway.

The CTP libraries set the `zh_CN.GB18030` locale when they load; where the system lacks it,
the C++ runtime throws and the *process aborts* (no Python exception, no message). They also
write "flow" files under a path prefix whose directory must exist, or `Create*Api` crashes.
So before the first import the gateway finds the locale or generates it into its cache
directory (`localedef` needs no root), points `LOCPATH` at it, and proves in a child process
that the import survives. Anything missing is a `CtpEnvironmentError` saying how to fix it,
never a crash.
"""

from __future__ import annotations

import locale
import os
import shutil
import subprocess
import sys
from pathlib import Path

LOCALE = "zh_CN.GB18030"
_IMPORT = "from openctp_ctp import mdapi, tdapi"
_LOCALEDEF_TIMEOUT_S = 120


class CtpEnvironmentError(RuntimeError):
    """The CTP libraries cannot run here; the message says what to install or set."""


def prepare_locale(cache_dir: Path) -> Path | None:
    """Make `zh_CN.GB18030` available to this process and its children; returns the
    directory `LOCPATH` now names, or None when the locale was available already (from the
    system, or from a `LOCPATH` set before)."""
    if _system_has_locale():
        return None
    target = cache_dir / "locale"
    if not (target / LOCALE / "LC_CTYPE").is_file():
        _generate(target)
    os.environ["LOCPATH"] = str(target)
    return target


def check_import() -> None:
    """Import the CTP modules in a child process first: where they would abort, the
    gateway is told why instead of dying without a word."""
    child = subprocess.run(  # noqa: S603  (our own interpreter, a fixed argument)
        [sys.executable, "-c", _IMPORT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if child.returncode != 0:
        output = (child.stderr or child.stdout).strip().splitlines()
        raise CtpEnvironmentError(
            f"importing openctp-ctp fails here (exit {child.returncode}: "
            f"{output[-1] if output else 'no output'}); it needs the {LOCALE} locale: "
            f"install the system locale, or set LOCPATH to a directory holding "
            f"{LOCALE} made with `localedef -i zh_CN -f GB18030 DIR/{LOCALE}`"
        )


def flow_prefix(directory: Path) -> str:
    """The flow-file path prefix for `Create*Api`: the directory made, and a trailing `/`
    (the library appends file names to the string as it is)."""
    directory.mkdir(parents=True, exist_ok=True)
    return f"{directory}{os.sep}"


def _system_has_locale() -> bool:
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, LOCALE)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    return True


def _generate(target: Path) -> None:
    localedef = shutil.which("localedef")
    if localedef is None:
        raise CtpEnvironmentError(
            f"the {LOCALE} locale is missing and `localedef` is not installed to make it: "
            "install your system's locales package (Debian/Ubuntu: `apt install locales`), "
            f"or generate {LOCALE} elsewhere and set LOCPATH to its directory"
        )
    target.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(  # noqa: S603  (a fixed command line)
        [localedef, "-i", "zh_CN", "-f", "GB18030", str(target / LOCALE)],
        capture_output=True,
        text=True,
        timeout=_LOCALEDEF_TIMEOUT_S,
        check=False,
    )
    # localedef exits 1 for mere warnings; what counts is whether the locale was written.
    if not (target / LOCALE / "LC_CTYPE").is_file():
        detail = (made.stderr or made.stdout).strip().splitlines()
        raise CtpEnvironmentError(
            f"`localedef -i zh_CN -f GB18030` could not make {LOCALE} in {target}: "
            f"{detail[-1] if detail else f'exit {made.returncode}'}; install the zh_CN locale "
            "sources (Debian/Ubuntu: `apt install locales`)"
        )
