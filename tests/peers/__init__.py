"""Agreement with established backtest engines (backtesting.py, backtrader) on real data."""
