"""The CTP venue (openctp-ctp): market data and order routing through a broker's CTP fronts."""
