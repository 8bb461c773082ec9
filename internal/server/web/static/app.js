// tradeplane dashboard: live updates over server-sent events and the few
// actions a page offers, through the JSON API. Hand-written, no build step,
// no dependencies. Every value from the server is inserted as text
// (textContent), never as HTML.
"use strict";

const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

// api calls the JSON API with the login cookie and the CSRF header; it
// resolves to {ok, status, data}.
async function api(method, path, body, headers) {
  const h = Object.assign({"X-CSRF-Token": csrf(), "Accept": "application/json"}, headers || {});
  const init = {method, headers: h, credentials: "same-origin"};
  if (body !== undefined) { h["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  return {ok: res.ok, status: res.status, data};
}

function errText(r) {
  return (r.data && r.data.error) ? r.data.error.message : ("request failed with status " + r.status);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el("tr", null, cls);
  for (const c of cells) tr.appendChild(el("td", c));
  return tr;
}

function show(id, text) {
  const e = document.getElementById(id);
  if (!e) return;
  e.textContent = text || "";
  e.classList.toggle("hidden", !text);
}

function money(s) {
  const n = Number(s);
  return isFinite(n) ? n.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2}) : s;
}

// pnl is a signed money amount ("+12.50", "-3.00", "0.00") and pnlClass
// its colour class, as the server's pnl and pnlclass.
function pnl(s) {
  const t = money(s), n = Number(s);
  return isFinite(n) && Math.round(n * 100) > 0 ? "+" + t : (t === "-0.00" ? "0.00" : t);
}
function pnlClass(s) {
  const c = Math.round(Number(s) * 100);
  return c > 0 ? "pos" : c < 0 ? "neg" : "zero";
}
function setPnL(e, s) {
  if (!e) return;
  e.textContent = pnl(s);
  e.classList.remove("pos", "neg", "zero");
  e.classList.add(pnlClass(s));
}

// price and qty mirror the server's template functions: a unit price
// keeps up to eight decimals below 1, a quantity up to eight decimals
// without trailing zeros, and dust never reads as 0.
function price(s) {
  const n = Number(s);
  if (!isFinite(n) || Math.abs(n) >= 1) return money(s);
  return n.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 8});
}

function qty(s) {
  const n = Number(s);
  if (!isFinite(n)) return s;
  if (n !== 0 && Math.abs(n) < 0.000000005) return (n < 0 ? "-" : "") + "<0.00000001";
  return n.toLocaleString("en-US", {maximumFractionDigits: 8});
}

// blank hides a journal field that does not apply to the event.
function blank(s) { return s === "0" || s === undefined || s === null ? "" : s; }

function fmtTime(s) { return s ? s.replace("T", " ").replace(/\.\d+/, "") : "—"; }

// listen opens one EventSource for the page's topics and dispatches events.
function listen(topics, handlers) {
  const q = topics.map(t => "topic=" + encodeURIComponent(t)).join("&");
  const es = new EventSource("/api/v1/events?" + q);
  const dot = document.getElementById("live");
  es.onopen = () => { if (dot) dot.className = "live on"; };
  es.onerror = () => { if (dot) dot.className = "live off"; };
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, ev => { try { fn(JSON.parse(ev.data)); } catch (e) { console.error(e); } });
  }
  return es;
}

function throttle(fn, ms) {
  let t = null;
  return () => { if (t) return; t = setTimeout(() => { t = null; fn(); }, ms); };
}

function prependAlert(tbody, a, withAck) {
  const empty = tbody.querySelector("tr.empty");
  if (empty) empty.remove();
  const cells = withAck ? [a.id, fmtTime(a.at), a.severity, a.source, a.session_id || "", a.message] : [fmtTime(a.at), a.severity, a.source, a.message];
  const tr = row(cells, "sev-" + a.severity);
  tr.dataset.alert = a.id;
  if (withAck) {
    const td = el("td", null, "acked");
    const b = el("button", "ack", "ack"); b.type = "button";
    td.appendChild(b); tr.appendChild(td);
  }
  tbody.insertBefore(tr, tbody.firstChild);
}

