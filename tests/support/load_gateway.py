"""The gateway with a load venue (`tests.bench.ws_server`) as a child process.

Used by the WebSocket benchmark and by the end-to-end tests that need more ticks than the
replay gives: a slow client must be able to fill its socket's buffers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.gateway import TEST_SECRET, free_port
from tests.support.server import environment


class LoadGateway:
    def __init__(
        self,
        var_dir: Path,
        *,
        username: str,
        password: str,
        symbols: int,
        rate: float,
        naive_clients: int = 0,
        **settings: str,
    ) -> None:
        self.port = free_port()
        env = environment(var_dir, self.port)
        env.update(
            QUANT_JWT_SECRET=TEST_SECRET,
            QUANT_BOOTSTRAP_ADMIN="false",
            QUANT_LIVE_BAR_INTERVALS="",
            QUANT_LOG_LEVEL="WARNING",
            QUANT_WS_HEARTBEAT_S="600",
            QUANT_WS_IDLE_TIMEOUT_S="3600",
        )
        env.update(settings)
        self.log_path = var_dir / f"server-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.bench.ws_server",
                str(self.port),
                str(symbols),
                str(rate),
                str(naive_clients),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"load gateway did not start:\n{self.log_path.read_text()}")
        answer = httpx.post(
            f"{self.url}/api/v1/auth/token", json={"username": username, "password": password}
        )
        answer.raise_for_status()
        self.token: str = answer.json()["access_token"]

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self.process.pid)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
