"""The screener: steps every trader's plan as candles close and turns matches into signals."""
