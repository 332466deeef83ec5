// dashboard.js - the operator's view: live uPlot charts of /v1/stats and
// /metrics, the health of each part from /readyz, and recommendations in
// plain words when a figure is off. uPlot (from npm, embedded at build
// time) is loaded by the page as a classic script: window.uPlot.

const EVERY_MS = Number(new URLSearchParams(location.search).get('every')) || 2000;
const KEEP = 150; // points per chart (5 minutes at 2 s)
document.getElementById('every').textContent = String(EVERY_MS / 1000);

const COLORS = ['#3b6ff5', '#e0632a', '#1b9e57', '#9b4dd6', '#c23a63'];

function makeChart(id, names, yLabel) {
  const el = document.getElementById(id);
  const series = [{}].concat(names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2 })));
  const data = [[]].concat(names.map(() => []));
  const plot = new uPlot(
    { width: el.clientWidth || 460, height: 200, series, axes: [{}, { label: yLabel, size: 60 }], scales: { x: { time: true } } },
    data,
    el,
  );
  return { plot, data, names, el };
}

const charts = {
  rps: makeChart('chart-rps', ['requests/s'], 'req/s'),
  hits: makeChart('chart-hits', ['memory', 'redis', 'overall'], '%'),
  latency: makeChart('chart-latency', ['p50', 'p99'], 'ms'),
  origin: makeChart('chart-origin', ['origin calls/s', 'coalesced/s', 'origin errors/s'], 'calls/s'),
  bytes: makeChart('chart-bytes', ['from cache'], 'KiB/s'),
  memory: makeChart('chart-memory', ['fill %', 'evictions/s'], ''),
};

window.addEventListener('resize', () => {
  for (const c of Object.values(charts)) c.plot.setSize({ width: c.el.clientWidth, height: 200 });
});

function push(chart, t, values) {
  chart.data[0].push(t);
  values.forEach((v, i) => chart.data[i + 1].push(v === undefined || Number.isNaN(v) ? null : v));
  if (chart.data[0].length > KEEP) for (const s of chart.data) s.shift();
  chart.plot.setData(chart.data);
}

