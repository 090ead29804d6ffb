// Browser notifications: a system notification (and optionally a beep) for a new signal while
// the tab is hidden. Off until the user turns it on (the browser asks for permission then); the
// choice is kept in this browser. Only the signal's symbol, trader, price and clauses are shown.
// Muted symbols and traders never notify (main.js calls Vyx.onSignal for the others).
"use strict";
(() => {
  const { $, toast } = Vyx;
  const MODES = ["off", "on", "sound"];
  const alerts = { mode: localStorage.getItem("vyx.alerts") || "off", audio: null };

  function show() {
    const granted = window.Notification && Notification.permission === "granted";
    $("notify-toggle").textContent = "Browser alerts: " + (granted ? alerts.mode : "off");
  }
  $("notify-toggle").addEventListener("click", async () => {
    if (!window.Notification) { toast("This browser has no system notifications."); return; }
    if (Notification.permission !== "granted" && await Notification.requestPermission() !== "granted") {
      toast("Notifications are blocked for this page (the browser's site settings allow them).");
      alerts.mode = "off";
    } else {
      alerts.mode = MODES[(MODES.indexOf(alerts.mode) + 1) % MODES.length];
    }
    localStorage.setItem("vyx.alerts", alerts.mode);
    show();
  });

  function beep() {
    try {
      alerts.audio = alerts.audio || new AudioContext();
      const osc = alerts.audio.createOscillator(), gain = alerts.audio.createGain();
      gain.gain.value = 0.1; osc.frequency.value = 880;
      osc.connect(gain).connect(alerts.audio.destination);
      osc.start(); osc.stop(alerts.audio.currentTime + 0.15);
    } catch (_) { /* no audio: the notification is enough */ }
  }

  Vyx.onSignal = (s) => {
    if (s.provisional || !document.hidden || alerts.mode === "off") return;
    if (!window.Notification || Notification.permission !== "granted") return;
    const note = new Notification(s.symbol + " " + s.interval + " · " + Vyx.History.traderName(s.traderId), {
      body: "price " + s.price + "\n" + (s.matchedConditions || []).join("\n"), tag: s.signalId,
    });
    note.onclick = () => { window.focus(); note.close(); };
    if (alerts.mode === "sound") beep();
  };
  show();
})();
