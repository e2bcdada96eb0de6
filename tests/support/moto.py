"""A real moto S3 server in a subprocess, and fake AWS credentials for boto3 to talk to it."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any credentials
    "AWS_DEFAULT_REGION": "cn-north-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Anything that could point boto3 at a real account or profile is removed for the session.
REAL_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


class MotoServerError(RuntimeError):
    """moto_server could not be started."""


@dataclass(frozen=True, slots=True)
class MotoServer:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def moto_server_command() -> Path | None:
    beside_python = Path(sys.executable).parent / "moto_server"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("moto_server")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@contextlib.contextmanager
def running_moto_server(startup_timeout_s: float = 30.0) -> Iterator[MotoServer]:
    command = moto_server_command()
    if command is None:
        raise MotoServerError("moto_server is not installed (dev dependency moto[server])")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="quant-moto-") as log_dir:
        log_path = Path(log_dir) / "moto.log"
        with log_path.open("wb") as log_file:
            # The log goes to a file: a pipe nobody reads would fill and stall the server.
            process = subprocess.Popen(
                [str(command), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        server = MotoServer(f"http://127.0.0.1:{port}", process, log_path)
        try:
            _wait_until_up(server, startup_timeout_s)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(server: MotoServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise MotoServerError(
                f"moto_server exited with {server.process.returncode}: {_tail(server.log_path)}"
            )
        if _answers(f"{server.endpoint_url}/moto-api/"):
            return
        time.sleep(0.1)
    raise MotoServerError(f"moto_server did not answer in {timeout_s}s: {_tail(server.log_path)}")


def _tail(path: Path, size: int = 2000) -> str:
    return path.read_bytes()[-size:].decode(errors="replace")


@contextlib.contextmanager
def fake_aws_credentials() -> Iterator[None]:
    """Point boto3 at fake credentials; the previous environment comes back afterwards."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as empty:
        for name in REAL_AWS_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        # No shared config or credentials file may override the fake ones.
        patch.setenv("AWS_CONFIG_FILE", str(Path(empty) / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(Path(empty) / "credentials"))
        yield