// Prometheus text: name{labels} value -> [{name, labels, value}].
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z_:][a-z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$/i);
    if (!m) continue;
    const labels = {};
    for (const kv of (m[3] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function sum(metrics, name, pred = () => true) {
  return metrics.filter((m) => m.name === name && pred(m.labels)).reduce((a, m) => a + m.value, 0);
}

async function getJSON(path) {
  const res = await fetch(path, { cache: 'no-store' });
  return { status: res.status, doc: await res.json() };
}

let prev = null;
const state = { points: 0, errors: 0 };
window.cameoDashboard = state; // for the browser tests

function advise(s, ready, rates) {
  const tips = [];
  const mem = (s.tiers && s.tiers.memory) || {};
  const memRate = s.hit_rate ? s.hit_rate.memory : 0;
  const lookups = (mem.hits || 0) + (mem.misses || 0);
  if (lookups > 100 && memRate < 0.8 && rates.evictions > 0)
    tips.push(['warn', `The memory hit rate is ${(memRate * 100).toFixed(0)}% while entries are being evicted (${rates.evictions.toFixed(1)}/s): the working set does not fit. Raise --mem-limit (now ${(mem.capacity / 1048576).toFixed(0)} MiB).`]);
  else if (lookups > 100 && memRate < 0.5)
    tips.push(['warn', `The memory hit rate is ${(memRate * 100).toFixed(0)}% without evictions: most reads are first reads or the TTL is short. Consider a longer --ttl, or batch reads (POST /v1/users:batch) so misses share one store query.`]);
  const redis = ready && ready.tiers && ready.tiers.redis;
  if (redis && redis.status !== 'ok')
    tips.push(['warn', `Redis is ${redis.status}: reads go to the store, slower, and other instances' changes may arrive late. ${redis.detail || ''}`]);
  const origin = ready && ready.origin;
  if (origin && origin.status === 'degraded')
    tips.push(['warn', `The service behind the ${origin.name} origin is failing: ${origin.detail}. Cached profiles are still served (stale ones for up to --stale-if-error); reads that miss every tier get 502 until it recovers.`]);
  else if (origin && origin.status !== 'ok')
    tips.push(['warn', `The ${origin.name} origin is down: ${origin.detail}. Reads that miss every tier and writes fail (502 or 503, see docs/api.md); this instance reports unready.`]);
  if (rates.originErrors > 0)
    tips.push(['warn', `The origin answers errors (${rates.originErrors.toFixed(2)}/s): see the log for level=warn and level=error lines.`]);
  if (s.latency_ms && s.latency_ms.p99 > 50)
    tips.push(['warn', `p99 latency is ${s.latency_ms.p99.toFixed(1)} ms: look at the origin call rate and the store's disk; more --workers helps only if the CPU is busy.`]);
  if (rates.redisTimeouts > 0)
    tips.push(['warn', `Redis commands time out (${rates.redisTimeouts.toFixed(1)}/s): Redis is slow or far; check its latency, or raise --redis-timeout.`]);
  if (!tips.length) tips.push(['ok', 'All figures look healthy.']);
  const ul = document.getElementById('advice-list');
  ul.replaceChildren(
    ...tips.map(([cls, text]) => {
      const li = document.createElement('li');
      li.className = cls;
      li.textContent = text;
      return li;
    }),
  );
}

function health(ready) {
  const el = document.getElementById('health');
  const parts = [];
  if (ready && ready.tiers) for (const [name, t] of Object.entries(ready.tiers)) parts.push([name, t.status, t.detail]);
  if (ready && ready.origin) parts.push([`origin (${ready.origin.name})`, ready.origin.status, ready.origin.detail]);
  el.replaceChildren(
    ...parts.map(([name, st, detail]) => {
      const span = document.createElement('span');
      span.className = st;
      span.title = detail || '';
      span.textContent = `${name}: ${st}`;
      return span;
    }),
  );
}

async function tick() {
  try {
    const [stats, metricsText, ready] = await Promise.all([
      getJSON('/v1/stats'),
      fetch('/metrics', { cache: 'no-store' }).then((r) => r.text()),
      getJSON('/readyz').catch(() => ({ doc: null })),
    ]);
    const s = stats.doc;
    const m = parseMetrics(metricsText);
    const now = Date.now() / 1000;
    const cur = {
      t: now,
      requests: s.requests,
      origin: s.origin_calls,
      originErrors: s.origin_errors,
      coalesced: s.coalesced,
      bytes: s.bytes_served_from_cache,
      evictions: sum(m, 'cameo_tier_evictions_total', (l) => l.tier === 'memory'),
      redisTimeouts: sum(m, 'cameo_tier_timeouts_total'),
    };
    const rates = {};
    if (prev) {
      const dt = Math.max(cur.t - prev.t, 0.001);
      for (const k of Object.keys(cur)) if (k !== 't') rates[k] = Math.max(0, (cur[k] - prev[k]) / dt);
    } else {
      for (const k of Object.keys(cur)) rates[k] = 0;
    }
    prev = cur;
    const hr = s.hit_rate || {};
    const mem = (s.tiers && s.tiers.memory) || {};
    push(charts.rps, now, [rates.requests]);
    push(charts.hits, now, [hr.memory * 100, hr.redis === undefined ? null : hr.redis * 100, hr.overall * 100]);
    push(charts.latency, now, [s.latency_ms.p50, s.latency_ms.p99]);
    push(charts.origin, now, [rates.origin, rates.coalesced, rates.originErrors]);
    push(charts.bytes, now, [rates.bytes / 1024]);
    push(charts.memory, now, [mem.capacity ? (100 * mem.bytes) / mem.capacity : 0, rates.evictions]);
    document.getElementById('summary').textContent =
      `up ${s.uptime_s} s · ${s.requests} requests · hit rate ${(hr.overall * 100).toFixed(1)}% · ` +
      `${s.origin_calls_avoided} store reads avoided · ${(s.bytes_served_from_cache / 1048576).toFixed(2)} MiB from cache`;
    health(ready.doc);
    advise(s, ready.doc, rates);
    state.points++;
  } catch (e) {
    state.errors++;
    document.getElementById('summary').textContent = `cameo does not answer: ${e.message}`;
  }
}

tick();
setInterval(tick, EVERY_MS);