const pages = {
  overview() {
    const tbody = document.querySelector("#alerts tbody");
    listen(["portfolio", "alerts"], {
      portfolio: c => {
        const v = document.getElementById("total-value"), k = document.getElementById("collateral-value");
        if (v) v.textContent = money(c.value);
        if (k) k.textContent = money(c.collateral_value);
      },
      alert: a => prependAlert(tbody, a, false),
    });
  },

  accounts() {
    const reload = throttle(async () => {
      const r = await api("GET", "/api/v1/portfolio");
      if (!r.ok) return;
      const v = document.getElementById("snapshot-version");
      if (v) v.textContent = r.data.version;
      for (const acc of r.data.accounts || []) {
        const sec = document.querySelector('section.account[data-account="' + CSS.escape(acc.id) + '"]');
        if (!sec) continue;
        const h = sec.querySelector("h2 .num");
        if (h) h.textContent = money(acc.value);
        const tables = sec.querySelectorAll("table.lines");
        (acc.wallets || []).forEach((w, i) => {
          const tb = tables[i] && tables[i].querySelector("tbody");
          if (!tb) return;
          tb.replaceChildren(...w.lines.map(l => {
            const age = l.price_time ? Math.round(l.age_ms / 1000) + "s" + (l.stale ? " (stale)" : "") : "—";
            const route = l.route && l.route.length ? l.route.join(" → ") : (l.unpriced_reason || "—");
            const tr = row([l.asset, qty(l.quantity), l.price ? price(l.price) : "—", route, age, l.value ? money(l.value) : "—", l.collateral_value ? money(l.collateral_value) : "—"], l.stale ? "stale" : "");
            for (const i of [1, 2, 4, 5, 6]) tr.children[i].className = "num";
            return tr;
          }));
        });
      }
    }, 1000);
    listen(["portfolio"], {portfolio: reload});
  },

  sessions() {
    const table = document.getElementById("sessions");
    const form = document.getElementById("new-session-form");
    const list = s => s.split(",").map(x => x.trim()).filter(x => x !== "");
    if (form) form.addEventListener("submit", async ev => {
      ev.preventDefault();
      const v = id => document.getElementById(id).value;
      let params;
      try { params = JSON.parse(v("ns-params") || "{}"); } catch (e) { show("action-error", "params: not valid JSON"); return; }
      if (params === null || typeof params !== "object" || Array.isArray(params)) { show("action-error", "params: want a JSON object"); return; }
      const body = {name: v("ns-name").trim(), strategy: v("ns-strategy").trim(), account: v("ns-account"), symbols: list(v("ns-symbols")),
        params, allocation_kind: v("ns-kind"), allocation: v("ns-allocation").trim(), tags: list(v("ns-tags")),
        start: document.getElementById("ns-start").checked};
      const btn = document.getElementById("ns-create");
      btn.disabled = true;
      const r = await api("POST", "/api/v1/sessions", body);
      btn.disabled = false;
      if (!r.ok) { show("action-ok", ""); show("action-error", "new session: " + errText(r)); return; }
      show("action-error", "");
      // Reload so the new row is rendered like the others, actions included.
      location.assign("/sessions?created=" + encodeURIComponent(r.data.id));
    });
    const created = new URLSearchParams(location.search).get("created");
    if (created) show("action-ok", "session " + created + " created");
    table.addEventListener("click", async ev => {
      const tr = ev.target.closest("tr[data-session]");
      if (!tr) return;
      const id = tr.dataset.session;
      const confirmBox = tr.querySelector(".del-confirm");
      let r = null;
      if (ev.target.classList.contains("del")) { confirmBox.classList.remove("hidden"); return; }
      if (ev.target.classList.contains("del-no")) { confirmBox.classList.add("hidden"); return; }
      if (ev.target.classList.contains("del-yes")) {
        const force = tr.querySelector(".del-force").checked;
        r = await api("DELETE", "/api/v1/sessions/" + encodeURIComponent(id) + (force ? "?force=true" : ""));
        if (!r.ok) { show("action-ok", ""); show("action-error", id + ": " + errText(r)); return; }
        show("action-error", "");
        show("action-ok", "session " + id + " deleted");
        remove(id);
        return;
      }
      if (ev.target.classList.contains("cmd")) {
        r = await api("POST", "/api/v1/sessions/" + encodeURIComponent(id) + "/" + ev.target.dataset.cmd);
      } else if (ev.target.classList.contains("save-params")) {
        let params;
        try { params = JSON.parse(tr.querySelector("textarea.params").value); } catch (e) { show("action-error", "params: not valid JSON"); return; }
        r = await api("PATCH", "/api/v1/sessions/" + encodeURIComponent(id) + "/params", params);
      } else return;
      if (!r.ok) { show("action-error", id + ": " + errText(r)); return; }
      show("action-error", "");
      update(r.data);
    });
    function update(s) {
      const tr = table.querySelector('tr[data-session="' + CSS.escape(s.id) + '"]');
      if (!tr) return;
      const st = tr.querySelector(".state"); st.textContent = s.state;
      if (s.state_reason) { st.appendChild(el("br")); st.appendChild(el("small", s.state_reason)); }
      setPnL(tr.querySelector(".pnl"), s.pnl);
      tr.querySelector(".laststep").textContent = fmtTime(s.last_step_at);
      tr.querySelector(".restarts").textContent = s.restarts_auto + " auto / " + s.restarts_manual + " manual";
      tr.querySelector(".node").textContent = s.node || "—";
    }
    function remove(id) {
      const tr = table.querySelector('tr[data-session="' + CSS.escape(id) + '"]');
      if (tr) tr.remove();
    }
    listen(["sessions"], {sessions: update, "session-deleted": d => remove(d.id)});
  },

  // A session's own page has the same actions as its row in the list.
  session() { pages.sessions(); },

  "trade-all"() {
    let selection = null, run = null;
    const $ = id => document.getElementById(id);
    // selected is the request's selection: running sessions matching every
    // chosen tag, the account and the venue (all running ones when nothing
    // is chosen), or the picked sessions.
    function selected() {
      const by = document.querySelector('input[name="by"]:checked').value;
      if (by === "tag") {
        const sel = {tags: [...$("ta-tag").selectedOptions].map(o => o.value)};
        if ($("ta-account").value) sel.account = $("ta-account").value;
        if ($("ta-venue").value) sel.venue = $("ta-venue").value;
        if (!sel.tags.length && !sel.account && !sel.venue) sel.all = true;
        return sel;
      }
      return {session_ids: [...document.querySelectorAll(".ta-session:checked")].map(c => c.value)};
    }
    // allocText is a plan's allocation check in a few words.
    function allocText(a) {
      if (!a.ok) return "exceeded" + (a.message ? ": " + a.message : "");
      if (a.available === undefined || a.available === null) return "ok (no limit)";
      return "ok: " + money(a.required) + " of " + money(a.available) + " left";
    }
    // planRows lists each session's planned orders, one row per order.
    function planRows(plans) {
      const rows = [];
      for (const p of plans) {
        if (p.skip || p.error) continue;
        const orders = p.orders.length ? p.orders : [null];
        orders.forEach((o, i) => {
          const first = i === 0;
          const tr = row([first ? nameOf(p.session_id) : "", first ? p.account : "",
            o ? o.symbol : "(one trade step)", o ? o.side : "", o ? o.type : "",
            o ? (Number(o.price) ? price(o.price) : "market") : "",
            o ? (Number(o.quantity) ? qty(o.quantity) : qty(o.quote_quantity) + " (quote)") : "",
            first ? allocText(p.allocation) : ""], p.allocation.ok ? "" : "failed");
          tr.children[5].className = tr.children[6].className = "num";
          tr.dataset.session = p.session_id;
          rows.push(tr);
        });
      }
      return rows;
    }
    $("ta-preview").addEventListener("click", async () => {
      selection = selected();
      const r = await api("POST", "/api/v1/trade-all/preview", selection);
      if (!r.ok) { show("ta-error", errText(r)); return; }
      show("ta-error", "");
      $("ta-count").textContent = r.data.sessions.length;
      $("ta-orders").textContent = r.data.orders || 0;
      $("ta-plan").querySelector("tbody").replaceChildren(...planRows(r.data.plans || []));
      $("ta-skipped").replaceChildren(...r.data.skipped.map(s => el("li", "skipped " + nameOf(s.session_id) + ": " + (s.message || ""))));
      $("ta-confirm").classList.remove("hidden");
      $("ta-go").disabled = r.data.sessions.length === 0;
    });
    $("ta-back").addEventListener("click", () => $("ta-confirm").classList.add("hidden"));
    $("ta-go").addEventListener("click", async () => {
      $("ta-go").disabled = true;
      const key = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
      const r = await api("POST", "/api/v1/trade-all", selection, {"Idempotency-Key": key});
      if (!r.ok) { show("ta-error", errText(r)); $("ta-go").disabled = false; return; }
      $("ta-confirm").classList.add("hidden");
      $("ta-run").classList.remove("hidden");
      render(r.data);
      follow(r.data.id);
    });
    $("ta-cancel").addEventListener("click", async () => {
      if (!run) return;
      const r = await api("POST", "/api/v1/trade-all/" + encodeURIComponent(run.id) + "/cancel");
      if (!r.ok) show("ta-error", errText(r)); else render(r.data);
    });
    function render(r) {
      run = r;
      $("ta-run-id").textContent = r.id;
      $("ta-state").textContent = r.state;
      $("ta-done").textContent = r.done; $("ta-total").textContent = r.total; $("ta-failed").textContent = r.failed;
      $("ta-progress").max = Math.max(r.total, 1); $("ta-progress").value = r.done;
      $("ta-cancel").disabled = r.state !== "running";
      document.querySelector("#ta-results tbody").replaceChildren(...(r.results || []).map(x => {
        const tr = row([nameOf(x.session_id), x.state, x.orders, x.message || ""], "res-" + x.state);
        tr.children[2].className = "num";
        tr.dataset.session = x.session_id;
        return tr;
      }));
    }
    // nameOf labels a session by its name, as the desk knows it.
    function nameOf(id) {
      const c = document.querySelector('.ta-session[value="' + CSS.escape(id) + '"]');
      return c && c.dataset.name ? c.dataset.name + " (" + id + ")" : id;
    }
    // The session picks apply only when picking.
    const picks = () => { const byTag = document.querySelector('input[name="by"]:checked').value === "tag";
      for (const id of ["ta-tag", "ta-account", "ta-venue"]) $(id).disabled = !byTag;
      $("ta-filter").classList.toggle("off", !byTag); $("ta-pick").classList.toggle("off", byTag);
      for (const c of document.querySelectorAll(".ta-session")) c.disabled = byTag; };
    for (const r of document.querySelectorAll('input[name="by"]')) r.addEventListener("change", picks);
    picks();
    function follow(id) {
      const es = new EventSource("/api/v1/trade-all/" + encodeURIComponent(id) + "/stream");
      const dot = $("live");
      es.onopen = () => { dot.className = "live on"; };
      es.addEventListener("trade-all", ev => {
        const r = JSON.parse(ev.data);
        render(r);
        if (r.state !== "running") { es.close(); dot.className = "live off"; }
      });
    }
  },

  journal() {
    const table = document.getElementById("journal"), tbody = table.querySelector("tbody");
    const f = table.dataset;
    listen(["journal"], {journal: e => {
      if (!document.getElementById("follow").checked) return;
      if (f.session && e.session_id !== f.session) return;
      if (f.kind && e.kind !== f.kind) return;
      if (f.failures === "true" && !e.error_class) return;
      const tr = row([e.seq, fmtTime(e.at), e.kind, e.session_id || "", e.symbol || "", e.side || "", blank(e.quantity), blank(e.price), blank(e.filled_qty), e.client_order_id || "", e.error_class || "", e.message || ""], e.error_class ? "failed" : "");
      for (const i of [6, 7, 8]) tr.children[i].className = "num";
      tbody.insertBefore(tr, tbody.firstChild);
      while (tbody.children.length > 500) tbody.lastChild.remove();
    }});
  },

  // The PnL page follows the desk live: a portfolio change (pushed over SSE)
  // refreshes the totals and the charts, at most every 15 s (equity is
  // snapshotted every minute, so more often would redraw the same charts).
  // A range the user did not fix follows now.
  pnl() {
    const $ = id => document.getElementById(id);
    const params = new URLSearchParams(location.search);
    const cards = {"pnl-net": "net_pnl", "pnl-realized": "realized_pnl", "pnl-unrealized": "unrealized_pnl", "pnl-fees": "fees_quote"};
    let timer = null, last = 0;
    async function refresh() {
      timer = null; last = Date.now();
      const r = await api("GET", "/api/v1/pnl?" + params);
      if (!r.ok) return;
      for (const [id, k] of Object.entries(cards)) { const e = $(id); if (!e) continue; if (k === "fees_quote") e.textContent = money(r.data[k]); else setPnL(e, r.data[k]); }
      // The charts are inline SVG (the page's font, a tooltip per point);
      // each is redrawn from its /charts/ URL.
      for (const box of document.querySelectorAll("div.chart[data-src]")) {
        const u = new URL(box.dataset.src, location.href);
        for (const k of ["from", "to"]) if (!params.has(k)) u.searchParams.delete(k);
        u.searchParams.set("t", String(last));
        const resp = await fetch(u.pathname + "?" + u.searchParams, {credentials: "same-origin"});
        if (!resp.ok) continue;
        box.innerHTML = await resp.text();
        box.dataset.drawn = String(last);
      }
      document.body.dataset.pnlRefreshed = String(last);
    }
    listen(["portfolio"], {portfolio: () => {
      if (!timer) timer = setTimeout(refresh, Math.max(0, 15000 - (Date.now() - last)));
    }});
  },

  collateral() {
    const table = document.getElementById("collateral");
    table.addEventListener("click", async ev => {
      if (!ev.target.classList.contains("save-ratio")) return;
      const tr = ev.target.closest("tr[data-asset]");
      const asset = tr.dataset.asset;
      const ratio = tr.querySelector(".new-ratio").value.trim();
      const r = await api("PUT", "/api/v1/collateral/" + encodeURIComponent(asset), {ratio});
      if (!r.ok) { show("coll-ok", ""); show("coll-error", asset + ": " + errText(r)); return; }
      show("coll-error", "");
      show("coll-ok", asset + " ratio saved (version " + r.data.version + ")");
      const rr = await api("GET", "/api/v1/collateral");
      if (!rr.ok) return;
      for (const v of rr.data.ratios) {
        const t = table.querySelector('tr[data-asset="' + CSS.escape(v.asset) + '"]');
        if (!t) continue;
        t.querySelector(".ratio").textContent = v.ratio;
        t.querySelector(".source").textContent = v.source;
        // The venues' ratios stay; whether ours differs may have changed.
        const cell = t.querySelector(".venues");
        if (cell) {
          cell.textContent = "";
          for (const vr of v.venues || []) {
            const span = document.createElement("span");
            span.className = "venue-ratio" + (vr.differs ? " differs" : "");
            span.dataset.venue = vr.venue;
            span.textContent = vr.venue + " " + vr.ratio;
            if (vr.differs) {
              const flag = document.createElement("strong");
              flag.className = "error";
              flag.title = "ours minus " + vr.venue + "'s";
              flag.textContent = " ≠ ours by " + vr.diff;
              span.appendChild(flag);
            }
            cell.append(span, " ");
          }
        }
      }
    });
  },

  alerts() {
    const tbody = document.querySelector("#alerts tbody");
    tbody.addEventListener("click", async ev => {
      if (!ev.target.classList.contains("ack")) return;
      const tr = ev.target.closest("tr[data-alert]");
      const r = await api("POST", "/api/v1/alerts/" + encodeURIComponent(tr.dataset.alert) + "/ack");
      if (r.ok) tr.querySelector(".acked").textContent = "acked";
    });
    listen(["alerts"], {alert: a => prependAlert(tbody, a, true)});
  },
};

document.addEventListener("DOMContentLoaded", () => {
  const p = pages[document.body.dataset.page];
  if (p) p();
});
