// Live view: decisions per second by outcome and p99 check latency over the
// last minutes, from the server's own /metrics, drawn as SVG.
import { el, status } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const WINDOW = 150; // samples kept: 5 minutes at one every 2 seconds
let timer = null;

// parseMetrics reads the Prometheus text format: name{labels} value.
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

// p99 of a cumulative histogram's buckets [le, count].
function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return 0;
  for (const [le, c] of buckets) if (c >= q * total) return le;
  return buckets[buckets.length - 1][0];
}

function chart(label, series, unit) {
  const w = 600, h = 140, max = Math.max(1e-9, ...series.flatMap((s) => s.points));
  const g = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries({ width: w, height: h + 20, role: 'img', 'aria-label': label })) g.setAttribute(k, v);
  series.forEach((s, i) => {
    const p = document.createElementNS(SVG, 'polyline');
    p.setAttribute('points', s.points.map((v, x) => `${(x * w) / (WINDOW - 1)},${h - (v / max) * h}`).join(' '));
    p.setAttribute('class', 'line line-' + i);
    g.append(p);
    const t = document.createElementNS(SVG, 'text');
    t.setAttribute('x', 4 + i * 120); t.setAttribute('y', h + 16); t.setAttribute('class', 'chart-label line-' + i);
    t.textContent = `${s.name}: ${(s.points[s.points.length - 1] || 0).toFixed(unit === 'ms' ? 1 : 2)} ${unit}`;
    g.append(t);
  });
  return g;
}

export default async function live(section) {
  section.append(el('h2', { id: 'page-title' }, 'Live view'),
    el('p', {}, 'Decisions per second by outcome and the p99 check latency, sampled from /metrics every 2 seconds while this page is open.'));
  const result = status();
  const charts = el('div');
  section.append(result, charts);
  if (timer) clearInterval(timer);
  let prev = null;
  const rates = {};
  const p99 = [];
  async function sample() {
    if (!section.isConnected) { clearInterval(timer); timer = null; return; }
    const key = sessionStorage.getItem('pdp-console-key');
    const resp = await fetch('/metrics', { headers: key ? { 'X-PDP-Api-Key': key } : {}, credentials: 'omit', cache: 'no-store' });
    if (!resp.ok) { result.textContent = `/metrics answered ${resp.status}`; return; }
    const ms = parseMetrics(await resp.text());
    const now = { t: Date.now(), by: {}, buckets: [] };
    for (const m of ms) {
      if (m.name === 'pdp_decisions_total') now.by[m.labels.decision || 'other'] = m.value;
      if (m.name === 'pdp_check_duration_seconds_bucket') now.buckets.push([m.labels.le === '+Inf' ? Infinity : Number(m.labels.le), m.value]);
    }
    if (prev) {
      const dt = (now.t - prev.t) / 1000;
      for (const k of new Set([...Object.keys(now.by), ...Object.keys(rates)])) {
        (rates[k] = rates[k] || []).push(Math.max(0, ((now.by[k] || 0) - (prev.by[k] || 0)) / dt));
        if (rates[k].length > WINDOW) rates[k].shift();
      }
      const diff = now.buckets.map(([le, c], i) => [le, c - ((prev.buckets[i] || [])[1] || 0)]);
      const q = quantile(diff.filter(([le]) => Number.isFinite(le)).concat(diff.filter(([le]) => !Number.isFinite(le))), 0.99);
      p99.push(Number.isFinite(q) ? q * 1000 : 0);
      if (p99.length > WINDOW) p99.shift();
      charts.replaceChildren(
        el('h3', {}, 'Decisions per second by outcome'), chart('Decisions per second by outcome', Object.entries(rates).map(([name, points]) => ({ name, points })), '/s'),
        el('h3', {}, 'p99 check latency'), chart('p99 check latency in milliseconds', [{ name: 'p99', points: p99 }], 'ms'));
    }
    result.textContent = `Sampled at ${new Date(now.t).toISOString()}.`;
    prev = now;
  }
  await sample();
  timer = setInterval(() => { sample().catch((e) => { result.textContent = String(e); }); }, 2000);
}
