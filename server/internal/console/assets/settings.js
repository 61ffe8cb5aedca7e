// Security settings: every control of a tenant environment's policy, saved
// through PutTenantPolicy. The body replaces the whole policy, so the form
// starts from the policy as read and changes only the controls shown.
import { admin, APIError } from './api.js';
import { el, labelled, setError, select, button, status, showError, showOK, formatDuration, parseDuration, lines, formatTime } from './ui.js';
import { tenantPicker } from './tenants.js';
import ipRules from './iprules.js';

const tri = [['', '(preset default)'], ['true', 'On'], ['false', 'Off']];

// SECTIONS lists the controls: label (the docs' name), the proto path
// below the environment, and the kind of value.
const SECTIONS = [
  ['Baseline', [
    ['Preset', 'preset', 'select', [['', '(none)'], 'development', 'staging', 'production']],
  ]],
  ['Multi-factor authentication', [
    ['MFA mode', 'mfa.mode', 'select', [['', '(preset default)'], 'off', 'all', 'privileged']],
    ['Privileged roles', 'mfa.privileged_roles', 'list', 'One role per line; used when the mode is "privileged".'],
    ['Enforcement date', 'mfa.enforced_from', 'timestamp', 'RFC 3339, such as 2026-01-01T00:00:00Z; the grace period runs from here.'],
    ['Grace period', 'mfa.grace_period', 'duration', 'Such as 336h.'],
    ['Max age', 'mfa.max_age', 'duration', 'How recent the last second factor must be, such as 12h.'],
  ]],
  ['Identity providers and emergency access', [
    ['Allowed providers', 'auth_providers.allowed', 'list', 'One provider per line, such as google or saml:okta; empty allows any.'],
    ['Emergency access', 'auth_providers.emergency.enabled', 'bool'],
    ['Emergency providers', 'auth_providers.emergency.providers', 'list'],
    ['Break-glass users', 'auth_providers.emergency.break_glass_users', 'list', 'One user id or email per line; emergency access lasts while SSO is marked down.'],
    ['Emergency access expires after', 'auth_providers.emergency.max_duration', 'duration', 'How long after SSO is marked down emergency access ends, between 15m and 168h; empty: when SSO is marked up.'],
  ]],
  ['Email domains', [
    ['Allowed email domains', 'email_domains', 'domains', 'One domain per line; write *.acme.com to include its subdomains.'],
  ]],
  ['Networks and countries', [
    ['IP allow list', 'ip_allowlist', 'list', 'One CIDR or address per line; empty allows any.'],
    ['IP deny list', 'ip_denylist', 'list', 'One CIDR or address per line.'],
    ['Allowed countries', 'countries.allowed', 'list', 'ISO 3166-1 alpha-2 codes, one per line; empty allows any.'],
    ['Blocked countries', 'countries.blocked', 'list'],
  ]],
  ['Sessions', [
    ['Inactivity timeout', 'inactivity_timeout', 'duration', 'Between 1h and 24h.'],
    ['Inactivity timeout per role', 'role_inactivity_timeouts', 'durationMap', 'One "role = duration" per line; the strictest that applies wins.'],
    ['Session warning', 'session_warning', 'duration', 'How long before expiry the user is warned.'],
  ]],
  ['Data access', [
    ['Direct database queries', 'allow_direct_query', 'tri'],
    ['Cache-key isolation', 'key_isolation', 'tri'],
  ]],
  ['Risk', [
    ['Step-up threshold', 'risk.step_up_threshold', 'number'],
    ['Deny threshold', 'risk.deny_threshold', 'number'],
    ['Risk weights', 'risk.weights', 'numberMap', 'One "factor = weight" per line, such as new_country = 0.4.'],
    ['Require device verification', 'risk.require_device_verification', 'bool'],
    ['Sensitive actions', 'sensitive_actions', 'list', 'Action globs, one per line.'],
  ]],
  ['Incident response', [
    ['Failed logins threshold', 'incident.failed_logins_threshold', 'number'],
    ['Failed logins window', 'incident.failed_logins_window', 'duration'],
    ['Suspicious IP threshold', 'incident.suspicious_ip_threshold', 'number'],
    ['Auto-block duration', 'incident.auto_block_ttl', 'duration'],
    ['Suspend on privilege escalation', 'incident.suspend_on_privilege_escalation', 'tri'],
    ['Brute-force action', 'incident.brute_force_action', 'select', [['', '(default: challenge)'], 'challenge', 'deny']],
  ]],
  ['Compliance and report-only', [
    ['Compliance profiles', 'compliance', 'checks', ['HIPAA', 'PCI_DSS', 'SOX', 'GDPR']],
    ['Report-only', 'report_only', 'tri', 'Decide but do not enforce, for the whole environment.'],
    ['Report-only rules', 'report_only_rules', 'list', 'Reason codes observed but not enforced, such as risk.step_up.'],
  ]],
];

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const keys = (path) => path.split('.').map(camel);

