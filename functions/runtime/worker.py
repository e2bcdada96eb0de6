"""What ``dramatiq functions.runtime.worker`` loads: the broker and one actor per function.

Settings come from the environment (``QUANT_REDIS_URL``, ``QUANT_REDIS_PREFIX``, ...). The
broker is made global before any actor exists, because the ``dramatiq`` command looks it up
with ``dramatiq.get_broker()``; without it Dramatiq would quietly build a RabbitMQ broker.
"""

from __future__ import annotations

import dramatiq

from functions.deps import build_deps
from functions.runtime.dramatiq import declare_actors, setup_broker
from shared.config import load_settings
from shared.memory_reuse import reuse_freed_memory

reuse_freed_memory()  # before the first array of the first message
settings = load_settings()
broker = setup_broker(settings)
dramatiq.set_broker(broker)
actors = declare_actors(
    broker, lambda: build_deps(settings), time_limit_s=settings.function_timeout_s
)
