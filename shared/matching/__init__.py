"""The paper exchange's matching engine: orders against live or replayed quotes.

Pure and synchronous; its reports drive `shared.orders.apply` exactly as a real venue's would.
"""

from shared.matching._engine import MatchingEngine
from shared.matching._report import Report
from shared.matching._rules import slipped

__all__ = ["MatchingEngine", "Report", "slipped"]
