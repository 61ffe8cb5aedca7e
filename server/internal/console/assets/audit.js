// Audit log: the hash-chained record of every change, filtered by tenant,
// actor, action, target and time, with the chain's links checked.
import { allPages } from './api.js';
import { el, labelled, status, table, formatTime } from './ui.js';
import { tenantPicker } from './tenants.js';

// checkLinks checks that each event names the hash of the one before it;
// for the whole log (no tenant filter) it reports the first broken link.
export function checkLinks(events) {
  for (let i = 1; i < events.length; i++) {
    if (events[i].prevHash !== events[i - 1].hash) return { ok: false, at: events[i] };
  }
  return { ok: true };
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
    labelled('From', since), labelled('Until', until), el('button', { type: 'submit' }, 'Filter'));
  const chain = el('p', { role: 'status', class: 'status', id: 'chain-status' });
  const result = el('div');
  section.append(form, chain, result);

  const events = await allPages('ListAuditEvents', picked.tenant ? { tenant: picked.tenant } : {}, 'events');
  const latest = events[events.length - 1];
  if (picked.tenant) {
    chain.textContent = `${events.length} events of ${picked.tenant}. Choose every tenant to check the chain's links.`;
  } else {
    const links = checkLinks(events);
    chain.textContent = links.ok
      ? `Chain links verified: all ${events.length} events link to the one before; latest event ${latest ? latest.id + ' at ' + formatTime(latest.time) + ', hash ' + latest.hash : '(none)'}.`
      : `Chain broken: event ${links.at.id} does not link to the event before it.`;
    chain.classList.toggle('failed', !links.ok);
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
