"""The real thing: `quant serve` as a process, spoken to over HTTP, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import free_port

pytestmark = pytest.mark.slow

QUANT = str(Path(sys.executable).with_name("quant"))


def _environment(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_")}
    env.update(
        QUANT_VAR_DIR=str(var_dir),
        QUANT_DATABASE_URL=f"sqlite+aiosqlite:///{var_dir}/quant.db",
        QUANT_OBJECTS_DIR=str(var_dir / "objects"),
        QUANT_PORT=str(port),
        QUANT_REPLAY_SPEED="50",
    )
    return env


class Server:
    def __init__(self, var_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = _environment(var_dir, self.port)
        self.process = subprocess.Popen(
            [QUANT, "serve"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited: {self.process.stdout.read() if self.process.stdout else ''}"
                )
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become ready in 30 s")

    def stop(self) -> str:
        self.process.terminate()
        output, _ = self.process.communicate(timeout=15)
        return output


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def server(var_dir: Path) -> Iterator[Server]:
    running = Server(var_dir)
    yield running
    if running.process.poll() is None:
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
    env = _environment(tmp_path, free_port())
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
