// Live view: decisions per second by outcome, p99 check latency and the top
// reasons over the last minutes, from the server's own /metrics, drawn as SVG.
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

// topReasons draws the reasons counted most over the window as horizontal
// bars: code and decision, how many and their rate per second.
const TOP = 8;
function topReasons(counts, seconds) {
  const top = Object.entries(counts).map(([k, c]) => [k, c.reduce((a, b) => a + b, 0)])
    .filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP);
  if (!top.length) return el('p', { id: 'top-reasons' }, 'No decision gave a reason in this window.');
  const rowH = 22, labelW = 300, barW = 220, max = top[0][1];
  const g = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries({ id: 'top-reasons', width: labelW + barW + 140, height: rowH * top.length + 4, role: 'img', 'aria-label': 'Top reasons' })) g.setAttribute(k, v);
  top.forEach(([key, n], i) => {
    const [code, decision] = JSON.parse(key);
    const y = i * rowH + 2;
    const label = document.createElementNS(SVG, 'text');
    for (const [k, v] of Object.entries({ x: 0, y: y + 15, class: 'chart-label' })) label.setAttribute(k, v);
    label.textContent = `${code} (${decision})`;
    const bar = document.createElementNS(SVG, 'rect');
    for (const [k, v] of Object.entries({ x: labelW, y, width: Math.max(1, Math.round((barW * n) / max)), height: rowH - 6, class: 'bar' })) bar.setAttribute(k, v);
    const value = document.createElementNS(SVG, 'text');
    for (const [k, v] of Object.entries({ x: labelW + barW + 8, y: y + 15, class: 'chart-label' })) value.setAttribute(k, v);
    value.textContent = `${Math.round(n)} (${(n / Math.max(seconds, 1e-9)).toFixed(2)} /s)`;
    g.append(label, bar, value);
  });
  return g;
}

export default async function live(section) {
  section.append(el('h2', { id: 'page-title' }, 'Live view'),
    el('p', {}, 'Decisions per second by outcome, the p99 check latency and the top reasons, sampled from /metrics every 2 seconds while this page is open.'));
  const result = status();
  const charts = el('div');
  section.append(result, charts);
  if (timer) clearInterval(timer);
  let prev = null;
  const rates = {};
  const p99 = [];
  const reasons = {}; // JSON [code, decision] → reasons counted per sample
  const spans = []; // seconds between samples, aligned with reasons
  async function sample() {
    if (!section.isConnected) { clearInterval(timer); timer = null; return; }
    const key = sessionStorage.getItem('pdp-console-key');
    const resp = await fetch('/metrics', { headers: key ? { 'X-PDP-Api-Key': key } : {}, credentials: 'omit', cache: 'no-store' });
    if (!resp.ok) { result.textContent = `/metrics answered ${resp.status}`; return; }
    const ms = parseMetrics(await resp.text());
    const now = { t: Date.now(), by: {}, buckets: [], reasons: {} };
    for (const m of ms) {
      if (m.name === 'pdp_decisions_total') now.by[m.labels.decision || 'other'] = m.value;
      if (m.name === 'pdp_decision_reasons_total') now.reasons[JSON.stringify([m.labels.code || 'other', m.labels.decision || 'other'])] = m.value;
      if (m.name === 'pdp_check_duration_seconds_bucket') now.buckets.push([m.labels.le === '+Inf' ? Infinity : Number(m.labels.le), m.value]);
    }
    if (prev) {
      const dt = (now.t - prev.t) / 1000;
      for (const k of new Set([...Object.keys(now.by), ...Object.keys(rates)])) {
        (rates[k] = rates[k] || []).push(Math.max(0, ((now.by[k] || 0) - (prev.by[k] || 0)) / dt));
        if (rates[k].length > WINDOW) rates[k].shift();
      }
      for (const k of new Set([...Object.keys(now.reasons), ...Object.keys(reasons)])) {
        (reasons[k] = reasons[k] || new Array(spans.length).fill(0)).push(Math.max(0, (now.reasons[k] || 0) - (prev.reasons[k] || 0)));
        if (reasons[k].length > WINDOW) reasons[k].shift();
      }
      spans.push(dt);
      if (spans.length > WINDOW) spans.shift();
      const diff = now.buckets.map(([le, c], i) => [le, c - ((prev.buckets[i] || [])[1] || 0)]);
      const q = quantile(diff.filter(([le]) => Number.isFinite(le)).concat(diff.filter(([le]) => !Number.isFinite(le))), 0.99);
      p99.push(Number.isFinite(q) ? q * 1000 : 0);
      if (p99.length > WINDOW) p99.shift();
      charts.replaceChildren(
        el('h3', {}, 'Decisions per second by outcome'), chart('Decisions per second by outcome', Object.entries(rates).map(([name, points]) => ({ name, points })), '/s'),
        el('h3', {}, 'p99 check latency'), chart('p99 check latency in milliseconds', [{ name: 'p99', points: p99 }], 'ms'),
        el('h3', {}, 'Top reasons'), topReasons(reasons, spans.reduce((a, b) => a + b, 0)));
    }
    result.textContent = `Sampled at ${new Date(now.t).toISOString()}.`;
    prev = now;
  }
  await sample();
  timer = setInterval(() => { sample().catch((e) => { result.textContent = String(e); }); }, 2000);
}
