// The chart of a signal (or of a preview's): candles around the bar from the machine's rings,
// the trader's indicators computed by the same kernels that fired (chart_data request), the
// signal's bar marked and its clause values beside it. Drawn with TradingView's Lightweight
// Charts (vendored, served by the machine: no external request).
"use strict";
Vyx.Chart = (() => {
  const { $, el, fmt, dateTime, request, openDialog } = Vyx;
  const COLORS = ["#58a6ff", "#f0b72f", "#bc8cff", "#3fb950", "#ff7b72", "#39c5cf", "#db61a2", "#e3b341"];
  let chart = null;
  let latest = 0;

  // Chart times are seconds; shifted so the axis reads in the browser's time zone.
  const offsetS = (ms) => -new Date(ms).getTimezoneOffset() * 60;
  const t = (ms) => Math.floor(ms / 1000) + offsetS(ms);

  function destroy() {
    if (chart) { chart.remove(); chart = null; }
  }

  function draw(box, data) {
    destroy();
    const LC = window.LightweightCharts;
    chart = LC.createChart(box, {
      autoSize: true,
      layout: { background: { color: "#0d1117" }, textColor: "#8b949e", panes: { separatorColor: "#30363d" } },
      grid: { vertLines: { color: "#161b22" }, horzLines: { color: "#161b22" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#30363d", rightOffset: 6 },
      rightPriceScale: { borderColor: "#30363d" },
      crosshair: { mode: 0 },
    });
    const last = data.candles[data.candles.length - 1][4];
    const precision = last >= 1000 ? 2 : last >= 10 ? 3 : last >= 0.1 ? 4 : 6;
    const candles = chart.addSeries(LC.CandlestickSeries, {
      priceFormat: { type: "price", precision, minMove: Math.pow(10, -precision) },
      upColor: "#3fb950", downColor: "#f85149", borderVisible: false,
      wickUpColor: "#3fb950", wickDownColor: "#f85149",
    }, 0);
    candles.setData(data.candles.map(([ms, o, h, l, c]) => ({ time: t(ms), open: o, high: h, low: l, close: c })));
    const volume = chart.addSeries(LC.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "vol", color: "#30363d", lastValueVisible: false, priceLineVisible: false,
    }, 0);
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    volume.setData(data.candles.map(([ms, o, , , c, v]) => ({ time: t(ms), value: v, color: c >= o ? "#3fb95055" : "#f8514955" })));
    const paneIndex = new Map(data.panes.map((name, i) => [name, i]));
    const legend = [];
    const byPane = new Map();
    data.series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const pane = paneIndex.get(s.pane) ?? 0;
      const line = chart.addSeries(LC.LineSeries, {
        color, lineWidth: 2, title: s.label, priceLineVisible: false, lastValueVisible: true,
      }, pane);
      line.setData(data.candles.map(([ms], k) => (s.values[k] === null ? { time: t(ms) } : { time: t(ms), value: s.values[k] })));
      if (!byPane.has(s.pane)) byPane.set(s.pane, line);
      legend.push(el("span", {}, el("i", { style: "background:" + color }), s.label));
    });
    for (const level of data.levels) {
      const series = level.pane === "price" ? candles : byPane.get(level.pane);
      if (series) series.createPriceLine({ price: level.value, color: "#8b949e", lineStyle: 2, lineWidth: 1, title: String(level.value) });
    }
    if (data.marker) {
      LC.createSeriesMarkers(candles, [{ time: t(data.marker.time), position: "aboveBar", color: "#f0b72f", shape: "arrowDown", text: "signal" }]);
    }
    const panes = chart.panes();
    for (let i = 1; i < panes.length; i++) panes[i].setHeight(110);
    chart.timeScale().fitContent();
    $("chart-legend").replaceChildren(...legend);
    box.dataset.candles = String(data.candles.length);
    box.dataset.series = String(data.series.length);
    box.dataset.panes = String(panes.length);
  }

  function clauseTable(signal) {
    if (!signal || !signal.indicatorData) return null;
    const rows = Object.entries(signal.indicatorData).map(([name, info]) => {
      const held = info && typeof info === "object" ? info.held !== false : true;
      const values = info && typeof info === "object" && info.values ? info.values : {};
      return el("tr", {},
        el("td", { class: held ? "held" : "failed" }, held ? "✓" : "✗"),
        el("td", {}, el("code", {}, name), el("div", { class: "operands" },
          Object.entries(values).map(([k, v]) => el("code", {}, k + " = ", el("b", {}, fmt(v)))))));
    });
    return el("table", { class: "why" }, el("tbody", {}, rows));
  }

  // Opens the chart dialog. what = {symbol, timeframe, time, traderId | filter, title, signal}.
  async function show(what) {
    const dialog = $("chart-dialog");
    const box = $("chart-box");
    const mine = ++latest;
    $("chart-title").textContent = what.title || what.symbol;
    $("chart-note").textContent = "loading…";
    $("chart-legend").replaceChildren();
    box.dataset.candles = "0";
    const signal = what.signal;
    $("chart-side").replaceChildren(
      signal ? el("div", {}, el("div", { class: "symbol" }, signal.symbol + " @ " + fmt(signal.price)),
        el("div", { class: "muted" }, dateTime(signal.barOpenTime || signal.createdAt) + " · " + (signal.interval || "")),
        clauseTable(signal)) : el("div", { class: "muted" }, what.subtitle || ""));
    openDialog(dialog);
    let data;
    try {
      data = await request("chart_data", {
        symbol: what.symbol, timeframe: what.timeframe || undefined, time: what.time || undefined,
        traderId: what.traderId || undefined, filter: what.traderId ? undefined : what.filter || undefined, bars: 150,
      });
    } catch (e) {
      if (mine === latest) $("chart-note").textContent = "No chart: " + (e.message || "error");
      return;
    }
    if (mine !== latest || !dialog.open) return;
    if (!window.LightweightCharts) { $("chart-note").textContent = "The chart library did not load."; return; }
    if (!data.candles.length) { destroy(); $("chart-note").textContent = data.note || "No bars held for this symbol."; return; }
    draw(box, data);
    $("chart-note").textContent = (data.note ? data.note + " · " : "") +
      `${data.candles.length} ${data.timeframe} candles from the machine's memory; indicators computed by the kernels that screen live.`;
  }

  $("chart-dialog").addEventListener("close", () => { latest++; destroy(); });
  return { show };
})();
