"""Pre-trade risk: pure rules over one account's state; every refusal names its rule."""

from shared.risk._engine import RiskEngine
from shared.risk._limits import Rejection, RiskLimits, Rule, TradingState

__all__ = ["Rejection", "RiskEngine", "RiskLimits", "Rule", "TradingState"]
