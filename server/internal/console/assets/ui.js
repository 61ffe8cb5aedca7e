// Small DOM helpers: every text goes in as text, never as markup.

// el builds an element: attrs are attributes (on* are refused), children
// are nodes or strings.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) throw new Error('no inline handlers');
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

let ids = 0;
export const uid = (p) => `${p}-${++ids}`;

// labelled is a label and its control, with a hint and an error slot that
// the control names in aria-describedby.
export function labelled(text, control, hint) {
  const id = control.id || (control.id = uid('f'));
  const err = el('p', { class: 'error', id: id + '-error', role: 'alert' });
  const described = [err.id];
  // A group of checkboxes is named by its legend, a single control by its label.
  if (control.tagName === 'FIELDSET') control.prepend(el('legend', {}, text));
  const parts = control.tagName === 'FIELDSET' ? [control] : [el('label', { for: id }, text), control];
  if (hint) {
    const h = el('p', { class: 'hint', id: id + '-hint' }, hint);
    described.push(h.id);
    parts.push(h);
  }
  control.setAttribute('aria-describedby', described.join(' '));
  parts.push(err);
  return el('div', { class: 'field' }, parts);
}

// setError shows msg next to control (or clears it with '').
export function setError(control, msg) {
  const err = document.getElementById(control.id + '-error');
  if (err) err.textContent = msg;
  if (msg) control.setAttribute('aria-invalid', 'true'); else control.removeAttribute('aria-invalid');
}

export function select(options, value) {
  const s = el('select');
  for (const o of options) {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    s.append(el('option', { value: v, selected: v === value }, text));
  }
  return s;
}

export function button(text, attrs) { return el('button', { type: 'button', ...attrs }, text); }

// status is a polite live region for results.
export function status() { return el('p', { role: 'status', class: 'status' }); }

export function showError(region, e) {
  region.textContent = e && e.code ? `${e.code}: ${e.message}` : String(e && e.message || e);
  region.classList.add('failed');
}

export function showOK(region, text) {
  region.textContent = text;
  region.classList.remove('failed');
}

// Durations: the API's "14400s" shown as "4h".
export function formatDuration(s) {
  if (!s) return '';
  let secs = Math.round(parseFloat(String(s).replace(/s$/, '')));
  if (!Number.isFinite(secs)) return String(s);
  let out = '';
  for (const [unit, n] of [['h', 3600], ['m', 60], ['s', 1]]) {
    if (secs >= n) { out += Math.floor(secs / n) + unit; secs %= n; }
  }
  return out || '0s';
}

// parseDuration turns "4h", "90m", "1h30m" or "300s" into the API's "5400s";
// anything else is sent as typed, for the server to refuse by name.
export function parseDuration(text) {
  const t = text.trim();
  if (!t) return undefined;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
  if (!m || t === '') return t;
  const secs = (+(m[1] || 0)) * 3600 + (+(m[2] || 0)) * 60 + (+(m[3] || 0));
  return secs + 's';
}

export function lines(text) { return text.split('\n').map((l) => l.trim()).filter(Boolean); }

export function table(headers, rows, caption) {
  return el('table', {},
    caption ? el('caption', {}, caption) : null,
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))));
}

export function formatTime(ts) { return ts ? new Date(ts).toISOString().replace('.000Z', 'Z') : ''; }

export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
