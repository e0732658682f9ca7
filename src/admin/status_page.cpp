// The status page: one self-contained HTML document (inline CSS and JS, no external assets, so
// it works on an isolated management network and passes the strict CSP endpoints.cpp sends). It
// polls /status.json every two seconds and draws small live charts as inline SVG.
#include "admin/endpoints.hpp"

namespace bcp::admin {

std::string_view status_page_html() {
    static constexpr std::string_view page = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bbb-cluster-proxy status</title>
<style>
:root {
  --bg: #f4f6f9; --panel: #ffffff; --ink: #1c2430; --muted: #677489; --line: #e3e8ef;
  --accent: #2364d2; --ok: #1a8f4c; --warn: #c77800; --bad: #c92a2a; --info: #5b6ee1;
  --c2: #2364d2; --c3: #7a5af8; --c4: #c77800; --c5: #c92a2a;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #16202e; color: #fff; padding: 12px 24px; display: flex; align-items: center; gap: 16px; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header .meta { color: #a9b6c8; font-size: 13px; }
header .spacer { flex: 1; }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.pill.ok { background: #e3f5ea; color: var(--ok); }
.pill.bad { background: #fde8e8; color: var(--bad); }
.pill.warn { background: #fff3dc; color: var(--warn); }
.pill.muted { background: #eef1f5; color: var(--muted); }
header .pill.ok { background: #1f6e43; color: #e3f5ea; }
header .pill.bad { background: #8a1f1f; color: #fde8e8; }
main { padding: 20px 24px 32px; max-width: 1400px; margin: 0 auto; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
.card .value { font-size: 24px; font-weight: 600; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-bottom: 16px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.panel h2 { font-size: 13px; margin: 0 0 8px; font-weight: 600; color: var(--ink); display: flex; gap: 12px; align-items: baseline; }
.panel h2 .legend { font-weight: 400; color: var(--muted); font-size: 12px; display: flex; gap: 10px; }
.legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
svg.chart { width: 100%; height: 140px; display: block; }
svg.chart text { font-size: 10px; fill: var(--muted); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 7px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
th:first-child, td:first-child, th.l, td.l { text-align: left; }
td.node { font-weight: 600; }
td .origin { display: block; font-weight: 400; color: var(--muted); font-size: 12px; }
tr.removed td { color: var(--muted); }
td.spark svg { width: 120px; height: 26px; vertical-align: middle; }
.num-bad { color: var(--bad); font-weight: 600; }
.kv { display: grid; grid-template-columns: auto 1fr; gap: 4px 16px; font-variant-numeric: tabular-nums; }
.kv div:nth-child(odd) { color: var(--muted); }
.bar { height: 8px; background: #eef1f5; border-radius: 4px; overflow: hidden; margin-top: 6px; }
.bar > div { height: 100%; background: var(--ok); }
footer { color: var(--muted); font-size: 12px; margin-top: 12px; }
#error { display: none; background: #fde8e8; color: var(--bad); border: 1px solid #f5c2c2; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; }
</style>
</head>
<body>
<header>
  <h1>bbb-cluster-proxy</h1>
  <span class="pill muted" id="state">loading</span>
  <span class="meta" id="version"></span>
  <span class="spacer"></span>
  <span class="meta" id="updated"></span>
</header>
<main>
  <div id="error"></div>
  <section class="cards">
    <div class="card"><div class="label">Requests / s</div><div class="value" id="rate">–</div><div class="sub" id="total-requests-sub"></div></div>
    <div class="card"><div class="label">Requests total</div><div class="value" id="total-requests">–</div><div class="sub" id="unrouted"></div></div>
    <div class="card"><div class="label">5xx / s</div><div class="value" id="error-rate">–</div><div class="sub" id="total-5xx"></div></div>
    <div class="card"><div class="label">Traffic</div><div class="value" id="bandwidth">–</div><div class="sub" id="total-bytes"></div></div>
    <div class="card"><div class="label">Connections</div><div class="value" id="connections">–</div><div class="sub" id="accepted"></div></div>
    <div class="card"><div class="label">WebSocket tunnels</div><div class="value" id="tunnels">–</div><div class="sub">open now</div></div>
    <div class="card"><div class="label">Nodes up</div><div class="value" id="nodes-up">–</div><div class="sub" id="nodes-sub"></div></div>
    <div class="card"><div class="label">Cache hit ratio</div><div class="value" id="cache-ratio">–</div><div class="sub" id="cache-sub"></div></div>
  </section>
  <section class="grid2">
    <div class="panel"><h2>Requests per second <span class="legend">
      <span><i style="background:var(--c2)"></i>2xx</span><span><i style="background:var(--c3)"></i>3xx</span>
      <span><i style="background:var(--c4)"></i>4xx</span><span><i style="background:var(--c5)"></i>5xx</span></span></h2>
      <svg class="chart" id="chart-requests" viewBox="0 0 600 140" preserveAspectRatio="none"></svg></div>
    <div class="panel"><h2>Bytes per second to clients <span class="legend">
      <span><i style="background:var(--accent)"></i>responses</span></span></h2>
      <svg class="chart" id="chart-bytes" viewBox="0 0 600 140" preserveAspectRatio="none"></svg></div>
  </section>
  <section class="panel" style="margin-bottom:16px">
    <h2>Nodes</h2>
    <table id="nodes">
      <thead><tr><th>Node</th><th class="l">Health</th><th>Req/s (2 min)</th><th>Requests</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>
        <th>p50</th><th>p95</th><th>Sent</th><th>Tunnels</th><th>Idle conns</th><th>Connect errors</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="grid2">
    <div class="panel"><h2>Cache</h2><div id="cache" class="kv"></div></div>
    <div class="panel"><h2>Refused before a node</h2><div id="refusals" class="kv"></div></div>
  </section>
  <section class="panel" id="discovery-panel" style="margin-bottom:16px" hidden>
    <h2>Discovery</h2><div id="discovery" class="kv"></div>
  </section>
  <footer>Figures are totals since start unless marked per second; rates are computed in the browser
    between polls of <code>/status.json</code>. Prometheus: <code>/metrics</code>.</footer>
</main>
<script>
"use strict";
const POLL_MS = 2000, HISTORY = 60;
const history = [];           // {t, classes:{2xx..}, bytes, nodes:{id:requests}}
const rates = [];             // derived per-second points
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }
function fmtRate(n) { return n >= 100 ? fmtInt(n) : n >= 10 ? n.toFixed(1) : n.toFixed(2); }
function fmtBytes(n) {
  const u = ["B", "KB", "MB", "GB", "TB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? fmtInt(n) : n.toFixed(n >= 100 ? 0 : 1)) + " " + u[i];
}
function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  return s < 1 ? (s * 1000).toFixed(s < 0.01 ? 1 : 0) + " ms" : s.toFixed(2) + " s";
}
function fmtUptime(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${Math.floor(s % 60)}s`;
}
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// A line chart of several series over the same x range; scales to the largest value.
function drawChart(svg, series, fmt) {
  const W = 600, H = 140, top = 8, bottom = 16, left = 0;
  svg.replaceChildren();
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const nice = niceMax(max);
  for (let i = 0; i <= 2; i++) {
    const y = top + (H - top - bottom) * (i / 2);
    svg.appendChild(svgEl("line", { x1: 0, x2: W, y1: y, y2: y, stroke: "#e3e8ef", "stroke-width": 1,
      "vector-effect": "non-scaling-stroke" }));
    const label = svgEl("text", { x: 4, y: y + (i === 0 ? 10 : -3) });
    label.textContent = fmt(nice * (1 - i / 2));
    svg.appendChild(label);
  }
  for (const s of series) {
    if (s.values.length < 2) continue;
    const pts = s.values.map((v, i) => {
      const x = left + (W - left) * ((i + (HISTORY - s.values.length)) / (HISTORY - 1));
      const y = top + (H - top - bottom) * (1 - v / nice);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    if (s.fill) {
      const first = pts[0].split(",")[0], last = pts[pts.length - 1].split(",")[0];
      svg.appendChild(svgEl("polygon", { points: `${first},${H - bottom} ${pts.join(" ")} ${last},${H - bottom}`,
        fill: s.color, opacity: 0.12 }));
    }
    svg.appendChild(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: s.color,
      "stroke-width": 2, "vector-effect": "non-scaling-stroke", "stroke-linejoin": "round" }));
  }
  const axis = svgEl("text", { x: 2, y: H - 3 });
  axis.textContent = `last ${Math.round((HISTORY - 1) * POLL_MS / 1000)} s`;
  svg.appendChild(axis);
}
function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
function sparkline(values, color) {
  const svg = svgEl("svg", { viewBox: "0 0 120 26", preserveAspectRatio: "none" });
  const max = Math.max(1e-9, ...values);
  if (values.length >= 2) {
    const pts = values.map((v, i) => `${(120 * (i + HISTORY - values.length) / (HISTORY - 1)).toFixed(1)},${(24 - 22 * v / max).toFixed(1)}`);
    svg.appendChild(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 1.5,
      "vector-effect": "non-scaling-stroke" }));
  }
  return svg;
}

function healthCell(node) {
  const td = el("td", { class: "l", "data-field": "health" });
  let pill;
  if (!node.configured) pill = el("span", { class: "pill muted" }, "removed");
  else if (!node.health) pill = el("span", { class: "pill muted" }, "no checks");
  else if (!node.health.enabled) pill = el("span", { class: node.health.healthy ? "pill ok" : "pill bad" },
    node.health.healthy ? "up (passive)" : "down");
  else pill = el("span", { class: node.health.healthy ? "pill ok" : "pill bad" }, node.health.healthy ? "up" : "down");
  if (node.health && node.health.last_error) pill.title = node.health.last_error;
  td.appendChild(pill);
  return td;
}

function render(s) {
  const now = s.time;
  const classes = s.totals.responses;
  history.push({ t: now, classes, bytes: s.totals.bytes,
    nodes: Object.fromEntries(s.nodes.map((n) => [n.id, n.requests])) });
  while (history.length > HISTORY + 1) history.shift();
  if (history.length >= 2) {
    const a = history[history.length - 2], b = history[history.length - 1];
    const dt = Math.max(0.001, b.t - a.t);
    const r = { t: b.t, bytes: Math.max(0, b.bytes - a.bytes) / dt, nodes: {} };
    for (const c of ["1xx", "2xx", "3xx", "4xx", "5xx"]) r[c] = Math.max(0, b.classes[c] - a.classes[c]) / dt;
    for (const id of Object.keys(b.nodes)) r.nodes[id] = Math.max(0, b.nodes[id] - (a.nodes[id] || 0)) / dt;
    rates.push(r);
    while (rates.length > HISTORY) rates.shift();
  }
  const last = rates[rates.length - 1];

  const state = $("state");
  state.textContent = s.status === "ok" ? "serving" : s.status;
  state.className = "pill " + (s.status === "ok" ? "ok" : "bad");
  $("version").textContent = `v${s.version} · ${s.workers} workers · up ${fmtUptime(s.uptime_seconds)}`;
  $("updated").textContent = "updated " + new Date(now * 1000).toLocaleTimeString();

  const total = s.totals.requests;
  $("rate").textContent = last ? fmtRate(["1xx", "2xx", "3xx", "4xx", "5xx"].reduce((x, c) => x + last[c], 0)) : "–";
  $("total-requests").textContent = fmtInt(total);
  $("unrouted").textContent = `${fmtInt(s.totals.unrouted)} answered before routing`;
  $("error-rate").textContent = last ? fmtRate(last["5xx"]) : "–";
  $("error-rate").className = "value" + (last && last["5xx"] > 0 ? " num-bad" : "");
  $("total-5xx").textContent = `${fmtInt(classes["5xx"])} total`;
  $("bandwidth").textContent = last ? fmtBytes(last.bytes) + "/s" : "–";
  $("total-bytes").textContent = `${fmtBytes(s.totals.bytes)} total`;
  $("connections").textContent = fmtInt(s.totals.connections_active);
  $("accepted").textContent = `${fmtInt(s.totals.connections_accepted)} accepted`;
  $("tunnels").textContent = fmtInt(s.totals.tunnels_active);
  const configured = s.nodes.filter((n) => n.configured);
  const up = configured.filter((n) => !n.health || n.health.healthy).length;
  $("nodes-up").textContent = `${up} / ${configured.length}`;
  $("nodes-up").className = "value" + (up < configured.length ? " num-bad" : "");
  $("nodes-sub").textContent = s.health_checks ? "health checks on" : "no health checks";

  drawChart($("chart-requests"), [
    { color: "#2364d2", values: rates.map((r) => r["2xx"] + r["1xx"]), fill: true },
    { color: "#7a5af8", values: rates.map((r) => r["3xx"]) },
    { color: "#c77800", values: rates.map((r) => r["4xx"]) },
    { color: "#c92a2a", values: rates.map((r) => r["5xx"]) },
  ], fmtRate);
  drawChart($("chart-bytes"), [{ color: "#2364d2", values: rates.map((r) => r.bytes), fill: true }],
    (v) => fmtBytes(v));

  const body = document.querySelector("#nodes tbody");
  body.replaceChildren();
  for (const n of s.nodes) {
    const tr = el("tr", { "data-node": n.id, class: n.configured ? "" : "removed" });
    const name = el("td", { class: "node" }, n.id);
    // Where the node came from: the configuration, or Scalelite's registry (discovery).
    const from = n.source === "scalelite" ? " · from Scalelite" : "";
    name.appendChild(el("span", { class: "origin", "data-source": n.source || "" },
      n.origin ? n.origin + from : "not in the configuration"));
    tr.appendChild(name);
    tr.appendChild(healthCell(n));
    const spark = el("td", { class: "spark" });
    spark.appendChild(sparkline(rates.map((r) => r.nodes[n.id] || 0), "#2364d2"));
    tr.appendChild(spark);
    const cell = (field, text, cls) => tr.appendChild(el("td", { "data-field": field, class: cls || "" }, text));
    cell("requests", fmtInt(n.requests));
    cell("2xx", fmtInt(n.responses["2xx"] + n.responses["1xx"]));
    cell("3xx", fmtInt(n.responses["3xx"]));
    cell("4xx", fmtInt(n.responses["4xx"]));
    cell("5xx", fmtInt(n.responses["5xx"]), n.responses["5xx"] > 0 ? "num-bad" : "");
    cell("p50", fmtSeconds(n.latency.p50));
    cell("p95", fmtSeconds(n.latency.p95));
    cell("bytes", fmtBytes(n.bytes));
    cell("tunnels", fmtInt(n.tunnels_active));
    cell("idle", fmtInt(n.idle_connections));
    cell("connect-errors", fmtInt(n.connect_errors), n.connect_errors > 0 ? "num-bad" : "");
    body.appendChild(tr);
  }

  const cache = $("cache");
  cache.replaceChildren();
  if (s.cache) {
    const c = s.cache, lookups = c.hits + c.misses + c.coalesced;
    const ratio = lookups ? (c.hits + c.coalesced) / lookups : 0;
    $("cache-ratio").textContent = lookups ? (100 * ratio).toFixed(1) + " %" : "–";
    $("cache-sub").textContent = `${fmtInt(c.entries)} entries · ${fmtBytes(c.memory)}`;
    for (const [k, v] of [["Hits", fmtInt(c.hits)], ["Misses", fmtInt(c.misses)], ["Coalesced", fmtInt(c.coalesced)],
      ["Revalidated", fmtInt(c.revalidations)], ["Served stale", fmtInt(c.stale)], ["Bypassed", fmtInt(c.bypass)],
      ["Served from cache", fmtBytes(c.bytes_served)], ["Fetched to fill", fmtBytes(c.bytes_from_nodes)],
      ["Memory", `${fmtBytes(c.memory)} of ${fmtBytes(c.max_size)}`], ["Evictions", fmtInt(c.evictions)]]) {
      cache.appendChild(el("div", {}, k)); cache.appendChild(el("div", {}, v));
    }
    // Compression dictionaries (RFC 9842): deltas sent to clients that named a dictionary.
    const d = c.dictionaries;
    if (d) {
      const hit = d.requests ? ` · ${(100 * d.deltas_sent / d.requests).toFixed(1)} % of ${fmtInt(d.requests)} asked` : "";
      for (const [k, v, key] of [["Dictionary deltas sent", fmtInt(d.deltas_sent) + hit, "sent"],
        ["Saved by dictionaries", fmtBytes(d.saved_bytes), "saved"],
        ["Deltas stored", `${fmtInt(d.deltas)} · ${fmtBytes(d.delta_bytes)}`, "stored"]]) {
        cache.appendChild(el("div", {}, k)); cache.appendChild(el("div", { "data-dictionaries": key }, v));
      }
    }
  } else {
    $("cache-ratio").textContent = "off";
    $("cache-sub").textContent = "cache not enabled";
    cache.appendChild(el("div", {}, "Cache")); cache.appendChild(el("div", {}, "not enabled"));
  }
  const refusals = $("refusals");
  refusals.replaceChildren();
  const reasons = Object.entries(s.totals.refusals);
  if (reasons.length === 0) {
    refusals.appendChild(el("div", {}, "None")); refusals.appendChild(el("div", {}, "0"));
  }
  for (const [reason, count] of reasons.sort((a, b) => b[1] - a[1])) {
    refusals.appendChild(el("div", {}, reason.replaceAll("_", " ")));
    refusals.appendChild(el("div", { "data-reason": reason }, fmtInt(count)));
  }
  const d = s.discovery, dpanel = $("discovery-panel"), dkv = $("discovery");
  dpanel.hidden = !d;
  dkv.replaceChildren();
  if (d) {
    const ago = d.last_success ? `${fmtInt(Math.max(0, Math.round(Date.now() / 1000 - d.last_success)))} s ago` : "never";
    const state = d.up ? "up" : d.from_snapshot ? "down, serving the snapshot" : "down, serving the last table";
    for (const [k, v, key] of [
      ["Source", d.via === "api" ? "Scalelite's server API" : "Scalelite's Redis", "via"], ["At", d.where, "where"],
      ["State", state, "state"], ["Last success", ago, "last-success"], ["Nodes added", fmtInt(d.nodes), "nodes"],
      ["Records skipped", fmtInt(d.skipped), "skipped"], ["Polls", fmtInt(d.polls), "polls"],
      ["Errors", fmtInt(d.errors), "errors"], ["Last error", d.last_error || "none", "last-error"]]) {
      dkv.appendChild(el("div", {}, k));
      dkv.appendChild(el("div", { "data-discovery": key, class: key === "state" && !d.up ? "num-bad" : "" }, v));
    }
  }
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
}

async function poll() {
  try {
    const res = await fetch("status.json", { cache: "no-store", credentials: "same-origin" });
    if (!res.ok) throw new Error(`status.json: HTTP ${res.status}`);
    render(await res.json());
    $("error").style.display = "none";
  } catch (e) {
    $("error").textContent = `Cannot reach the proxy's admin endpoint (${e.message}); retrying.`;
    $("error").style.display = "block";
    const state = $("state");
    state.textContent = "unreachable"; state.className = "pill bad";
  }
  setTimeout(poll, POLL_MS);
}
poll();
</script>
</body>
</html>
)HTML";
    return page;
}

}  // namespace bcp::admin
