"""Real runtimes for every function: one Dramatiq worker and one Lambda emulator per package.

Both processes start on first use and stop after the last test of ``tests/runtimes``. Their
Redis keys live under ``qtest-<run>-runtimes`` (removed with the run's keys) and the objects
they write go to a temporary directory the dispatchers here read too.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from functions import registry
from functions.deps import Deps
from functions.dispatch import Dispatcher, InlineDispatcher
from functions.indicators import BarColumns, IndicatorSpec, IndicatorsRequest
from functions.registry import FunctionSpec
from functions.runtime import aws_lambda
from shared.config import Settings
from shared.objects import LocalObjectStore
from shared.store.migrate import upgrade
from tests.support.market_data import load_bars
from tests.support.services import RUN_ID
from tests.support.workers import DramatiqWorker, LambdaEmulatorProcess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

CALL_TIMEOUT_S = 30.0


def every_indicator(bars: BarColumns) -> IndicatorsRequest:
    return IndicatorsRequest(
        bars=bars,
        indicators=[
            IndicatorSpec(name="sma", params={"timeperiod": 20}),
            IndicatorSpec(name="ema", params={"timeperiod": 60}),
            IndicatorSpec(name="rsi"),
            IndicatorSpec(name="macd"),
        ],
    )


@pytest.fixture(scope="package")
def bars_request(shared_data: Path) -> IndicatorsRequest:
    return every_indicator(load_bars(shared_data, rows=2000))


@pytest.fixture(scope="package")
def runtime_prefix(redis_server: str) -> str:
    return f"qtest-{RUN_ID}-runtimes"


@pytest.fixture(scope="package")
def objects_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime-objects")


@pytest.fixture(scope="package")
def runtime_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database the `orders` function books in, shared by every runtime's process (a
    SQLite file: the three processes open the same one)."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('runtime-db') / 'quant.db'}"
    upgrade(url)
    return url


def runtime_settings(
    redis_url: str, prefix: str, objects_dir: Path, database_url: str, **overrides: Any
) -> Settings:
    base = Settings(
        redis_url=redis_url,
        redis_prefix=prefix,
        objects_dir=str(objects_dir),
        database_url=database_url,
        function_timeout_s=CALL_TIMEOUT_S,
    )
    return msgspec.structs.replace(base, **overrides)


@pytest.fixture(scope="package")
def settings(
    redis_server: str, runtime_prefix: str, objects_dir: Path, runtime_database: str
) -> Settings:
    return runtime_settings(redis_server, runtime_prefix, objects_dir, runtime_database)


@pytest.fixture(scope="package")
def deps(settings: Settings) -> Deps:
    return Deps(settings=settings, objects=LocalObjectStore(settings.objects_dir))


@pytest.fixture(scope="package")
def runtime_processes(
    redis_server: str,
    runtime_prefix: str,
    objects_dir: Path,
    runtime_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DramatiqWorker, LambdaEmulatorProcess]]:
    """The worker and the emulator, started side by side (each spends a second importing)."""
    worker = DramatiqWorker(
        redis_url=redis_server,
        redis_prefix=runtime_prefix,
        objects_dir=objects_dir,
        log_path=tmp_path_factory.mktemp("dramatiq") / "worker.log",
        extra_settings={
            "QUANT_FUNCTION_TIMEOUT_S": str(CALL_TIMEOUT_S),
            "QUANT_DATABASE_URL": runtime_database,
        },
    )
    emulator = LambdaEmulatorProcess(
        objects_dir=objects_dir, extra_settings={"QUANT_DATABASE_URL": runtime_database}
    )
    try:
        worker.spawn()
        emulator.spawn()
        worker.wait_ready()
        emulator.wait_ready()
        yield worker, emulator
    finally:
        emulator.stop()
        worker.stop()


@pytest.fixture(scope="package")
def dramatiq_worker(
    runtime_processes: tuple[DramatiqWorker, LambdaEmulatorProcess],
) -> DramatiqWorker:
    return runtime_processes[0]


@pytest.fixture(scope="package")
def lambda_emulator(
    runtime_processes: tuple[DramatiqWorker, LambdaEmulatorProcess],
) -> LambdaEmulatorProcess:
    return runtime_processes[1]


@pytest.fixture(scope="package")
def aws_credentials() -> Iterator[None]:
    """Dummy credentials for signing: the emulator does not check them; no real profile used."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture(scope="package")
