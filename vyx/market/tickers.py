"""The 24 h ticker table: last price, 24 h change and quote volume per symbol."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from vyx.market.frames import Ticker


class TickerTable:
    """Latest :class:`~vyx.market.frames.Ticker` per symbol (stream updates, REST at start)."""

    def __init__(self) -> None:
        self._rows: dict[str, Ticker] = {}
        self.updates = 0

    def update(self, ticker: Ticker) -> None:
        """Keep ``ticker`` unless a newer one is held."""
        held = self._rows.get(ticker.symbol)
        if held is None or ticker.event_time >= held.event_time:
            self._rows[ticker.symbol] = ticker
            self.updates += 1

    def get(self, symbol: str) -> Ticker | None:
        """The latest ticker of ``symbol``."""
        return self._rows.get(symbol)

    def remove(self, symbols: Iterable[str]) -> None:
        """Forget symbols that left the universe."""
        for symbol in symbols:
            self._rows.pop(symbol, None)

    def snapshot(self) -> dict[str, Ticker]:
        """A copy of the table."""
        return dict(self._rows)

    def arrays(
        self, symbols: Sequence[str | None]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(last price, 24 h change %, 24 h quote volume) aligned to ``symbols`` (NaN if unknown).

        Pass a ring's slot order (``[ring.symbol_at(i) for i in range(ring.n_slots)]``) to get
        arrays indexed by slot.
        """
        n = len(symbols)
        price, change, volume = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        for i, symbol in enumerate(symbols):
            row = self._rows.get(symbol) if symbol is not None else None
            if row is not None:
                price[i], change[i], volume[i] = row.last_price, row.change_pct, row.quote_volume
        return price, change, volume

    def __len__(self) -> int:
        return len(self._rows)
