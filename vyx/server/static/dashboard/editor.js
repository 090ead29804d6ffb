// The trader editor: draft from words (trader_draft), live compile errors at their line and
// caret as the user types (trader_check; kept until fixed), the preview over the machine's own
// bars with a chart per signal, then save (trader_upsert) or delete (trader_remove, confirmed).
"use strict";
Vyx.Editor = (() => {
  const { $, el, fmt, dateTime, request, openDialog, toast, state } = Vyx;
  const dialog = $("editor");
  const filter = $("ed-filter");
  let editing = null; // the trader being edited (null: a new one)
  let checkSeq = 0;
  let checked = { seq: 0, ok: false };
  let timer = null;

  // A random (v4) UUID, as the traders table's ids are; crypto.randomUUID needs https.
  function uuid4() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function problemsOf(list) {
    const lines = filter.value.split("\n");
    return list.map((p) => {
      const where = p.line ? `line ${p.line}, column ${p.column}: ` : "";
      let excerpt = null;
      if (p.line && lines[p.line - 1] !== undefined) {
        const text = lines[p.line - 1];
        excerpt = el("pre", { class: "mono" }, text + "\n", el("span", { class: "caret" }, " ".repeat(Math.max(0, p.column - 1)) + "^"));
      }
      return el("li", { dataset: { line: String(p.line || ""), column: String(p.column || "") } }, where + p.message, excerpt);
    });
  }

  function showCheck(result) {
    const ok = result.ok;
    filter.setAttribute("aria-invalid", ok ? "false" : "true");
    $("ed-problems").replaceChildren(...(ok ? [] : problemsOf(result.problems || [])));
    if (!ok) $("ed-clauses").replaceChildren();
    $("ed-ok").textContent = ok ? "✓ compiles · warm-up " + Object.entries(result.draft.warmupBars).map(([tf, n]) => `${n} bars of ${tf}`).join(", ") : "";
    if (ok) showClauses(result.draft.clauses);
  }

  function showClauses(clauses) {
    $("ed-clauses").replaceChildren(...(clauses || []).map((c) =>
      el("li", {}, el("code", {}, c.clause), c.checks ? " — " + c.checks : "")));
  }

  async function check(preview) {
    const seq = ++checkSeq;
    const data = { filter: filter.value, timeframe: $("ed-timeframe").value, name: $("ed-name").value || undefined, preview: !!preview };
    const cd = cooldownValue();
    if (cd.ok && cd.value !== null) data.cooldownBars = cd.value;
    if (editing) data.traderId = String(editing.id);
    let result;
    try {
      result = await request("trader_check", data);
    } catch (e) {
      if (seq === checkSeq) $("ed-ok").textContent = "Could not check: " + (e.message || "error");
      return null;
    }
    if (seq !== checkSeq) return null; // a newer keystroke's answer will come
    checked = { seq, ok: result.ok };
    showCheck(result);
    return result;
  }

  function scheduleCheck() {
    clearTimeout(timer);
    checked = { seq: 0, ok: false };
    timer = setTimeout(() => check(false), 250);
  }

  function renderPreview(p) {
    const box = $("ed-preview");
    if (!p) { box.replaceChildren(); return; }
    const bars = Object.entries(p.bars).map(([tf, n]) => `${n} bars of ${tf}`).join(", ");
    const per = Object.entries(p.perSymbol).slice(0, 8).map(([s, n]) => `${s} ${n}`).join(", ");
    const head = p.missingTimeframes.length
      ? `No ${p.missingTimeframes.join(", ")} bars held yet: nothing to preview.`
      : `Would have fired ${p.fires} time${p.fires === 1 ? "" : "s"} over ${p.symbols} symbols (the last ${bars})` + (per ? `: ${per}` : ".");
    const warming = p.warmingUp.length
      ? el("div", { class: "muted" }, `Still warming up on ${p.warmingUp.length} of ${p.symbols} symbols (needs ${Object.entries(p.warmupBars).map(([tf, n]) => `${n} bars of ${tf}`).join(", ")}).`)
      : null;
    const rows = p.last.slice().reverse().map((s) => el("tr", {},
      el("td", {}, el("b", {}, s.symbol)), el("td", { class: "muted" }, dateTime(s.openTime)),
      el("td", { class: "price" }, fmt(s.price)),
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => Vyx.Chart.show({
        symbol: s.symbol, time: s.openTime, filter: filter.value, timeframe: $("ed-timeframe").value,
        title: `${s.symbol} · ${$("ed-timeframe").value} · preview of ${$("ed-name").value || "draft"}`,
        signal: { symbol: s.symbol, price: s.price, barOpenTime: s.openTime, interval: $("ed-timeframe").value, indicatorData: s.clauses },
      }) }, "Chart"))));
    const parts = [el("h3", {}, "Preview on this machine's bars"), el("div", { id: "ed-preview-summary" }, head), warming,
      rows.length ? el("table", {}, el("tbody", {}, rows)) : null, el("div", { class: "muted" }, `computed in ${p.elapsedMs} ms`)];
    box.replaceChildren(...parts.filter(Boolean));
  }

  const MAX_COOLDOWN = 10000;
  function machineCooldown() { return state.status.cooldownBars || 0; }

  // The cooldown field: empty is the machine's (null); else a whole number of bars, 0..10000.
  // Text a number field cannot read ("1e", "12a") reads as "" there: refused, not the machine's.
  function cooldownValue() {
    const field = $("ed-cooldown");
    if (field.validity.badInput) return { ok: false };
    const text = field.value.trim();
    if (text === "") return { ok: true, value: null };
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0 || n > MAX_COOLDOWN) return { ok: false };
    return { ok: true, value: n };
  }

  function showCooldown() {
    const c = cooldownValue();
    const note = $("ed-cooldown-note");
    $("ed-cooldown").setAttribute("aria-invalid", c.ok ? "false" : "true");
    if (!c.ok) note.textContent = `The cooldown is a whole number of bars from 0 to ${MAX_COOLDOWN.toLocaleString()} (empty: the machine's).`;
    else if (c.value === null) note.textContent = `At most one signal per symbol every ${machineCooldown()} bars (the machine's cooldown).`;
    else note.textContent = `At most one signal per symbol every ${c.value} bars of ${$("ed-timeframe").value} (this trader's cooldown).`;
    return c;
  }

  function timeframes(selected) {
    const list = (state.status.timeframes && state.status.timeframes.length ? state.status.timeframes : ["5m"]).slice();
    if (selected && !list.includes(selected)) list.push(selected);
    $("ed-timeframe").replaceChildren(...list.map((tf) => el("option", { value: tf, selected: tf === selected }, tf)));
  }

  function open(trader) {
    editing = trader || null;
    $("editor-title").textContent = trader ? "Edit " + (trader.name || trader.id) : "New trader";
    $("ed-words").value = "";
    $("ed-draft-note").textContent = "";
    $("ed-name").value = trader ? trader.name || "" : "";
    timeframes(trader ? trader.timeframe : state.status.timeframes && state.status.timeframes[0]);
    const own = trader && Number.isInteger(trader.cooldownBars) ? trader.cooldownBars : null;
    $("ed-cooldown").value = own === null ? "" : String(own);
    $("ed-cooldown").placeholder = `machine's: ${machineCooldown()}`;
    showCooldown();
    // Traders from a source a change here is not written to (vyx demo, a traders file the
    // machine cannot write: editsNote says why); a file it can write gets each change.
    $("ed-kept").hidden = state.status.editsKept !== false;
    $("ed-kept").textContent = state.status.editsNote
      ? "Not kept: " + state.status.editsNote + ". To keep it, change the file (vyx trader edit)."
      : "These traders come from a file: a change saved here runs until the machine restarts. To keep it, change the file (vyx trader edit).";
    filter.value = trader && trader.filter ? trader.filter.code || "" : "";
    $("ed-enabled").checked = trader ? trader.enabled !== false : true;
    const notify = (trader && trader.notify) || {};
    $("ed-notify-signal").checked = notify.onSignal !== false;
    $("ed-notify-analysis").checked = notify.onAnalysis !== false;
    $("ed-notify-muted").checked = notify.muted === true;
    const channels = Array.isArray(notify.channels) ? notify.channels : [];
    $("ed-notify-channels").textContent = channels.length ? "own channels: " + channels.join(", ") : "";
    $("ed-delete").hidden = !trader;
    $("ed-problems").replaceChildren();
    $("ed-ok").textContent = "";
    $("ed-clauses").replaceChildren();
    filter.setAttribute("aria-invalid", "false");
    renderPreview(null);
    openDialog(dialog);
    if (filter.value) check(false);
    (trader ? filter : $("ed-words")).focus();
  }

  async function draft() {
    const words = $("ed-words").value.trim();
    if (!words) { $("ed-words").focus(); return; }
    $("ed-draft").disabled = true;
    $("ed-draft-note").textContent = "drafting…";
    try {
      const r = await request("trader_draft", { words, timeframe: $("ed-timeframe").value });
      if (!r.ok) {
        $("ed-draft-note").textContent = "Could not draft it: " + r.problems.map((p) => (p.line ? `${p.line}:${p.column} ` : "") + p.message).join("; ");
        return;
      }
      const d = r.draft;
      $("ed-draft-note").textContent = `Drafted by ${d.origin}` + (r.rounds > 1 ? ` in ${r.rounds} rounds` : "") + ". Check it, then save.";
      if (!editing || !$("ed-name").value) $("ed-name").value = d.name;
      timeframes(d.timeframe);
      filter.value = d.filter;
      showCheck({ ok: true, draft: d });
      checked = { seq: ++checkSeq, ok: true };
      renderPreview(r.preview);
    } catch (e) {
      $("ed-draft-note").textContent = "Could not draft it: " + (e.message || "error");
    } finally {
      $("ed-draft").disabled = false;
    }
  }

  async function save() {
    clearTimeout(timer);
    const name = $("ed-name").value.trim();
    if (!name) { $("ed-name").focus(); $("ed-ok").textContent = "A trader needs a name."; return; }
    const cooldown = showCooldown();
    if (!cooldown.ok) { $("ed-cooldown").focus(); return; }
    if (!checked.ok) {
      const r = await check(false);
      if (!r || !r.ok) { filter.focus(); return; }
    }
    const base = editing ? { ...editing } : { id: uuid4() };
    for (const k of ["state", "error", "lastRunMs", "lastDurationMs", "signals", "matching", "warmingSymbols", "barsNeeded"]) delete base[k];
    const trader = { ...base, name, timeframe: $("ed-timeframe").value, executionInterval: $("ed-timeframe").value,
      filter: { code: filter.value, language: "vyx" }, enabled: $("ed-enabled").checked, cooldownBars: cooldown.value,
      notify: { onSignal: $("ed-notify-signal").checked, onAnalysis: $("ed-notify-analysis").checked,
        muted: $("ed-notify-muted").checked } };
    $("ed-save").disabled = true;
    try {
      await request("trader_upsert", { trader });
      dialog.close();
    } catch (e) {
      $("ed-problems").replaceChildren(el("li", {}, e.message || "could not save"));
      filter.setAttribute("aria-invalid", "true");
    } finally {
      $("ed-save").disabled = false;
    }
  }

  function confirmDelete(trader) {
    const box = $("confirm");
    $("confirm-text").textContent = `Delete “${trader.name || trader.id}”? It stops screening at once; its past signals stay.`;
    openDialog(box);
    $("confirm-no").focus();
    $("confirm-no").onclick = () => box.close();
    $("confirm-yes").onclick = async () => {
      box.close();
      try {
        await request("trader_remove", { traderId: String(trader.id) });
        if (dialog.open) dialog.close();
      } catch (e) { toast("Could not delete: " + (e.message || "error")); }
    };
  }

  async function setEnabled(trader, enabled) {
    const copy = { ...trader, enabled };
    try { await request("trader_upsert", { trader: copy }); } catch (e) { toast("Could not change it: " + (e.message || "error")); }
  }

  filter.addEventListener("input", scheduleCheck);
  $("ed-timeframe").addEventListener("change", () => { scheduleCheck(); showCooldown(); });
  // A preview on screen is computed again with the new cooldown (it fires as the machine would).
  let cooldownTimer = null;
  $("ed-cooldown").addEventListener("input", () => {
    const c = showCooldown();
    clearTimeout(cooldownTimer);
    if (c.ok && $("ed-preview").childElementCount) {
      cooldownTimer = setTimeout(async () => { const r = await check(true); if (r) renderPreview(r.preview); }, 400);
    }
  });
  $("ed-draft").addEventListener("click", draft);
  $("ed-words").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); draft(); } });
  $("ed-preview-btn").addEventListener("click", async () => { const r = await check(true); if (r) renderPreview(r.preview); });
  $("ed-save").addEventListener("click", save);
  $("ed-delete").addEventListener("click", () => editing && confirmDelete(editing));
  // Ctrl/Cmd+Enter saves from anywhere in the editor.
  dialog.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); } });
  return { open, confirmDelete, setEnabled };
})();
