// The tenant and environment choice shared by the pages.
import { el, labelled, select } from './ui.js';

// tenantPicker offers the tenants the key may see; onChange(tenant, env)
// runs when either changes. withAll adds an "every tenant" choice.
export function tenantPicker(ctx, tenant, env, onChange, { withAll = false, withEnv = true } = {}) {
  const names = ctx.tenants.map((t) => t.tenant);
  if (!withAll && !tenant) tenant = names[0];
  const opts = names.map((n) => [n, n]);
  if (tenant && !names.includes(tenant)) opts.push([tenant, tenant]); // asked for by the address: the API decides
  const t = select(withAll ? [['', '(every tenant)'], ...opts] : opts, tenant || '');
  const summary = ctx.tenants.find((x) => x.tenant === tenant);
  const envs = summary && summary.environments && summary.environments.length ? summary.environments : ['production'];
  if (!env) env = envs.includes('production') ? 'production' : envs[0];
  const e = select(envs.includes(env) ? envs : [...envs, env], env);
  t.addEventListener('change', () => onChange(t.value, ''));
  e.addEventListener('change', () => onChange(t.value, e.value));
  const element = el('div', { class: 'picker' }, labelled('Tenant', t), withEnv ? labelled('Environment', e) : null);
  return { element, tenant: withAll ? tenant || '' : tenant, env };
}
