// The ALL-USE console: the REST API's views every two seconds, the live stream (fills, orders, alerts and each
// collector tick) as it comes, seven charts over the last ten minutes of ticks, and the controls (token needed).
"use strict";

const KEEP = 600; // ticks kept for the charts: ten minutes at the collector's 1 s
const S = {
  submit: "alluse_order_submit_seconds:p99",
  errors: "alluse_trading_error_ratio",
  quotes: 'alluse_quotes_total:rate{outcome="accepted"}',
  feed: "alluse_feed_latency_seconds:p99",
  cpu: "alluse_process_cpu_percent",
  rss: "alluse_process_rss_bytes",
};
const MiB = 2 ** 20;
const $ = (id) => document.getElementById(id);
const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? "-" : Number(v).toLocaleString(undefined, { maximumFractionDigits: d }));
const money = (v) => (v === null || v === undefined ? "-" : (Number(v) < 0 ? "-$" : "$") + fmt(Math.abs(Number(v)), 2));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

const tokenInput = $("token");
tokenInput.value = sessionStorage.getItem("alluse-token") || "";
tokenInput.addEventListener("change", () => sessionStorage.setItem("alluse-token", tokenInput.value.trim()));

async function api(path, body) {
  const headers = { Accept: "application/json" };
  const token = tokenInput.value.trim();
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method: body === undefined ? "GET" : "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${r.status} ${data.detail ? JSON.stringify(data.detail) : r.statusText}`);
  return data;
}

// ---------------------------------------------------------------------- tables

function rows(table, items, cells) {
  $(table).tBodies[0].innerHTML = items.map((x) => "<tr>" + cells(x).join("") + "</tr>").join("");
}
const td = (v, cls = "") => `<td${cls ? ` class="${cls}"` : ""}>${v}</td>`;

async function refresh() {
  try {
    const [status, accounts, positions, orders, alerts, market, connection, controls] = await Promise.all([
      api("api/v1/status"), api("api/v1/accounts"), api("api/v1/positions"), api("api/v1/orders?working=true&limit=0"),
      api("api/v1/alerts"), api("api/v1/market-data"), api("api/v1/connection"), api("api/v1/controls"),
    ]);
    rows("controls", controls.slice(-10).reverse(), (c) => [
      td(c.at.replace("T", " ").slice(0, 19)), td(esc(c.account ?? "-"), "text"), td(esc(c.action), "text"), td(esc(c.detail), "text"),
    ]);
    $("ready").textContent = status.ready ? "ready" : "not ready";
    $("ready").className = "pill " + (status.ready ? "ok" : "bad");
    $("clock").textContent = status.clock.replace("T", " ").slice(0, 19) + " UTC (x" + fmt(status.speed, 0) + ")";
    $("build").textContent = `v${status.version}, ${status.build}, session ${status.session}`;
    rows("accounts", accounts, (a) => [
      td(esc(a.account)), td(a.trading_state, "text state-" + a.trading_state), td(money(a.equity_usd)), td(money(a.cash_usd)),
      td(money(a.buying_power_used_usd)), td(money(a.realized_net_usd)), td(money(a.unrealized_usd)), td(a.open_orders),
      td(["halt", "reducing", "resume"].map((c) => `<button data-control="${c}" data-account="${esc(a.account)}">${c}</button>`).join(" ") +
        ` <button data-control="cancel-all" data-account="${esc(a.account)}">cancel all</button>` +
        ` <button data-control="flatten" data-account="${esc(a.account)}">flatten</button>`, "text"),
    ]);
    rows("positions", positions, (p) => [
      td(esc(p.account)), td(esc(p.instrument_id), "text"), td(p.quantity), td(money(p.avg_cost)), td(fmt(p.mark)),
      td(fmt(p.dte, 1)), td(fmt(p.iv, 3)), td(fmt(p.delta, 1)), td(fmt(p.theta, 2)), td(money(p.unrealized_usd)),
    ]);
    rows("orders", orders, (o) => [
      td(o.created.slice(11, 19)), td(esc(o.client_order_id), "text"), td(esc(o.instrument_id), "text"), td(o.side),
      td(o.quantity), td(o.status, "text"),
    ]);
    $("alerts").innerHTML = alerts
      .filter((a) => a.status !== "inactive" || a.insufficient_data)
      .map((a) => {
        const cls = a.status !== "inactive" ? a.status : "blind";
        const what = a.status !== "inactive" ? a.status : "insufficient data";
        return `<li class="${cls}">${esc(a.rule)} [${a.severity}${a.kind !== "threshold" ? ", " + a.kind : ""}]: ${what}; ${esc(a.condition)}</li>`;
      })
      .join("") || "<li>none firing or pending</li>";
    const md = [
      ["market open", market.market_open], ["quotes accepted", fmt(market.quotes_accepted, 0)],
      ["last quote age", market.last_quote_age_s === null ? "-" : fmt(market.last_quote_age_s, 3) + " s"],
      ["cache hit ratio", market.cache.hit_ratio === null ? "-" : fmt(100 * market.cache.hit_ratio, 1) + " %"],
      ["market-data lines", market.lines ? `${market.lines.in_use} of ${market.lines.budget}` : "simulated market"],
      ["broker", `${esc(connection.broker)}: ${connection.connected ? "connected" : "DISCONNECTED"}`],
      ["not ready because", connection.not_ready.join("; ") || "-"],
    ];
    $("market").innerHTML = md.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
  } catch (e) {
    $("ready").textContent = "unreachable: " + e.message;
    $("ready").className = "pill bad";
  }
}

