// The cluster console: /api/v1/cluster (PostgreSQL's view of every process) every two seconds.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (v, d = 1) => (v === null || v === undefined ? "-" : Number(v).toLocaleString(undefined, { maximumFractionDigits: d }));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const td = (v, cls = "") => `<td${cls ? ` class="${cls}"` : ""}>${v}</td>`;
const STALE_S = 30; // a heartbeat or a sample older than this is shown as stale

function rows(table, items, key, cells) {
  $(table).tBodies[0].innerHTML = items
    .map((x) => `<tr data-key="${esc(key(x))}">` + cells(x).join("") + "</tr>")
    .join("");
}

async function refresh() {
  try {
    const r = await fetch("api/v1/cluster", { headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
    const c = await r.json();
    $("ready").textContent = "PostgreSQL answering";
    $("ready").className = "pill ok";
    $("login").textContent = "login " + c.login;
    $("lease").textContent = c.lease_holder === null ? "lease: never held"
      : `lease: ${c.lease_valid ? "held by" : "expired, last"} ${c.lease_holder} (fencing token ${c.lease_token})`;
    $("lease").className = c.lease_valid ? "" : "warn";
    const byProcess = Object.fromEntries(c.processes.map((p) => [p.process, p]));
    rows("agents", c.agents, (a) => a.name, (a) => {
      const p = byProcess["agent " + a.name] || {};
      return [
        td(esc(a.name), "text"), td(a.epoch), td(a.accounts),
        td(fmt(a.heartbeat_age_s) + " s", a.heartbeat_age_s > STALE_S ? "stale" : ""),
        td(esc(p.state ?? "-"), "text"), td(fmt(p.rss_mib)), td(fmt(p.cpu_percent)),
        td(esc((p.firing || []).join(", ") || "none"), "text" + ((p.firing || []).length ? " firing" : "")),
      ];
    });
    const running = c.agents.reduce((n, a) => n + a.accounts, 0);
    const halted = Object.entries(c.not_active).map(([a, s]) => `${a} ${s}`).join(", ") || "none";
    $("accounts-summary").textContent = `${running} accounts run by agents, ${c.unassigned} unassigned; not ACTIVE: ${halted}`;
    rows("processes", c.processes, (p) => p.process, (p) => [
      td(esc(p.process), "text"), td(esc(p.state || "-"), "text"),
      td(fmt(p.sample_age_s) + " s ago", p.sample_age_s > STALE_S ? "stale" : ""),
      td(fmt(p.rss_mib)), td(fmt(p.cpu_percent)),
      td(esc(p.firing.join(", ") || "none"), "text" + (p.firing.length ? " firing" : "")),
    ]);
    rows("orders", Object.entries(c.orders).sort(), ([s]) => s, ([s, n]) => [td(esc(s), "text"), td(n)]);
    $("orders").tBodies[0].insertAdjacentHTML("beforeend", `<tr data-key="fills">${td("fills", "text")}${td(c.fills)}</tr>`);
    rows("events", c.alert_events, (e) => e.process + e.ts, (e) => [
      td(new Date(e.ts * 1000).toISOString().replace("T", " ").slice(0, 19)), td(esc(e.process), "text"),
      td(esc(e.summary), "text " + e.state),
    ]);
  } catch (err) {
    $("ready").textContent = "unreachable: " + err.message;
    $("ready").className = "pill bad";
  }
}

refresh();
setInterval(refresh, 2000);
