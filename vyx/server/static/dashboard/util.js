// Shared helpers of the dashboard (window.Vyx): DOM building without innerHTML, number and
// date formatting, and request/response over the WebSocket by requestId.
"use strict";
window.Vyx = (() => {
  const $ = (id) => document.getElementById(id);

  // Every value from the machine is text, never markup.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v !== "number") return typeof v === "object" ? JSON.stringify(v) : String(v);
    const a = Math.abs(v);
    if (a >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 2 });
    if (a >= 1) return v.toLocaleString("en-US", { maximumFractionDigits: 4 });
    if (a === 0) return "0";
    return v.toPrecision(4);
  }

  const pad = (n) => String(n).padStart(2, "0");
  // Dates in the browser's time zone, always with the day: "2026-03-12 14:05".
  function dateTime(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function duration(s) {
    if (typeof s !== "number" || !isFinite(s)) return "—";
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} days`;
  }
  const TF_MS = { "1m": 6e4, "3m": 18e4, "5m": 3e5, "15m": 9e5, "30m": 18e5, "1h": 36e5, "2h": 72e5,
    "4h": 144e5, "6h": 216e5, "8h": 288e5, "12h": 432e5, "1d": 864e5, "3d": 2592e5, "1w": 6048e5 };

  // --- request/response over the socket ------------------------------------------------------
  const pending = new Map();
  let nextId = 1;
  let socketSend = null;
  function attach(send) { socketSend = send; }
  // Sends {type, data+requestId}; resolves with the <type>_result data (or ack), rejects with
  // the error reply's data. Replies to superseded requests are simply ignored by callers.
  function request(type, data, timeoutMs = 60000) {
    const requestId = "r" + nextId++;
    return new Promise((resolve, reject) => {
      if (!socketSend || !socketSend(type, { ...(data || {}), requestId })) {
        reject({ message: "not connected", code: "offline" });
        return;
      }
      const timer = setTimeout(() => { pending.delete(requestId); reject({ message: "no answer", code: "timeout" }); }, timeoutMs);
      pending.set(requestId, { resolve, reject, timer });
    });
  }
  // Called by the socket handler for every message; true if it answered a pending request.
  function settle(type, data) {
    const rid = data && data.requestId;
    if (rid === undefined || !pending.has(rid)) return false;
    const p = pending.get(rid);
    pending.delete(rid);
    clearTimeout(p.timer);
    if (type === "error") p.reject(data); else p.resolve(data);
    return true;
  }
  function failAll(reason) {
    for (const [rid, p] of pending) { clearTimeout(p.timer); p.reject({ message: reason, code: "offline" }); pending.delete(rid); }
  }

  function toast(text) {
    const node = el("div", { role: "alert" }, text);
    $("toast").append(node);
    setTimeout(() => node.remove(), 10000);
  }

  function openDialog(dialog) {
    if (!dialog.open) dialog.showModal();
  }
  // Close buttons of every dialog; Escape closes natively.
  document.addEventListener("click", (e) => {
    const close = e.target.closest && e.target.closest("[data-close]");
    if (close) close.closest("dialog").close();
  });

  return { $, el, fmt, dateTime, duration, TF_MS, attach, request, settle, failAll, toast, openDialog,
    state: { traders: new Map(), status: {}, signals: [] } };
})();