document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-control]");
  if (!b) return;
  const { control, account } = b.dataset;
  const [path, body] = control === "cancel-all" ? ["api/v1/cancel-all", { account }]
    : control === "flatten" ? ["api/v1/flatten", { account }]
    : [`api/v1/control/${control}`, { accounts: [account], reason: "from the console" }];
  try {
    const out = await api(path, body);
    $("control-result").textContent = `${out.action} ${out.accounts.join(", ")}: done by ${out.who}` +
      (out.changed.length ? `; state changed for ${out.changed.join(", ")}` : "") + (out.cancelled ? `; ${out.cancelled} cancelled` : "") +
      (out.orders.length ? `; ${out.orders.length} closing orders` : "");
  } catch (e) {
    $("control-result").textContent = `${control} refused: ${e.message}`;
  }
  refresh();
});

// ---------------------------------------------------------------------- charts

const ticks = { t: [], v: [] }; // epoch seconds, value maps

function column(pick) {
  return ticks.v.map((v) => { const x = pick(v); return x === undefined || x === null ? null : x; });
}
const key = (v, part) => Object.keys(v).find((k) => k.includes(part));
const sumOf = (v, prefix) => { let s = null; for (const k in v) if (k.startsWith(prefix)) s = (s ?? 0) + v[k]; return s; };

function chart(el, labels, scales) {
  const width = Math.max(320, $(el).clientWidth - 8);
  const series = [{}, ...labels.map((label, i) => ({ label, stroke: ["#1565c0", "#c62828", "#2e7d32"][i], scale: scales[i], width: 1.5 }))];
  const axes = [{}, { scale: scales[0], size: 64 }, ...(scales.includes("r") ? [{ scale: "r", side: 1, size: 56, grid: { show: false } }] : [])];
  return new uPlot({ width, height: 180, series, axes, scales: { x: { time: true } } }, [[], ...labels.map(() => [])], $(el));
}

const charts = {
  trading: chart("chart-trading", ["submit p99 ms", "error %"], ["l", "r"]),
  market: chart("chart-market", ["quotes/s", "feed p99 ms"], ["l", "r"]),
  system: chart("chart-system", ["CPU %", "RSS MiB"], ["l", "r"]),
  trend: chart("chart-trend", ["equity $", "trend"], ["l", "l"]),
  anomaly: chart("chart-anomaly", ["robust z", "alert line"], ["l", "l"]),
  forecast: chart("chart-forecast", ["RSS MiB", "30 min ahead"], ["l", "l"]),
};

function setData(name, cols) {
  charts[name].setData([ticks.t, ...cols]);
  $("chart-" + name).dataset.points = String(cols[0].filter((x) => x !== null).length);
}

