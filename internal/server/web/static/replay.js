// tradeplane dashboard: "Replay" on a session's page and on the new-session
// form. It starts a replay job through the JSON API, follows its progress and
// draws the result (summary and equity curve). Values are inserted as text.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";

  async function call(method, path, body) {
    const meta = document.querySelector('meta[name="csrf"]');
    const h = {"X-CSRF-Token": meta ? meta.content : "", "Accept": "application/json"};
    const init = {method, headers: h, credentials: "same-origin"};
    if (body !== undefined) { h["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return {ok: res.ok, status: res.status, data};
  }

  const errOf = (r) => (r.data && r.data.error) ? r.data.error.message : "request failed with status " + r.status;
  const val = (id) => { const e = document.getElementById(id); return e ? e.value.trim() : ""; };

  // request builds the API body from the box and, for a new session, the form.
  function request(box) {
    const q = (c) => box.querySelector(c).value.trim();
    const body = {days: parseInt(q(".rp-days"), 10) || 30, interval: q(".rp-interval"), slippage: q(".rp-slippage") || "0",
      balances: {USDT: q(".rp-usdt") || "10000"}};
    if (box.dataset.session) {
      body.session_id = box.dataset.session;
      return body;
    }
    body.strategy = val("ns-strategy");
    body.account = val("ns-account");
    body.symbols = val("ns-symbols").split(",").map((s) => s.trim().toUpperCase()).filter((s) => s);
    let params = {};
    try { params = JSON.parse(val("ns-params") || "{}"); } catch (e) { throw new Error("params: not a JSON object"); }
    body.params = params;
    if (val("ns-allocation")) { body.allocation = val("ns-allocation"); body.allocation_kind = val("ns-kind") || "fixed"; }
    return body;
  }

  function summary(box, s) {
    const tb = box.querySelector(".rp-summary tbody");
    tb.textContent = "";
    const counts = (m) => Object.keys(m || {}).sort().map((k) => k + " " + m[k]).join(", ") || "none";
    const pct = (d) => (parseFloat(d) * 100).toFixed(2) + "%";
    const rows = [
      ["range", s.from + " .. " + s.to + " (" + s.bars + " bars, " + s.steps + " steps)"],
      ["value", s.start_value + " → " + s.end_value + " " + s.quote],
      ["net PnL", s.net_pnl + " " + s.quote],
      ["fees", s.fees + " " + s.quote],
      ["max drawdown", s.max_drawdown + " " + s.quote + " (" + pct(s.max_drawdown_pct) + ")"],
      ["exposure", "avg " + pct(s.exposure_avg) + ", max " + pct(s.exposure_max)],
      ["orders", counts(s.orders)],
      ["failures", counts(s.failures)],
      ["trades", String(s.trades)],
    ];
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.textContent = k;
      const td = document.createElement("td"); td.textContent = v;
      tr.appendChild(th); tr.appendChild(td); tb.appendChild(tr);
    }
  }

  // equity draws the equity curve as an SVG polyline with its range.
  function equity(box, points) {
    const div = box.querySelector(".rp-equity");
    div.textContent = "";
    if (!points || points.length < 2) return;
    const w = 640, h = 160, pad = 4;
    const xs = points.map((p) => Date.parse(p.time)), ys = points.map((p) => parseFloat(p.value));
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = (x) => pad + (x - x0) / Math.max(x1 - x0, 1) * (w - 2 * pad);
    const sy = (y) => h - pad - (y - y0) / Math.max(y1 - y0, 1e-9) * (h - 2 * pad);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("role", "img");
    const title = document.createElementNS(SVG, "title");
    title.textContent = "Equity from " + points[0].value + " to " + points[points.length - 1].value;
    svg.appendChild(title);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "currentColor");
    line.setAttribute("points", points.map((p, i) => sx(xs[i]).toFixed(1) + "," + sy(ys[i]).toFixed(1)).join(" "));
    svg.appendChild(line);
    div.appendChild(svg);
    const cap = document.createElement("p");
    cap.className = "muted";
    cap.textContent = "equity: low " + y0.toFixed(2) + ", high " + y1.toFixed(2) + ", " + points.length + " snapshots";
    div.appendChild(cap);
  }

  function wire(box) {
    const status = box.querySelector(".rp-status"), run = box.querySelector(".rp-run"), cancel = box.querySelector(".rp-cancel");
    let job = null;
    cancel.addEventListener("click", async () => {
      if (job) await call("POST", "/api/v1/jobs/" + encodeURIComponent(job) + "/cancel");
    });
    run.addEventListener("click", async () => {
      let body;
      try { body = request(box); } catch (e) { status.textContent = e.message; return; }
      run.disabled = true;
      box.querySelector(".rp-result").classList.add("hidden");
      const r = await call("POST", "/api/v1/replays", body);
      if (!r.ok) { status.textContent = errOf(r); run.disabled = false; return; }
      job = r.data.id;
      cancel.classList.remove("hidden");
      for (;;) {
        const j = await call("GET", "/api/v1/jobs/" + encodeURIComponent(job));
        if (!j.ok) { status.textContent = errOf(j); break; }
        status.textContent = "replay " + j.data.state + ": " + j.data.done + " of " + j.data.total + " bars" + (j.data.error ? " — " + j.data.error : "");
        if (j.data.state === "done") {
          const res = await call("GET", "/api/v1/replays/" + encodeURIComponent(job));
          if (!res.ok) { status.textContent = errOf(res); break; }
          summary(box, res.data.summary);
          equity(box, res.data.equity);
          box.querySelector(".rp-result").classList.remove("hidden");
          break;
        }
        if (j.data.state !== "running" && j.data.state !== "queued") break;
        await new Promise((ok) => setTimeout(ok, 500));
      }
      cancel.classList.add("hidden");
      run.disabled = false;
      job = null;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const box of document.querySelectorAll("details.replay")) wire(box);
  });
})();