function get(obj, path) {
  let o = obj;
  for (const k of keys(path)) { if (o == null) return undefined; o = o[k]; }
  return o;
}

function put(obj, path, value) {
  const ks = keys(path);
  let o = obj;
  for (const k of ks.slice(0, -1)) { if (o[k] == null) o[k] = {}; o = o[k]; }
  const last = ks[ks.length - 1];
  const empty = value === undefined || value === '' || (Array.isArray(value) && value.length === 0) ||
    (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
  if (empty) delete o[last]; else o[last] = value;
}

// prune removes objects left empty by put.
function prune(o) {
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      prune(v);
      if (Object.keys(v).length === 0) delete o[k];
    }
  }
  return o;
}

const mapLines = (m, f) => Object.entries(m || {}).map(([k, v]) => `${k} = ${f(v)}`).join('\n');
function parseMap(text, f) {
  const out = {};
  for (const l of lines(text)) {
    const [k, v] = l.split('=').map((s) => s.trim());
    out[k] = f(v || '');
  }
  return out;
}
const num = (t) => { const n = Number(t); return t === '' || Number.isNaN(n) ? t : n; };

// control builds one control: the element to label, how to show a value
// and how to read it back.
function control(kind, extra, id) {
  switch (kind) {
    case 'select': { const s = select(extra); return [s, (v) => { s.value = v || ''; }, () => s.value || undefined]; }
    case 'tri': { const s = select(tri); return [s, (v) => { s.value = v === undefined ? '' : String(v); }, () => (s.value === '' ? undefined : s.value === 'true')]; }
    case 'bool': { const c = el('input', { type: 'checkbox' }); return [c, (v) => { c.checked = !!v; }, () => c.checked || undefined]; }
    case 'checks': {
      const fs = el('fieldset', { class: 'checks', id });
      const boxes = extra.map((name) => { const c = el('input', { type: 'checkbox', value: name, id: `${id}-${name}` }); fs.append(el('span', {}, c, el('label', { for: c.id }, name))); return c; });
      return [fs, (v) => { for (const c of boxes) c.checked = (v || []).includes(c.value); }, () => boxes.filter((c) => c.checked).map((c) => c.value)];
    }
    case 'number': { const i = el('input', { type: 'text', inputmode: 'decimal' }); return [i, (v) => { i.value = v ?? ''; }, () => (i.value.trim() === '' ? undefined : num(i.value.trim()))]; }
    case 'duration': { const i = el('input', { type: 'text' }); return [i, (v) => { i.value = formatDuration(v); }, () => parseDuration(i.value)]; }
    case 'timestamp': { const i = el('input', { type: 'text' }); return [i, (v) => { i.value = v ? formatTime(v) : ''; }, () => i.value.trim() || undefined]; }
    case 'list': { const t = el('textarea', { rows: 3 }); return [t, (v) => { t.value = (v || []).join('\n'); }, () => lines(t.value)]; }
    case 'domains': {
      const t = el('textarea', { rows: 3 });
      return [t, (v) => { t.value = (v || []).map((d) => (d.includeSubdomains ? '*.' : '') + d.domain).join('\n'); },
        () => lines(t.value).map((l) => (l.startsWith('*.') ? { domain: l.slice(2), includeSubdomains: true } : { domain: l }))];
    }
    case 'durationMap': { const t = el('textarea', { rows: 2 }); return [t, (v) => { t.value = mapLines(v, formatDuration); }, () => parseMap(t.value, parseDuration)]; }
    case 'numberMap': { const t = el('textarea', { rows: 3 }); return [t, (v) => { t.value = mapLines(v, String); }, () => parseMap(t.value, num)]; }
    default: {
      const i = el('input', { type: 'text' }); return [i, (v) => { i.value = v || ''; }, () => i.value.trim() || undefined];
    }
  }
}

