"""Binance market data: universe, backfill, combined streams, gap repair, tickers."""
