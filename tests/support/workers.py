"""Real worker processes for tests: a ``dramatiq functions.runtime.worker`` on the real Redis.

The child gets only the ``QUANT_*`` variables given here, so settings meant for the test run
itself (``QUANT_REQUIRE_SERVICES``, ``QUANT_TEST_*``) never reach the worker's settings.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Self

import redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def child_environment(quant: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QUANT_")}
    env.update(quant)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DramatiqWorker:
    """One ``dramatiq`` command (one worker process, a few threads), logging to a file."""

    def __init__(
        self,
        *,
        redis_url: str,
        redis_prefix: str,
        objects_dir: Path,
        log_path: Path,
        threads: int = 4,
        extra_settings: dict[str, str] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.namespace = f"{redis_prefix}-dramatiq"
        self.log_path = log_path
        self._settings = {
            "QUANT_REDIS_URL": redis_url,
            "QUANT_REDIS_PREFIX": redis_prefix,
            "QUANT_OBJECTS_DIR": str(objects_dir),
            **(extra_settings or {}),
        }
        self._threads = threads
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._spawned_ms = 0

    def start(self, timeout_s: float = 30.0) -> None:
        self.spawn()
        self.wait_ready(timeout_s)

    def spawn(self) -> None:
        """Start the process without waiting (start several, then wait for each)."""
        # Heartbeats are milliseconds since the epoch; older ones belong to someone else.
        self._spawned_ms = int(time.time() * 1000)
        self._log = self.log_path.open("wb")
        command = [
            sys.executable,
            "-m",
            "dramatiq",
            "functions.runtime.worker",
            "--processes",
            "1",
            "--threads",
            str(self._threads),
        ]
        env = child_environment(self._settings)
        # Idle consumers poll Redis; the default 1 s poll would add up to a second to every
        # test call and to the shutdown.
        env["dramatiq_worker_timeout"] = "100"
        self._process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: `kill` reaches the worker processes dramatiq forks too.
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        # A consumer thread fetching from the queue writes its heartbeat: only then can a
        # message sent by a test be picked up.
        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"the Dramatiq worker exited early:\n{self.log_text()}")
                heartbeats = f"{self.namespace}:__heartbeats__"
                if client.zcount(heartbeats, self._spawned_ms, "+inf") > 0:
                    return
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise TimeoutError(f"the Dramatiq worker was not ready in {timeout_s}s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, count: int = 1, timeout_s: float = 10.0) -> str:
        """Wait until ``text`` appears ``count`` times in the log (log lines arrive late)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            log = self.log_text()
            if log.count(text) >= count:
                return log
            time.sleep(0.05)
        raise TimeoutError(f"{text!r} did not appear {count} time(s) in the worker log:\n{log}")

    def kill(self) -> None:
        """SIGKILL to every process of the worker: it dies mid-work, with no clean shutdown
        and no acks (killing only the parent would leave its forked workers consuming)."""
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class LambdaEmulatorProcess:
    """``tests.support.lambda_emulator`` in a subprocess: a local Lambda Invoke endpoint."""

    def __init__(self, *, objects_dir: Path, extra_settings: dict[str, str] | None = None) -> None:
        self._settings = {"QUANT_OBJECTS_DIR": str(objects_dir), **(extra_settings or {})}
        self._process: subprocess.Popen[bytes] | None = None
        self.endpoint_url = ""

    def start(self, timeout_s: float = 30.0) -> None:
        self.spawn()
        self.wait_ready(timeout_s)

    def spawn(self) -> None:
        """Start the process without waiting (start several, then wait for each)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.lambda_emulator", "--port", "0"],
            cwd=PROJECT_ROOT,
            env=child_environment(self._settings),
            stdout=subprocess.PIPE,
        )

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        process = self._process
        if process is None or process.stdout is None:
            raise RuntimeError("spawn() the emulator first")
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=timeout_s):
                self.stop()
                raise TimeoutError(f"the Lambda emulator did not start in {timeout_s}s")
        line = process.stdout.readline().decode().strip()
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"the Lambda emulator did not start: {line!r}")
        self.endpoint_url = f"http://127.0.0.1:{line.split()[1]}"

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
