"""Pre-trade risk: pure rules over one account's state; every refusal names its rule."""

from shared.risk._engine import RiskEngine
from shared.risk._limits import LimitWarning, Rejection, RiskLimits, Rule, TradingState

__all__ = ["LimitWarning", "Rejection", "RiskEngine", "RiskLimits", "Rule", "TradingState"]