export default async function settings(section, ctx, [tenant, env]) {
  section.append(el('h2', { id: 'page-title' }, 'Security settings'));
  const picked = tenantPicker(ctx, tenant, env, (t, e) => { location.hash = `#/settings/${encodeURIComponent(t)}/${encodeURIComponent(e)}`; });
  section.append(picked.element);
  if (!picked.tenant) { section.append(el('p', {}, 'This key administers no tenant.')); return; }
  tenant = picked.tenant; env = picked.env;

  const { policy } = await admin('GetTenantPolicy', { tenant });
  const planRank = (p) => Math.max(0, ctx.plans.plans.indexOf(p));
  const envPolicy = (policy.environments || {})[env] || {};
  section.append(el('p', {}, `Tenant ${tenant} is on the `, el('strong', {}, policy.plan || 'free'), ' plan. Settings beyond it are disabled and name the plan they need.'));

  const form = el('form', { novalidate: true, 'aria-label': `Settings of ${tenant} ${env}` });
  const fields = []; // [path, control element, read]
  for (const [legend, controls] of SECTIONS) {
    const fs = el('fieldset', {}, el('legend', {}, legend));
    for (const [label, path, kind, extra, hintArg] of controls) {
      const hint = typeof extra === 'string' ? extra : hintArg;
      const id = 'set-' + path.replace(/\./g, '-');
      const [elem, show, read] = control(kind, Array.isArray(extra) ? extra : undefined, id);
      elem.id = id;
      elem.dataset.field = path;
      show(get(envPolicy, path));
      const need = ctx.plans.fields[path.split('.')[0]] || 'enterprise';
      let wrap;
      if (planRank(need) > planRank(policy.plan)) {
        elem.disabled = true;
        for (const c of elem.querySelectorAll('input')) c.disabled = true;
        wrap = labelled(label, elem, `Needs the ${need} plan.`);
        wrap.classList.add('gated');
      } else {
        wrap = labelled(label, elem, hint);
      }
      fields.push([path, elem, read, need]);
      fs.append(wrap);
    }
    form.append(fs);
  }
  const reason = el('input', { type: 'text', required: true, id: 'settings-reason' });
  const result = status();
  const summary = el('ul', { class: 'errors', 'aria-label': 'Problems' });
  form.append(el('fieldset', {}, el('legend', {}, 'Save'), labelled('Reason', reason, 'Recorded in the audit log, such as a change ticket.'),
    el('button', { type: 'submit' }, 'Save'), result, summary));
  section.append(form);

  const byPath = new Map(fields.map(([p, e]) => [p, e]));
  // fieldFor finds the control a violation names: the longest control path
  // its field starts with, below policy.environments.ENV.
  function fieldFor(name) {
    const m = /^(?:policy\.)?environments\.([^.[\]]+)\.(.*)$/.exec(name);
    if (!m || m[1] !== env) return null;
    let p = m[2].replace(/\[[^\]]*\]/g, '');
    for (;;) {
      if (byPath.has(p)) return byPath.get(p);
      const i = p.lastIndexOf('.');
      if (i < 0) return null;
      p = p.slice(0, i);
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const [, e] of fields) setError(e, '');
    setError(reason, '');
    summary.replaceChildren();
    const next = structuredClone(envPolicy);
    for (const [path, , read, need] of fields) {
      if (planRank(need) > planRank(policy.plan)) continue; // left as read
      put(next, path, read());
    }
    const body = structuredClone(policy);
    body.environments = { ...(body.environments || {}), [env]: prune(next) };
    result.textContent = 'Saving…';
    try {
      const resp = await admin('PutTenantPolicy', { reason: reason.value, policy: body });
      if (resp.pendingChange) {
        const pc = resp.pendingChange;
        showOK(result, `Pending approval: ${tenant} declares SOX, so change ${pc.id} by ${pc.author} waits for a different admin of ${tenant} (any admin key, or a tenant-admin key of ${tenant}, other than ${pc.author}) to approve it under Pending changes. Nothing changed yet.`);
        result.append(' ', el('a', { href: '#/pending' }, 'Review pending changes'));
      } else {
        showOK(result, `Saved. ${tenant} ${env} is in force with etag ${resp.policy.etag}.`);
        policy.etag = resp.policy.etag;
        Object.assign(policy, resp.policy);
      }
    } catch (e) {
      if (!(e instanceof APIError)) throw e;
      showError(result, e);
      for (const v of [...e.fields, ...e.preconditions.map((p) => ({ field: p.subject, description: p.description }))]) {
        if (v.field === 'reason') { setError(reason, v.description); continue; }
        const target = fieldFor(v.field || '');
        if (target) setError(target, v.description);
        else summary.append(el('li', {}, `${v.field}: ${v.description}`));
      }
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
    }
  });

  section.append(await ssoStatus(tenant));
  section.append(await ipRules(tenant));
}

// ssoStatus marks the tenant's SSO down or up (emergency access).
async function ssoStatus(tenant) {
  const reason = el('input', { type: 'text' });
  const result = status();
  const mark = (available) => async () => {
    try {
      const r = await admin('SetSSOStatus', { tenant, available, reason: reason.value });
      showOK(result, `SSO is marked ${r.available ? 'available' : 'down'} since ${formatTime(r.changedAt)}.`);
    } catch (e) { showError(result, e); }
  };
  const down = button('Mark SSO down'); down.addEventListener('click', mark(false));
  const up = button('Mark SSO available'); up.addEventListener('click', mark(true));
  return el('section', { 'aria-labelledby': 'sso-title' }, el('h3', { id: 'sso-title' }, 'SSO status'),
    el('p', {}, 'While SSO is marked down, the break-glass users may sign in with the emergency providers.'),
    labelled('Reason for the SSO status', reason), down, ' ', up, result);
}
