// The signal history: live signals and older pages from the store (signal_history), grouped
// per candle close, filtered by trader, symbol/search, verdict and dates, exported as CSV, and
// symbols or traders muted on the machine (the `mute` command: it sends no alert for them; their
// signals are still shown, marked muted: each signal carries whether its alert was muted).
"use strict";
Vyx.History = (() => {
  const { $, el, fmt, dateTime, TF_MS, request, toast, state } = Vyx;
  const MAX_KEPT = 5000;   // signals held in the page
  const MAX_SHOWN = 300;   // signals drawn at once (the filters narrow the rest)
  let cursor = null;       // the store's cursor for the next older page
  let exhausted = false;
  let fresh = new Set();
  // The machine's mutes (snapshot.status.mutes, then mutes_updated).
  let muted = { symbols: new Set(), traders: new Set() };
  try { localStorage.removeItem("vyx-muted"); } catch { /* mutes were kept here before */ }

  function setMutes(m) {
    muted = { symbols: new Set((m && m.symbols) || []), traders: new Set(((m && m.traders) || []).map(String)) };
    renderMuted(); render();
  }
  async function setMute(target, on) {
    try { await request("mute", { ...target, muted: on }); } catch (e) { toast("Could not change the mute: " + (e.message || "error")); }
  }
  const traderMuted = (id) => muted.traders.has(String(id));
  // What happened to a signal's alert: muted when the machine made it (its own `muted`), whatever
  // the mutes are now (a signal alerted before a mute stays alerted); null for a stored signal
  // from before that was kept: no mark.
  const isMuted = (s) => s.muted === true;

  function traderName(id) {
    const t = state.traders.get(String(id));
    return t ? t.name || t.id : String(id || "?");
  }

  function add(signals, { live } = {}) {
    const seen = new Map(state.signals.map((s) => [s.signalId, s]));
    for (const s of signals) {
      const old = seen.get(s.signalId);
      if (old) Object.assign(old, s, { analysis: s.analysis || old.analysis });
      else { state.signals.push(s); seen.set(s.signalId, s); if (live) fresh.add(s.signalId); }
    }
    state.signals.sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0) || String(a.signalId).localeCompare(String(b.signalId)));
    if (state.signals.length > MAX_KEPT) state.signals.length = MAX_KEPT;
    render();
  }

  function filters() {
    const from = $("f-from").value ? new Date($("f-from").value + "T00:00").getTime() : null;
    const to = $("f-to").value ? new Date($("f-to").value + "T00:00").getTime() + 864e5 : null;
    return { q: $("f-search").value.trim().toLowerCase(), trader: $("f-trader").value, verdict: $("f-verdict").value, from, to };
  }

  function matches(s, f) {
    if (f.trader && String(s.traderId) !== f.trader) return false;
    const verdict = s.analysis ? s.analysis.decision : "none";
    if (f.verdict && verdict !== f.verdict) return false;
    const at = s.createdAt || s.barOpenTime || 0;
    if (f.from !== null && at < f.from) return false;
    if (f.to !== null && at >= f.to) return false;
    if (f.q) {
      const hay = [s.symbol, traderName(s.traderId), ...(s.matchedConditions || [])].join(" ").toLowerCase();
      if (!hay.includes(f.q)) return false;
    }
    return true;
  }

  function clauses(sig) {
    const matched = new Set(sig.matchedConditions || []);
    const data = sig.indicatorData && typeof sig.indicatorData === "object" ? sig.indicatorData : {};
    const rows = [];
    for (const [name, info] of Object.entries(data)) {
      let held = matched.has(name), values = {};
      if (info && typeof info === "object" && !Array.isArray(info)) {
        if (typeof info.held === "boolean") held = info.held;
        const v = info.values || info.operands;
        if (v && typeof v === "object") values = v;
      } else values = { value: info };
      rows.push({ name, held, values });
    }
    if (!rows.length) for (const name of matched) rows.push({ name, held: true, values: {} });
    return rows;
  }

  function barTime(s) {
    if (s.barOpenTime) return s.barOpenTime;
    const tf = TF_MS[s.interval];
    return tf && s.createdAt ? Math.floor(s.createdAt / tf) * tf - tf : s.createdAt;
  }

  function openChart(s) {
    Vyx.Chart.show({
      symbol: s.symbol, timeframe: s.interval, time: barTime(s), traderId: state.traders.has(String(s.traderId)) ? String(s.traderId) : null,
      title: `${s.symbol} · ${s.interval} · ${traderName(s.traderId)}`, signal: s,
    });
  }

  function signalNode(sig) {
    const a = sig.analysis;
    const why = clauses(sig);
    const top = el("div", { class: "top" },
      el("span", { class: "symbol" }, sig.symbol),
      el("span", { class: "price" }, fmt(sig.price)),
      sig.provisional ? el("span", { class: "badge provisional" }, "provisional") : null,
      isMuted(sig) ? el("span", { class: "badge muted-badge", title: "no alert: muted on the machine when it fired" }, "muted") : null,
      a && a.decision ? el("span", { class: "badge " + a.decision }, a.decision.replace("_", " ") + " · " + fmt(a.confidence) + "%") : null,
      el("span", { class: "muted" }, traderName(sig.traderId) + " · " + dateTime(sig.createdAt || sig.barOpenTime)),
      el("span", { class: "actions" },
        el("button", { type: "button", class: "link", onclick: () => openChart(sig), "aria-label": "Chart of " + sig.symbol }, "Chart"),
        muted.symbols.has(sig.symbol)
          ? el("button", { type: "button", class: "link", onclick: () => setMute({ symbol: sig.symbol }, false), "aria-label": "Unmute " + sig.symbol }, "Unmute " + sig.symbol)
          : el("button", { type: "button", class: "link", onclick: () => setMute({ symbol: sig.symbol }, true), "aria-label": "Mute " + sig.symbol }, "Mute " + sig.symbol)));
    const clauseRow = (c) => el("tr", { class: "clause" },
      el("td", { class: c.held ? "held" : "failed" }, c.held ? "✓" : "✗"),
      el("td", {}, el("code", {}, c.name), el("div", { class: "operands" },
        Object.entries(c.values).map(([k, v]) => el("code", {}, k + " = ", el("b", {}, fmt(v)))))));
    const table = why.length ? el("table", { class: "why" }, el("tbody", {}, why.map(clauseRow))) : null;
    const reasoning = a && a.reasoning ? el("div", { class: "muted" }, a.reasoning) : null;
    const o = sig.outcome;
    const outcome = o ? el("div", { class: "muted outcome" }, outcomeWords(o)) : null;
    const node = el("article", { class: "signal" + (fresh.has(sig.signalId) ? " fresh" : ""), dataset: { signalId: sig.signalId || "" } }, top, table, reasoning, outcome);
    return node;
  }

  function render() {
    const f = filters();
    const shown = state.signals.filter((s) => matches(s, f));
    $("signal-count").textContent = shown.length === state.signals.length ? String(shown.length) : `${shown.length} of ${state.signals.length}`;
    const box = $("signals");
    if (!shown.length) {
      box.replaceChildren(el("div", { class: "empty" }, state.signals.length
        ? "No signal matches these filters." : "No signals yet. They appear here the moment a candle closes and a trader's filter starts matching."));
      fresh = new Set();
      return;
    }
    // Grouped per candle close: every signal of one close of one timeframe together.
    const groups = [];
    let current = null;
    for (const s of shown.slice(0, MAX_SHOWN)) {
      const tf = TF_MS[s.interval] || 0;
      const close = barTime(s) + tf;
      const key = s.interval + "@" + close;
      if (!current || current.key !== key) { current = { key, close, interval: s.interval, items: [] }; groups.push(current); }
      current.items.push(s);
    }
    box.replaceChildren(...groups.map((g) => el("div", { class: "group", role: "group", "aria-label": `${g.interval} close ${dateTime(g.close)}` },
      el("div", { class: "group-head" }, el("span", {}, `${dateTime(g.close)} · ${g.interval} close`), el("span", {}, `${g.items.length} signal${g.items.length === 1 ? "" : "s"}`)),
      g.items.map(signalNode))));
    if (shown.length > MAX_SHOWN) box.append(el("div", { class: "empty" }, `${shown.length - MAX_SHOWN} more: narrow the filters or export them.`));
    fresh = new Set();
  }

  function renderMuted() {
    const row = $("muted-row");
    // A trader's mute goes with it when it is deleted here; one still listed names a trader this
    // machine does not run (deleted or disabled elsewhere, or its mute's removal not saved).
    const traderLabel = (t) => state.traders.has(String(t)) ? traderName(t) : t + " (not on this machine)";
    const items = [...[...muted.symbols].sort().map((s) => [{ symbol: s }, s]), ...[...muted.traders].map((t) => [{ traderId: t }, traderLabel(t)])];
    row.hidden = !items.length;
    row.replaceChildren("Muted on the machine (no alerts):", ...items.map(([target, label]) => el("button", { type: "button", class: "secondary",
      onclick: () => setMute(target, false), "aria-label": "Unmute " + label }, label + " ✕")));
  }

  function renderTraderOptions() {
    const sel = $("f-trader");
    const chosen = sel.value;
    const ids = new Set([...state.traders.keys(), ...state.signals.map((s) => String(s.traderId))]);
    sel.replaceChildren(el("option", { value: "" }, "All traders"),
      ...[...ids].map((id) => el("option", { value: id, selected: id === chosen }, traderName(id))));
  }

  async function older() {
    const btn = $("older");
    btn.disabled = true;
    // Pages of every trader (the filters apply here), so what is held stays one unbroken span.
    const oldest = state.signals[state.signals.length - 1];
    const data = { limit: 100 };
    const after = cursor || (oldest ? { createdAt: oldest.createdAt, id: oldest.signalId } : null);
    if (after) data.after = after;
    try {
      const page = await request("signal_history", data);
      cursor = page.after;
      exhausted = !page.more;
      add(page.signals);
      $("history-note").textContent = exhausted ? "That is every stored signal." : `${state.signals.length} signals loaded`;
    } catch (e) {
      toast("Could not load older signals: " + (e.message || "error"));
    } finally {
      btn.disabled = exhausted;
    }
  }

  function csvCell(v) {
    const text = v === null || v === undefined ? "" : String(v);
    // Quoted, and never a formula in a spreadsheet.
    return '"' + (/^[=+\-@]/.test(text) ? "'" : "") + text.replace(/"/g, '""') + '"';
  }
  function exportCsv() {
    const f = filters();
    const rows = state.signals.filter((s) => matches(s, f));
    const head = ["created_at", "bar_open_time", "symbol", "interval", "trader", "price", "matched_conditions", "verdict", "confidence", "signal_id"];
    const lines = [head.join(",")].concat(rows.map((s) => [
      new Date(s.createdAt || 0).toISOString(), barTime(s) ? new Date(barTime(s)).toISOString() : "", s.symbol, s.interval,
      traderName(s.traderId), s.price, (s.matchedConditions || []).join(" and "), s.analysis ? s.analysis.decision : "",
      s.analysis ? s.analysis.confidence : "", s.signalId].map(csvCell).join(",")));
    const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `vyx-signals-${new Date().toISOString().slice(0, 10)}.csv` });
    document.body.append(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  // How a signal did so far (signal_outcome): its return at the newest horizon, what it touched.
  function outcomeWords(o) {
    const returns = o.returns && typeof o.returns === "object" ? Object.entries(o.returns).filter(([, v]) => typeof v === "number") : [];
    const last = returns.length ? returns[returns.length - 1] : null;
    const parts = [];
    if (last) parts.push(`${last[1] >= 0 ? "+" : ""}${(last[1] * 100).toFixed(2)}% after ${last[0]} bar${last[0] === "1" ? "" : "s"}`);
    if (o.touch && o.touch !== "none") parts.push(`${o.touch} touched first`);
    if (typeof o.mfe === "number" && typeof o.mae === "number") parts.push(`best ${(o.mfe * 100).toFixed(2)}%, worst ${(o.mae * 100).toFixed(2)}%`);
    return "Outcome" + (o.complete ? "" : " so far") + ": " + (parts.join(" · ") || "waiting for the next bar");
  }
  // A close's outcomes (signal_outcomes; one signal_outcome is a list of one): one render.
  function outcomes(list) {
    const byId = new Map(list.map((o) => [o.signalId, o])); // a later one of a signal wins
    let changed = false;
    for (const sig of state.signals) {
      const o = byId.get(sig.signalId);
      if (o) { sig.outcome = o; changed = true; }
    }
    if (changed) render();
  }

  function analysis(data) {
    const sig = state.signals.find((s) => s.signalId === data.signalId);
    if (sig) { sig.analysis = data; render(); }
  }
  function cancelled(id) {
    state.signals = state.signals.filter((s) => s.signalId !== id);
    render();
  }
  function reset(signals) {
    state.signals = [];
    cursor = null; exhausted = false;
    $("older").disabled = false;
    add(signals);
  }

  for (const id of ["f-search", "f-trader", "f-verdict", "f-from", "f-to"]) $(id).addEventListener("input", render);
  $("older").addEventListener("click", older);
  $("export").addEventListener("click", exportCsv);
  renderMuted();
  return { add, reset, render, analysis, outcomes, cancelled, renderTraderOptions, renderMuted, isMuted, traderName, setMutes, traderMuted,
    muteTrader: (id, on) => setMute({ traderId: String(id) }, on) };
})();
