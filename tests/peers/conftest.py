"""Import the peers once, before the test modules do, with their import-time warnings silenced.

backtrader 1.9.78's docstrings hold invalid escape sequences (`'\\*'`): a DeprecationWarning
(Python 3.11) or SyntaxWarning (3.12+) when Python compiles them, which this project's
`filterwarnings = error` turns into a SyntaxError on a fresh install (no cached bytecode yet).
Only the import is covered; nothing the peers do while running a backtest is silenced here.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    import backtesting  # noqa: F401
    import backtrader  # noqa: F401