function leastSquares(ys) {
  const pts = ys.map((y, i) => [ticks.t[i], y]).filter(([, y]) => y !== null);
  if (pts.length < 3) return null;
  const n = pts.length, mx = pts.reduce((a, p) => a + p[0], 0) / n, my = pts.reduce((a, p) => a + p[1], 0) / n;
  const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  const slope = sxx ? pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / sxx : 0;
  return { slope, at: (t) => my + slope * (t - mx) };
}

function onTick(data) {
  ticks.t.push(data.ts_ns / 1e9);
  ticks.v.push(data.values);
  if (ticks.t.length > KEEP) { ticks.t.shift(); ticks.v.shift(); }
  const ms = (k) => column((v) => (v[k] === undefined ? null : v[k] * 1e3));
  setData("trading", [ms(S.submit), column((v) => (v[S.errors] === undefined ? null : 100 * v[S.errors]))]);
  setData("market", [column((v) => v[S.quotes]), ms(S.feed)]);
  setData("system", [column((v) => v[S.cpu]), column((v) => (v[S.rss] === undefined ? null : v[S.rss] / MiB))]);
  const equity = column((v) => sumOf(v, "alluse_account_equity_usd{"));
  const fit = leastSquares(equity);
  setData("trend", [equity, ticks.t.map((t) => (fit ? fit.at(t) : null))]);
  $("trend-text").textContent = fit ? `equity ${fit.slope >= 0 ? "+" : ""}${money(fit.slope * 60)} a minute over the last ${ticks.t.length} ticks` : "too short for a trend";
  setData("anomaly", [column((v) => { const k = key(v, ":anomaly_z"); return k ? v[k] : null; }), ticks.t.map(() => 8)]);
  setData("forecast", [column((v) => (v[S.rss] === undefined ? null : v[S.rss] / MiB)),
    column((v) => { const k = key(v, ":predicted"); return k && k.startsWith(S.rss) ? v[k] / MiB : null; })]);
  const stats = [[S.submit, "order path p99 (ms)", 1e3], [S.errors, "error ratio (%)", 100], [S.quotes, "quotes/s", 1],
    [S.feed, "feed p99 (ms)", 1e3], [S.cpu, "CPU (%)", 1], [S.rss, "RSS (MiB)", 1 / MiB]];
  rows("stats", stats, ([k, label, f]) => {
    const xs = column((v) => v[k]).filter((x) => x !== null).map((x) => x * f);
    const now = xs.length ? xs[xs.length - 1] : null;
    return [td(label), td(fmt(now)), td(fmt(xs.length ? Math.min(...xs) : null)),
      td(fmt(xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null)), td(fmt(xs.length ? Math.max(...xs) : null))];
  });
}

// ---------------------------------------------------------------------- the live stream

function onFill(f) {
  const body = $("fills").tBodies[0];
  const tr = document.createElement("tr");
  tr.dataset.coid = f.client_order_id;
  tr.innerHTML = [td(f.time.slice(11, 19)), td(esc(f.client_order_id), "text"), td(esc(f.instrument_id), "text"), td(f.side),
    td(f.quantity), td(fmt(Number(f.price), 4))].join("");
  body.prepend(tr);
  while (body.rows.length > 50) body.deleteRow(-1);
}

const stream = new EventSource("api/v1/stream");
let gaps = 0;
stream.onopen = () => { $("stream").textContent = "stream: live"; $("stream").className = "pill ok"; };
stream.onerror = () => { $("stream").textContent = "stream: reconnecting"; $("stream").className = "pill warn"; };
stream.addEventListener("metrics", (e) => onTick(JSON.parse(e.data)));
stream.addEventListener("fill", (e) => onFill(JSON.parse(e.data)));
let soon = null; // order and alert events refresh the views, at most twice a second however many come
const refreshSoon = () => { soon ??= setTimeout(() => { soon = null; refresh(); }, 500); };
stream.addEventListener("order", refreshSoon);
stream.addEventListener("alert", refreshSoon);
stream.addEventListener("state", refreshSoon);
stream.addEventListener("dropped", (e) => { gaps += JSON.parse(e.data).events; $("stream").textContent = `stream: live, ${gaps} events missed`; });

refresh();
setInterval(refresh, 2000);
