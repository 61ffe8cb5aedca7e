// Audit log: the hash-chained record of every change, filtered by tenant,
// actor, action, target and time, with the server's verification of the
// whole chain and its latest signed checkpoint.
import { admin, allPages } from './api.js';
import { el, labelled, table, formatTime } from './ui.js';
import { tenantPicker } from './tenants.js';

// chainStatus describes VerifyAuditLog's answer.
export function chainStatus(r) {
  const head = r.head ? `, head ${r.head}` : '';
  return r.intact ? `Chain verified: all ${r.events || 0} events intact${head}.`
    : `Chain broken after ${r.events || 0} sound events: ${r.broken}`;
}

export function checkpointStatus(cp) {
  if (!cp) return 'No signed checkpoint: the server runs without --audit-checkpoints, or has written none yet.';
  const what = `Latest checkpoint: seq ${cp.seq || 0}, event ${cp.eventId || '(none)'}, signed ${formatTime(cp.time)} by key ${cp.keyId}`;
  return cp.held ? `${what}; the chain holds it.` : `${what}; the chain no longer holds it: ${cp.problem}`;
}

export default async function audit(section, ctx, [tenant]) {
  section.append(el('h2', { id: 'page-title' }, 'Audit log'));
  const picked = tenantPicker(ctx, tenant, '', (t) => { location.hash = `#/audit/${encodeURIComponent(t)}`; }, { withAll: true, withEnv: false });
  const actor = el('input', { type: 'text' });
  const action = el('input', { type: 'text' });
  const target = el('input', { type: 'text' });
  const since = el('input', { type: 'datetime-local' });
  const until = el('input', { type: 'datetime-local' });
  const form = el('form', { class: 'filters', 'aria-label': 'Filters' }, picked.element,
    labelled('Actor', actor), labelled('Action', action, 'Such as tenant_policy.put; a prefix matches.'), labelled('Target', target),
    labelled('From', since, 'UTC.'), labelled('Until', until, 'UTC.'), el('button', { type: 'submit' }, 'Filter'));
  const chain = el('p', { role: 'status', class: 'status', id: 'chain-status' });
  const checkpoint = el('p', { role: 'status', class: 'status', id: 'checkpoint-status' });
  const result = el('div');
  section.append(form, chain, checkpoint, result);

  const events = await allPages('ListAuditEvents', picked.tenant ? { tenant: picked.tenant } : {}, 'events');
  try {
    const r = await admin('VerifyAuditLog', {});
    chain.textContent = chainStatus(r);
    chain.classList.toggle('failed', !r.intact);
    checkpoint.textContent = checkpointStatus(r.latestCheckpoint);
    checkpoint.classList.toggle('failed', !!r.latestCheckpoint && !r.latestCheckpoint.held);
  } catch (e) {
    chain.textContent = e.code === 'PERMISSION_DENIED' ? 'Verifying the chain needs an admin key: it spans every tenant.' : `${e.code}: ${e.message}`;
  }
  function show() {
    const from = since.value ? new Date(since.value + 'Z').getTime() : -Infinity;
    const to = until.value ? new Date(until.value + 'Z').getTime() : Infinity;
    const rows = events.filter((e) => (!actor.value || e.actor === actor.value.trim()) &&
      (!action.value || (e.action || '').startsWith(action.value.trim())) &&
      (!target.value || (e.target || '').includes(target.value.trim())) &&
      new Date(e.time).getTime() >= from && new Date(e.time).getTime() <= to);
    result.replaceChildren(el('p', { role: 'status' }, `${rows.length} of ${events.length} events.`),
      table(['Time', 'Actor', 'Action', 'Tenant', 'Target', 'Reason', 'Hash'],
        rows.slice().reverse().map((e) => [formatTime(e.time), e.actor, e.action, e.tenant || '', e.target || '', e.reason || '', (e.hash || '').slice(0, 12)]),
        'Audit events, newest first'));
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); show(); });
  show();
}
