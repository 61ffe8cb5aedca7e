// IP rules of a tenant: list, add, remove, and import a feed file with a
// preview of what it holds before anything is sent.
import { admin, allPages } from './api.js';
import { el, labelled, select, button, status, showError, showOK, table, formatTime } from './ui.js';

const LISTS = [['IP_LIST_ALLOW', 'allow'], ['IP_LIST_DENY', 'deny'], ['IP_LIST_SUSPICIOUS', 'suspicious']];
const listName = (l) => (LISTS.find(([v]) => v === l) || [, l])[1];

export default async function ipRules(tenant) {
  const box = el('section', { 'aria-labelledby': 'ip-title' }, el('h3', { id: 'ip-title' }, 'IP rules'),
    el('p', {}, 'Rules added here apply next to the policy\'s own IP lists; each change is audited.'));
  const result = status();
  const list = el('div');
  async function refresh() {
    const rules = await allPages('ListIPRules', { tenant }, 'rules');
    list.replaceChildren(rules.length === 0 ? el('p', {}, 'No IP rules.') : table(['List', 'CIDR', 'Reason', 'Source', 'Expires', ''],
      rules.map((r) => {
        const rm = button('Remove', { 'aria-label': `Remove ${r.cidr}` });
        rm.addEventListener('click', async () => {
          try { await admin('RemoveIPRule', { id: r.id, reason: reason.value }); showOK(result, `Removed ${r.cidr}.`); await refresh(); } catch (e) { showError(result, e); }
        });
        return [listName(r.list), r.cidr, r.reason || '', r.source || '', formatTime(r.expiresAt), rm];
      }), 'IP rules'));
  }
  const which = select(LISTS, 'IP_LIST_DENY');
  const cidr = el('input', { type: 'text' });
  const reason = el('input', { type: 'text' });
  const add = button('Add rule');
  add.addEventListener('click', async () => {
    try { await admin('AddIPRule', { tenant, list: which.value, cidr: cidr.value.trim(), reason: reason.value }); showOK(result, `Added ${cidr.value}.`); cidr.value = ''; await refresh(); } catch (e) { showError(result, e); }
  });
  const file = el('input', { type: 'file', accept: '.txt,.netset,.ipset,text/plain' });
  const source = el('input', { type: 'text' });
  const preview = el('p', { role: 'status', class: 'status' });
  const imp = button('Import', { disabled: true });
  let feedLines = [];
  file.addEventListener('change', async () => {
    const text = file.files[0] ? await file.files[0].text() : '';
    feedLines = text.replace(/\r?\n$/, '').split(/\r?\n/).map((l) => l.trim());
    const entries = feedLines.filter((l) => l && !l.startsWith('#'));
    if (!source.value && file.files[0]) source.value = file.files[0].name.replace(/\.[^.]*$/, '');
    preview.textContent = `${entries.length} entries to import into the ${listName(which.value)} list (${feedLines.length - entries.length} comment or blank lines).`;
    imp.disabled = entries.length === 0;
  });
  imp.addEventListener('click', async () => {
    const chunks = [];
    for (let i = 0; i < feedLines.length; i += 1000) chunks.push({ lines: feedLines.slice(i, i + 1000) });
    Object.assign(chunks[0], { tenant, list: which.value, source: source.value.trim() });
    try {
      const r = await admin('ImportIPList', chunks);
      showOK(result, `Imported: ${r.added || 0} added, ${r.duplicates || 0} already present, ${r.invalid || 0} invalid.`);
      await refresh();
    } catch (e) { showError(result, e); }
  });
  box.append(labelled('List', which), labelled('CIDR', cidr), labelled('Reason for the IP rule change', reason), add,
    labelled('Feed file', file, 'A list of addresses and CIDRs, one per line; # starts a comment.'), labelled('Feed name', source), preview, imp, result, list);
  await refresh();
  return box;
}
