// Decision explorer: "why was this denied?". The request is a real Check
// with explain set, so it is decided, logged and counted like any other.
import { admin, decisions } from './api.js';
import { el, labelled, status, showError, table, formatDuration, formatTime } from './ui.js';

const EXAMPLE = {
  tenant: 'acme', environment: 'production',
  subject: { id: 'u1', email: 'dana@acme.com', roles: ['viewer'], mfaEnrolled: true },
  authentication: { provider: 'google', mfaVerifiedAt: new Date(Date.now() - 600000).toISOString() },
  network: { ip: '203.0.113.10', country: 'US' },
  action: { name: 'api.write' },
};

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// riskChart draws the risk factors' weights as horizontal bars.
export function riskChart(factors) {
  const rowH = 22, labelW = 190, barW = 300;
  const chart = svg('svg', { width: labelW + barW + 60, height: rowH * factors.length + 4, role: 'img', 'aria-label': 'Risk factors by weight' });
  factors.forEach((f, i) => {
    const y = i * rowH + 2;
    chart.append(svg('text', { x: 0, y: y + 15, class: 'chart-label' }, f.name));
    chart.append(svg('rect', { x: labelW, y, width: Math.max(1, Math.round(barW * Math.min(1, f.weight || 0))), height: rowH - 6, class: 'bar' }));
    chart.append(svg('text', { x: labelW + barW + 8, y: y + 15, class: 'chart-label' }, (f.weight || 0).toFixed(2)));
  });
  return chart;
}

// render shows a CheckResponse: the decision, every reason, the step-ups,
// the risk factors as a bar chart, the session controls and every rule.
function render(out, result, r) {
  const decision = (r.decision || '').replace('DECISION_', '').toLowerCase();
  result.textContent = `Decision: ${decision}${r.enforced === false ? ' (not enforced; would decide ' + (r.wouldDecide || '').replace('DECISION_', '').toLowerCase() + ')' : ''}`;
  result.classList.toggle('failed', decision !== 'allow');
  const risk = r.risk || {};
  out.replaceChildren(
    el('dl', {}, el('dt', {}, 'Decision'), el('dd', { id: 'decision' }, decision),
      el('dt', {}, 'Decision id'), el('dd', {}, r.decisionId ? el('a', { href: '#/explain/' + encodeURIComponent(r.decisionId) }, r.decisionId) : ''),
      el('dt', {}, 'Policy revision'), el('dd', {}, r.policyRevision || ''),
      el('dt', {}, 'Risk'), el('dd', {}, `${(risk.score || 0).toFixed(2)} ${(risk.level || '').replace('RISK_LEVEL_', '').toLowerCase()}`)),
    el('h3', {}, 'Reasons'),
    (r.reasons || []).length ? table(['Code', 'Message', 'Rule'], r.reasons.map((x) => [x.code, x.message, x.rule || '']), 'Reasons') : el('p', {}, 'No reasons.'),
    el('h3', {}, 'Step-ups'),
    (r.stepUps || []).length ? table(['Kind', 'Max age', 'Providers', 'Deadline', 'Reason'],
      r.stepUps.map((s) => [(s.kind || '').replace('STEP_UP_', '').toLowerCase(), formatDuration(s.maxAge), (s.allowedProviders || []).join(', '), formatTime(s.deadline), s.reasonCode || '']), 'Step-ups') : el('p', {}, 'No step-ups.'),
    el('h3', {}, 'Risk factors'),
    (risk.factors || []).length ? riskChart(risk.factors) : el('p', {}, 'No risk factors.'),
    el('h3', {}, 'Session'),
    r.session ? el('p', {}, [
      r.session.idleTimeout && `Idle timeout ${formatDuration(r.session.idleTimeout)}.`,
      r.session.expiresAt && `Expires ${formatTime(r.session.expiresAt)}.`,
      r.session.warnAt && `Warn at ${formatTime(r.session.warnAt)}.`,
    ].filter(Boolean).join(' ')) : el('p', {}, 'No session controls.'),
    el('h3', {}, 'Explanation'),
    (r.explanation || []).length ? table(['Rule', 'Code', 'Effect', 'Fired', 'Detail'],
      r.explanation.map((x) => [x.rule, x.code || '', (x.effect || '').replace('EFFECT_', '').toLowerCase(), x.matched ? 'yes' : 'no', x.message || '']), 'Every rule evaluated') : el('p', {}, 'No explanation.'));
}

export default async function explain(section, ctx, [decisionId]) {
  section.append(el('h2', { id: 'page-title' }, 'Decision explorer'),
    el('p', {}, 'Why was this denied? Explain a logged decision by its id, or fill in or paste a request.'));
  const result = status();
  const out = el('div');

  // A logged decision, evaluated again from its recorded input (GetDecision).
  const id = el('input', { type: 'text', value: decisionId || '' });
  const why = el('input', { type: 'text' });
  const logged = el('form', { 'aria-label': 'Logged decision' }, el('h3', {}, 'A logged decision'),
    el('p', {}, 'Needs a server with --decision-log and --decision-log-inputs; reading a decision is audited.'),
    labelled('Decision id', id), labelled('Reason for reading the decision', why), el('button', { type: 'submit' }, 'Explain decision'));
  logged.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await admin('GetDecision', { decisionId: id.value.trim(), reason: why.value });
      render(out, result, r.explained || {});
      if (!r.recordedRevision) out.prepend(el('p', { class: 'failed' }, 'The revision that decided is no longer held: the policy serving now evaluated it again.'));
      if ((r.approximate || []).length) out.prepend(el('p', {}, `Approximate in the masked fields: ${r.approximate.join(', ')}.`));
    } catch (e) { out.replaceChildren(); showError(result, e); }
  });

  // A new request: a real Check with explain set.
  const req = el('textarea', { rows: 14, spellcheck: 'false', class: 'code' });
  req.value = JSON.stringify(EXAMPLE, null, 2);
  const form = el('form', { 'aria-label': 'Request' }, el('h3', {}, 'A request'),
    el('p', {}, 'This makes a real decision: it is logged and counted like any other, and needs an admin key.'),
    labelled('Request', req, 'A pdp.v1.CheckRequest in JSON.'), el('button', { type: 'submit' }, 'Explain'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let body;
    try { body = JSON.parse(req.value); } catch (e) { showError(result, { code: 'INVALID_ARGUMENT', message: 'the request is not JSON: ' + e.message }); return; }
    try { render(out, result, await decisions('Check', { ...body, explain: true })); } catch (e) { out.replaceChildren(); showError(result, e); }
  });
  section.append(logged, form, result, out);
}
