// The dashboard's core: the token, the WebSocket (hello, snapshot, live messages), the traders
// table and the machine's status and health, in words.
"use strict";
(() => {
  const { $, el, fmt, dateTime, duration, state } = Vyx;
  const conn = { ws: null, retry: 1000, pingTimer: null };

  // --- token -------------------------------------------------------------------------------
  function takeToken() {
    const params = new URLSearchParams(location.search);
    const fromUrl = params.get("token") || params.get("access_token");
    if (fromUrl) {
      sessionStorage.setItem("vyx-token", fromUrl);
      params.delete("token"); params.delete("access_token");
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
    }
    return sessionStorage.getItem("vyx-token");
  }
  function askToken(reason) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("new-trader").hidden = true;
    if (reason) $("login-reason").textContent = "Not connected: " + reason + ". Enter a token.";
    setConn("bad", reason || "signed out");
    $("token-input").focus();
  }
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token-input").value.trim();
    if (!t) return;
    sessionStorage.setItem("vyx-token", t);
    $("login").hidden = true;
    connect();
  });

  // --- connection --------------------------------------------------------------------------
  function setConn(kind, text) {
    $("conn").className = "pill " + kind;
    $("conn").lastElementChild.textContent = text;
  }
  function send(type, data) {
    if (!conn.ws || conn.ws.readyState !== WebSocket.OPEN) return false;
    conn.ws.send(JSON.stringify({ type, data: data || {} }));
    return true;
  }
  Vyx.attach(send);

  function connect() {
    const token = sessionStorage.getItem("vyx-token");
    if (!token) { askToken(); return; }
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    const ws = new WebSocket(url);
    conn.ws = ws;
    setConn("warn", "connecting");
    // Protocol 3: a screen's signals arrive as one signals_created message, a close's
    // outcomes as one signal_outcomes message.
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", data: { token, protocol: 3 } }));
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      handle(msg.type, msg.data || {});
    };
    ws.onclose = (event) => {
      clearInterval(conn.pingTimer);
      Vyx.failAll("disconnected");
      if (conn.ws !== ws) return;
      if (event.code === 1008) {
        sessionStorage.removeItem("vyx-token");
        askToken(event.reason || "authentication failed");
        return;
      }
      setConn("bad", "disconnected — retrying");
      setTimeout(connect, conn.retry);
      conn.retry = Math.min(conn.retry * 2, 30000);
    };
  }

  function signalsCreated(signals) {
    Vyx.History.add(signals, { live: true }); // one render for the whole screen
    for (const s of signals) if (Vyx.onSignal && !Vyx.History.isMuted(s)) Vyx.onSignal(s);
  }

  function outcomesArrived(list) {
    Vyx.History.outcomes(list); // one render for the whole close
    let records = false;
    for (const o of list) {
      if (o.record && state.traders.has(String(o.traderId))) {
        state.traders.get(String(o.traderId)).record = o.record; records = true;
      }
    }
    if (records) renderTraders();
  }

  function handle(type, data) {
    if (Vyx.settle(type, data)) return; // the answer to one of our requests
    switch (type) {
      case "hello":
        conn.retry = 1000;
        setConn("ok", "live");
        $("conn").title = "protocol " + data.protocol + ", vyx " + data.version;
        $("machine").textContent = data.machineId ? "machine " + data.machineId : "";
        $("app").hidden = false; $("login").hidden = true; $("new-trader").hidden = false;
        clearInterval(conn.pingTimer);
        conn.pingTimer = setInterval(() => send("ping"), 25000);
        break;
      case "snapshot":
        state.traders = new Map((data.traders || []).map((t) => [String(t.id), t]));
        Object.assign(state.status, data.status || {});
        Vyx.History.setMutes((data.status || {}).mutes);
        Vyx.History.reset(data.signals || []);
        renderTraders(); renderStatus();
        break;
      case "signal_created": // protocol 1
        signalsCreated([data]);
        break;
      case "signals_created":
        signalsCreated(data.signals || []);
        break;
      case "signal_cancelled":
        Vyx.History.cancelled(data.signalId);
        break;
      case "analysis_completed":
        Vyx.History.analysis(data);
        break;
      case "signal_outcome": // protocols 1 and 2
        outcomesArrived([data]);
        break;
      case "signal_outcomes":
        outcomesArrived(data.outcomes || []);
        break;
      case "trader_updated":
        if (data.trader && data.trader.id !== undefined) {
          state.traders.set(String(data.trader.id), data.trader);
          renderTraders(); Vyx.History.render();
        }
        break;
      case "trader_removed":
        state.traders.delete(String(data.traderId)); renderTraders();
        break;
      case "mutes_updated":
        Vyx.History.setMutes(data); renderTraders();
        break;
      case "status_update": case "metrics_update":
        Object.assign(state.status, data); renderStatus();
        break;
      case "error":
        Vyx.toast((data.traderId ? "Trader " + Vyx.History.traderName(data.traderId) + ": " : "") + (data.message || "error"));
        break;
    }
  }

  // --- traders -----------------------------------------------------------------------------
  function traderState(t) {
    const st = t.state || (t.enabled === false ? "disabled" : "running");
    if (st === "error") return { kind: "bad", words: "error", detail: t.error || "" };
    if (st === "disabled") return { kind: "", words: "disabled" };
    if (st === "starting") return { kind: "warn", words: "starting — waiting for its first screen" };
    if (st === "warming_up") {
      const total = t.warmupBars || 0;
      const left = t.barsNeeded || 0;
      const done = total ? Math.max(0, Math.min(1, (total - left) / total)) : 0;
      return { kind: "warn", words: `warming up: ${left} more bar${left === 1 ? "" : "s"} on ${t.warmingSymbols || "some"} symbol${t.warmingSymbols === 1 ? "" : "s"}`, progress: done };
    }
    const matching = t.matching ? `, ${t.matching} symbol${t.matching === 1 ? "" : "s"} matching now` : "";
    return { kind: "ok", words: "running" + matching };
  }

  function renderTraders() {
    const rows = [...state.traders.values()].map((t) => {
      const s = traderState(t);
      const last = t.lastSignal ? `last signal ${dateTime(t.lastSignal.time)} on ${t.lastSignal.symbol}` : "no signal yet";
      const outcome = recordLine(t.record);
      const enabled = t.enabled !== false;
      return el("tr", { dataset: { traderId: String(t.id) } },
        el("td", {}, el("div", { class: "trader-name" }, t.name || t.id),
          el("div", { class: "muted" }, (t.timeframe || "") + (Number.isInteger(t.cooldownBars) ? ` · cooldown ${t.cooldownBars} bars` : "") + " · " + last
            + (Vyx.History.traderMuted(t.id) || (t.notify && t.notify.muted) ? " · muted (no alerts)" : "")), outcome,
          s.detail ? el("pre", { class: "muted failed mono trader-error" }, s.detail) : null,
          el("div", { class: "actions" },
            el("button", { type: "button", class: "link", onclick: () => Vyx.Editor.open(t), "aria-label": "Edit " + (t.name || t.id) }, "Edit"),
            el("button", { type: "button", class: "link", onclick: () => Vyx.Editor.setEnabled(t, !enabled), "aria-label": (enabled ? "Disable " : "Enable ") + (t.name || t.id) }, enabled ? "Disable" : "Enable"),
            Vyx.History.traderMuted(t.id)
              ? el("button", { type: "button", class: "link", onclick: () => Vyx.History.muteTrader(t.id, false), "aria-label": "Unmute " + (t.name || t.id) }, "Unmute")
              : el("button", { type: "button", class: "link", onclick: () => Vyx.History.muteTrader(t.id, true), "aria-label": "Mute " + (t.name || t.id) }, "Mute"),
            el("button", { type: "button", class: "link", onclick: () => Vyx.Editor.confirmDelete(t), "aria-label": "Delete " + (t.name || t.id) }, "Delete"))),
        el("td", {}, el("span", { class: "dot " + s.kind }), " ", s.words,
          s.progress !== undefined ? el("div", { class: "progress", role: "progressbar", "aria-label": "warm-up", "aria-valuemin": "0",
            "aria-valuemax": "100", "aria-valuenow": String(Math.round(s.progress * 100)) }, el("div", { style: `width:${Math.round(s.progress * 100)}%` })) : null),
        el("td", {}, String(t.signals ?? t.matches ?? 0)));
    });
    $("traders").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colspan: "3" },
      "No traders yet. ", el("button", { type: "button", class: "link", onclick: () => Vyx.Editor.open(null) }, "Write one in words")))]));
    Vyx.History.renderTraderOptions();
    Vyx.History.renderMuted(); // a muted trader removed meanwhile is named so
  }

  // A trader's track record (its signals' outcomes), when the machine follows them.
  const pct = (v) => (typeof v === "number" ? (v >= 0 ? "+" : "") + (v * 100).toFixed(1) + "%" : "—");
  function recordLine(record) {
    const r = record && (record.all || record);
    if (!r || typeof r !== "object" || !r.signals) return null;
    const h = (m) => (m && typeof m === "object" ? m["24"] ?? m[Object.keys(m).pop()] : m);
    const hit = h(r.hitRate);
    const parts = [`${r.complete ?? r.signals} of ${r.signals} signals followed`];
    if (typeof hit === "number") parts.push(`${Math.round(hit * 100)}% up after 24 bars`);
    if (r.meanReturn) parts.push(`mean ${pct(h(r.meanReturn))}`);
    if (r.targets !== undefined) parts.push(`targets ${r.targets} / stops ${r.stops}`);
    return el("div", { class: "muted record" }, parts.join(" · "));
  }

  // --- status and health, in words ----------------------------------------------------------
  const MARKET_WORDS = { connecting: "connecting to the exchange", unreachable: "exchange unreachable, retrying",
    backfilling: "loading history", streaming: "live", restricted: "the exchange refuses this machine's location" };
  function renderStatus() {
    const s = state.status;
    const rows = [];
    const add = (k, v) => { if (v !== undefined && v !== null && v !== "") rows.push(el("dt", {}, k), el("dd", {}, v)); };
    add("Screening", s.status === "paused" ? "paused" : s.status ? "on" : undefined);
    add("Market", s.market ? (MARKET_WORDS[s.market] || s.market) + (s.marketDetail ? ` (${s.marketDetail})` : "") : undefined);
    add("Watching", s.symbols !== undefined ? `${s.symbols} symbols on ${(s.timeframes || []).join(", ") || "—"}` : undefined);
    add("Traders running", s.traders);
    add("Up for", s.uptime_s !== undefined ? duration(s.uptime_s) : undefined);
    add("Signals since start", s.signals);
    add("Last screen", typeof s.lastScreenMs === "number" ? `${fmt(s.lastScreenMs)} ms` : undefined);
    add("Analyses waiting", s.queueDepth);
    add("Memory", typeof s.memoryUsage === "number" ? `${fmt(s.memoryUsage)} MiB` : undefined);
    add("CPU", typeof s.cpuUsage === "number" ? `${fmt(s.cpuUsage)} %` : undefined);
    add("Version", s.version);
    $("status").replaceChildren(...rows);
    // The market's start-up: connecting, unreachable (retrying), backfilling, then streaming;
    // restricted (the exchange refuses the location: stopped) shows its detail.
    const market = s.market;
    if (typeof market === "string") {
      const bad = market === "unreachable" || market === "restricted";
      const kind = market === "streaming" ? "ok" : bad ? "bad" : "warn";
      const detail = market === "restricted" ? s.marketDetail : "";
      $("market-pill").hidden = false;
      $("market-pill").className = "pill " + kind;
      $("market-pill").lastElementChild.textContent = "market: " + (detail || market);
    }
  }

  const STATE_WORDS = { ok: "working", starting: "starting", degraded: "degraded", down: "down", disabled: "off" };
  async function refreshHealth() {
    try {
      const response = await fetch("/health", { cache: "no-store" });
      const h = await response.json();
      const kind = h.status === "healthy" ? "ok" : h.status === "degraded" ? "warn" : "bad";
      const troubled = Object.entries(h.components || {}).filter(([, c]) => c.state !== "ok" && c.state !== "disabled");
      // The reason in words: "market: restricted location".
      const reason = troubled.length ? troubled.map(([name, c]) => `${name}: ${c.detail || c.state}`).join("; ") : "";
      $("health-pill").className = "pill " + kind;
      $("health-pill").lastElementChild.textContent = "health: " + h.status + (reason ? " — " + reason : "");
      $("health-pill").title = reason;
      $("health-words").textContent = h.status === "healthy" ? "Everything is working." : `The machine is ${h.status}: ${reason || "see below"}.`;
      $("components").replaceChildren(...Object.entries(h.components || {}).map(([name, c]) => {
        const k = c.state === "ok" || c.state === "disabled" ? "ok" : c.state === "down" ? "bad" : "warn";
        return el("tr", { dataset: { component: name } },
          el("td", {}, el("span", { class: "dot " + k }), " ", name),
          el("td", {}, STATE_WORDS[c.state] || c.state), el("td", { class: "muted" }, c.detail || ""));
      }));
    } catch (e) {
      $("health-pill").className = "pill bad";
      $("health-pill").lastElementChild.textContent = "health: unreachable";
    }
  }

  $("new-trader").addEventListener("click", () => Vyx.Editor.open(null));
  // "n" opens a new trader from anywhere but a field.
  document.addEventListener("keydown", (e) => {
    if (e.key === "n" && !e.ctrlKey && !e.metaKey && !e.altKey && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)
      && !document.querySelector("dialog[open]") && !$("app").hidden) { e.preventDefault(); Vyx.Editor.open(null); }
  });

  takeToken();
  connect();
  refreshHealth();
  setInterval(refreshHealth, 10000);
})();