async def inline_dispatcher(deps: Deps) -> AsyncIterator[InlineDispatcher]:
    dispatcher = InlineDispatcher(deps, workers=2, timeout_s=CALL_TIMEOUT_S)
    await dispatcher.start()
    yield dispatcher
    await dispatcher.close()


@pytest.fixture(scope="package")
async def dramatiq_dispatcher(
    settings: Settings, deps: Deps, dramatiq_worker: DramatiqWorker
) -> AsyncIterator[Dispatcher]:
    from functions.dispatch.dramatiq import DramatiqDispatcher  # noqa: PLC0415

    dispatcher = DramatiqDispatcher(settings, deps)
    await dispatcher.start()
    yield dispatcher
    await dispatcher.close()


@pytest.fixture(scope="package")
async def lambda_dispatcher(
    settings: Settings,
    deps: Deps,
    lambda_emulator: LambdaEmulatorProcess,
    aws_credentials: None,
) -> AsyncIterator[Dispatcher]:
    from functions.dispatch.aws_lambda import LambdaDispatcher  # noqa: PLC0415

    lambda_settings = msgspec.structs.replace(
        settings, dispatcher="lambda", lambda_endpoint_url=lambda_emulator.endpoint_url
    )
    dispatcher = LambdaDispatcher(lambda_settings, deps)
    await dispatcher.start()
    yield dispatcher
    await dispatcher.close()


@pytest.fixture
def lambda_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, objects_dir: Path
) -> Iterator[None]:
    """A cold start of the Lambda handlers in this process, configured like a deployment."""
    for name in [name for name in os.environ if name.startswith("QUANT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("QUANT_OBJECTS_DIR", str(objects_dir))
    monkeypatch.chdir(tmp_path)  # no .env file here
    aws_lambda.deps_from_environment.cache_clear()
    yield
    aws_lambda.deps_from_environment.cache_clear()


@pytest.fixture(params=["inline", "dramatiq", "lambda"])
def dispatcher(request: pytest.FixtureRequest) -> Dispatcher:
    """Each dispatcher in turn; a runtime starts only when a test first needs it."""
    chosen: Dispatcher = request.getfixturevalue(f"{request.param}_dispatcher")
    return chosen


class SleepRequest(msgspec.Struct, frozen=True):
    seconds: float


class SleepResponse(msgspec.Struct, frozen=True):
    thread: str


class Gauge:
    """How many calls run at this moment, and the most that ever did (across threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.running -= 1


SLEEPING = Gauge()


async def sleep_blocking(request: SleepRequest, deps: Deps) -> SleepResponse:
    """Stands in for a CPU-bound handler: it holds its thread and never yields to the loop."""
    del deps
    with SLEEPING:
        time.sleep(request.seconds)  # noqa: ASYNC251  (blocking is the point)
    return SleepResponse(thread=threading.current_thread().name)


SLEEPER = FunctionSpec(
    name="test_sleep",
    request_type=SleepRequest,
    response_type=SleepResponse,
    handler=sleep_blocking,
)


@pytest.fixture
def sleeper(monkeypatch: pytest.MonkeyPatch) -> FunctionSpec[SleepRequest, SleepResponse]:
    """Registered in this process for one test (inline runtime only: workers do not see it)."""
    registry.load_all()
    monkeypatch.setitem(registry._REGISTRY, SLEEPER.name, SLEEPER)
    monkeypatch.setattr(SLEEPING, "peak", 0)
    return SLEEPER
