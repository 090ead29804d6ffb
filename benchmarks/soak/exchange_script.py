"""The script of the simulated exchange's process."""

#: The exchange in its own process: prints its URLs, then obeys ``stall`` / ``stats`` on stdin.
EXCHANGE_SCRIPT = """
import json, sys, trio
from vyx.exchange.service import ExchangeConfig, run_exchange
async def main():
    symbols, seed, speed, start, lifetime = sys.argv[1:6]
    cfg = ExchangeConfig(
        symbols=int(symbols), seed=int(seed), speed=float(speed), start_ms=int(start),
        decoys=False, timeframes=("1m", "1h"), forming_updates=0, ticker_interval_ms=300_000,
        connection_lifetime_s=float(lifetime) if float(lifetime) > 0 else None,
    )
    async with trio.open_nursery() as nursery:
        h = await nursery.start(run_exchange, cfg)
        print(h.rest_url, h.ws_url, flush=True)
        while line := (await trio.to_thread.run_sync(sys.stdin.readline)).strip():
            if line == "stall":
                h.faults.stall(1e9)
            s = h.statistics()
            sent = h.truth.sent(h.symbols[0], "1m")[-1:]
            print(json.dumps({"connections": s.connections, "frames": s.frames_published,
                              "market_ms": s.market_ms, "slow_closed": s.slow_consumers_closed,
                              "sent_ms": sent[0] + 60_000 if sent else 0}), flush=True)
        nursery.cancel_scope.cancel()
trio.run(main)
"""
