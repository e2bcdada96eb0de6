"""Every module that registers a function, imported for that side effect.

Add a module here when you add a function; ``registry.load_all()`` imports this file, and the
Lambda entry points and the Dramatiq actors are generated from what it registers.
"""

from __future__ import annotations

import functions.backtest_chunks
import functions.backtest_walk_forward
import functions.backtests
import functions.indicators
import functions.orders  # noqa: F401
