// Users: what the PDP remembers about a user, MFA reset, unsuspension,
// export and erasure (GDPR). Every call is audited with its reason.
import { admin } from './api.js';
import { el, labelled, button, status, showError, showOK, table, formatTime, download } from './ui.js';
import { tenantPicker } from './tenants.js';

export default async function users(section, ctx, [tenant, user]) {
  section.append(el('h2', { id: 'page-title' }, 'Users'));
  const picked = tenantPicker(ctx, tenant, '', (t) => { location.hash = `#/users/${encodeURIComponent(t)}`; }, { withEnv: false });
  const id = el('input', { type: 'text', value: user || '' });
  const reason = el('input', { type: 'text' });
  const result = status();
  const profile = el('div');
  const confirmBox = el('div');
  const body = () => ({ tenant: picked.tenant, userId: id.value.trim(), reason: reason.value });
  const run = (f) => async () => { try { await f(); } catch (e) { showError(result, e); } };
  const lookUp = button('Look up');
  const reset = button('Reset MFA');
  const unsuspend = button('Unsuspend');
  const exp = button('Export');
  const erase = button('Erase');
  lookUp.addEventListener('click', run(async () => { show((await admin('GetUserProfile', body())).profile); showOK(result, 'Profile read (audited).'); }));
  reset.addEventListener('click', run(async () => { show((await admin('ResetUserMFA', body())).profile); showOK(result, 'MFA reset: the user enrols a second factor again.'); }));
  unsuspend.addEventListener('click', run(async () => { show((await admin('UnsuspendUser', body())).profile); showOK(result, 'Suspension lifted.'); }));
  exp.addEventListener('click', run(async () => {
    const r = await admin('ExportUserData', body());
    download(`user-${picked.tenant}-${body().userId}.json`, 'application/json', JSON.stringify(r, null, 2) + '\n');
    showOK(result, 'Exported: the profile and the audit events that target the user.');
  }));
  erase.addEventListener('click', () => {
    const who = body().userId;
    const yes = button(`Erase ${who}`);
    const no = button('Cancel');
    yes.addEventListener('click', run(async () => {
      const r = await admin('EraseUserData', body());
      confirmBox.replaceChildren();
      profile.replaceChildren();
      showOK(result, `Erased: ${r.recordsRemoved || 0} records removed.`);
    }));
    no.addEventListener('click', () => confirmBox.replaceChildren());
    confirmBox.replaceChildren(el('div', { role: 'alertdialog', 'aria-label': 'Confirm erasure', class: 'confirm' },
      el('p', {}, `Erase everything stored about ${who} in ${picked.tenant}? This cannot be undone.`), yes, ' ', no));
    yes.focus();
  });
  function show(p) {
    if (!p) { profile.replaceChildren(); return; }
    const hours = (p.loginHours || []).map((n, h) => [h, n]).filter(([, n]) => n > 0).map(([h, n]) => `${String(h).padStart(2, '0')}:00 (${n})`).join(', ');
    const last = p.lastLogin || {};
    profile.replaceChildren(el('dl', {},
      el('dt', {}, 'Last login'), el('dd', {}, last.time ? `${formatTime(last.time)} from ${last.ip || '?'} (${last.country || '?'})` : 'never'),
      el('dt', {}, 'Logins'), el('dd', {}, String(p.loginCount || 0)),
      el('dt', {}, 'Failed logins'), el('dd', {}, String(p.failedLogins || 0)),
      el('dt', {}, 'Usual hours (UTC)'), el('dd', {}, hours || 'none yet'),
      el('dt', {}, 'Suspended'), el('dd', {}, p.suspended ? `yes, ${p.suspendedReason || ''} at ${formatTime(p.suspendedAt)}` : 'no'),
      el('dt', {}, 'MFA reset'), el('dd', {}, p.mfaResetAt ? formatTime(p.mfaResetAt) : 'never')),
    table(['Device', 'First seen', 'Last seen'], (p.devices || []).map((d) => [d.id, formatTime(d.firstSeen), formatTime(d.lastSeen)]), 'Known devices'),
    table(['Country', 'Last seen'], (p.countries || []).map((c) => [c.country, formatTime(c.lastSeen)]), 'Countries'));
  }
  section.append(picked.element, labelled('User id', id), labelled('Reason', reason, 'Recorded in the audit log; reading a profile is audited too.'),
    el('p', {}, lookUp, ' ', reset, ' ', unsuspend, ' ', exp, ' ', erase), confirmBox, result, profile);
}
