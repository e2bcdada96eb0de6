"""A real gateway process (`quant serve`) for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.gateway import free_port

QUANT = str(Path(sys.executable).with_name("quant"))


def environment(var_dir: Path, port: int) -> dict[str, str]:
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
    """`quant serve` on a free port with its state under ``var_dir``; ready when constructed.

    Output goes to a file, not a pipe: a chatty server must never block on a full pipe.
    """

    def __init__(self, var_dir: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**environment(var_dir, self.port), **settings}
        var_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = var_dir / f"server-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [QUANT, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server did not become ready in 30 s: {self.output()}")

    def stop(self) -> str:
        """Terminate, wait, and return everything the server printed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()
