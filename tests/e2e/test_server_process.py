"""The real thing: `quant serve` as a process, spoken to over HTTP, as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import free_port
from tests.support.server import QUANT, Server, environment

pytestmark = pytest.mark.slow


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def server(var_dir: Path) -> Iterator[Server]:
    running = Server(var_dir)
    yield running
    running.stop()


def test_first_start_prints_an_admin_password_once_and_it_works(
    server: Server, var_dir: Path
) -> None:
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/docs").status_code == 200
    assert httpx.get(f"{server.url}/api/v1/users").status_code == 401
    output = server.stop()
    match = re.search(r"created user `admin` with password: (\S+)", output)
    assert match, output
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal as its exit status.
    assert server.process.returncode in {0, -15}, output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output

    again = Server(var_dir)  # same database: no new admin, no password printed
    try:
        token = httpx.post(
            f"{again.url}/api/v1/auth/token", json={"username": "admin", "password": match.group(1)}
        ).json()["access_token"]
        me = httpx.get(f"{again.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "admin"
    finally:
        second_output = again.stop()
    assert "with password" not in second_output


def test_cli_creates_a_user_who_can_log_in(server: Server) -> None:
    created = subprocess.run(
        [QUANT, "user", "create", "trader1", "--role", "trader", "--password-stdin"],
        input="trader1-password\n",
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    assert "created user 'trader1'" in created.stdout
    again = subprocess.run(
        [QUANT, "user", "create", "trader1", "--password-stdin"],
        input="trader1-password\n",
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1
    assert "exists already" in again.stderr
    weak = subprocess.run(
        [QUANT, "user", "create", "trader2", "--password-stdin"],
        input="short\n",
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert weak.returncode == 1
    assert "at least 8" in weak.stderr
    login = httpx.post(
        f"{server.url}/api/v1/auth/token",
        json={"username": "trader1", "password": "trader1-password"},
    )
    assert login.status_code == 201
    assert login.json()["role"] == "trader"


def test_bad_configuration_is_refused_with_a_message(tmp_path: Path) -> None:
    env = environment(tmp_path, free_port())
    env["QUANT_MODE"] = "production"  # with the embedded default secret
    result = subprocess.run(
        [QUANT, "serve"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "QUANT_JWT_SECRET" in result.stderr
    env["QUANT_MODE"] = "embedded"
    env["QUANT_PORT"] = "not-a-port"
    result = subprocess.run(
        [QUANT, "serve"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "QUANT_PORT" in result.stderr


def test_the_ctp_venue_without_its_locale_is_refused_with_the_fix(tmp_path: Path) -> None:
    """No zh_CN.GB18030 and no localedef to make it: `quant serve` says so in one line and
    how to fix it, instead of the library aborting the process."""
    env = {k: v for k, v in environment(tmp_path, free_port()).items() if k != "LOCPATH"}
    # Asked in a clean process: this one may have LOCPATH set by the CTP tests.
    system_locale = subprocess.run(
        [sys.executable, "-c", "import locale; locale.setlocale(locale.LC_CTYPE, 'zh_CN.GB18030')"],
        env=env,
        capture_output=True,
        check=False,
    )
    if system_locale.returncode == 0:
        pytest.skip("this machine has the zh_CN.GB18030 locale: the refusal cannot happen")
    env.update(
        PATH=str(tmp_path / "no-tools"),  # no localedef
        QUANT_VENUE="ctp",
        QUANT_CTP_MD_FRONTS="tcp://127.0.0.1:1",
        QUANT_CTP_TD_FRONTS="tcp://127.0.0.1:1",
        QUANT_CTP_BROKER_ID="9999",
        QUANT_CTP_USER_ID="000001",
        QUANT_CTP_PASSWORD="ctp-password",
    )
    result = subprocess.run(
        [QUANT, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("quant: cannot start: QUANT_VENUE=ctp:")
    assert "localedef" in result.stderr
    assert "Traceback" not in result.stderr
