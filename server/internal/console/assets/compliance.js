// Compliance report: the compliance library's findings for one tenant
// environment and framework, printable and downloadable.
import { admin } from './api.js';
import { el, labelled, select, button, status, showError, table, download } from './ui.js';
import { tenantPicker } from './tenants.js';

const FRAMEWORKS = ['HIPAA', 'PCI_DSS', 'SOX', 'GDPR'];

export default async function compliance(section, ctx, [tenant, env, framework]) {
  section.append(el('h2', { id: 'page-title' }, 'Compliance report'));
  const fw = select(FRAMEWORKS, framework || 'HIPAA');
  const go = (t, e, f) => { location.hash = `#/compliance/${encodeURIComponent(t)}/${encodeURIComponent(e)}/${f}`; };
  const picked = tenantPicker(ctx, tenant, env, (t, e) => go(t, e, fw.value));
  fw.addEventListener('change', () => go(picked.tenant, picked.env, fw.value));
  section.append(el('div', { class: 'picker no-print' }, picked.element, labelled('Framework', fw)));
  if (!picked.tenant) return;
  const result = status();
  section.append(result);
  let report;
  try {
    report = await admin('ComplianceReport', { tenant: picked.tenant, environment: picked.env, framework: fw.value });
  } catch (e) { showError(result, e); return; }
  const findings = report.findings || [];
  const failed = findings.filter((f) => f.status === 'fail').length;
  const print = button('Print', { class: 'no-print' });
  print.addEventListener('click', () => window.print());
  const dl = button('Download', { class: 'no-print' });
  const name = `compliance-${report.tenant}-${report.environment}-${report.framework}`;
  dl.addEventListener('click', () => download(name + '.json', 'application/json', JSON.stringify(report, null, 2) + '\n'));
  section.append(
    el('h3', {}, `${report.framework} — ${report.tenant} / ${report.environment}`),
    el('p', { class: report.compliant ? 'pass' : 'fail' },
      report.compliant ? `Compliant: every one of ${findings.length} controls passes.` : `Not compliant: ${failed} of ${findings.length} controls fail.`),
    el('p', { class: 'no-print' }, print, ' ', dl),
    table(['Control', 'Severity', 'Status', 'Finding', 'Remediation'],
      findings.map((f) => [f.control, f.severity, f.status, f.finding, f.status === 'fail' ? f.remediation : '']),
      `Findings of ${report.framework}`));
}
