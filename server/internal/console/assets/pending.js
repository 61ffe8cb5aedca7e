// Pending changes: proposals on tenants that declare SOX, each with the
// difference from the policy in force, approved or rejected by a second
// admin (the server refuses the author's own approval). A change can be
// evaluated in shadow first: live decisions of its tenant are decided
// again with it, off the request path, and the page shows what would
// change.
import { admin, allPages } from './api.js';
import { el, labelled, button, status, showError, showOK, formatTime } from './ui.js';

// diffLines is a line diff (longest common subsequence) of two texts:
// [' ', line], ['-', line] or ['+', line].
export function diffLines(a, b) {
  const x = a.split('\n'), y = b.split('\n');
  const n = x.length, m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push([' ', x[i]]); i++; j++; } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(['-', x[i++]]); else out.push(['+', y[j++]]);
  }
  while (i < n) out.push(['-', x[i++]]);
  while (j < m) out.push(['+', y[j++]]);
  return out;
}

const pretty = (p) => JSON.stringify({ ...p, etag: undefined }, Object.keys(flatKeys(p)).sort(), 2);
function flatKeys(o, acc = {}) {
  if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) { acc[k] = true; flatKeys(v, acc); }
  return acc;
}

export default async function pending(section, ctx) {
  section.append(el('h2', { id: 'page-title' }, 'Pending changes'),
    el('p', {}, 'A change to a tenant that declares SOX waits here until a different admin approves it. Its author may withdraw it with Reject.'));
  const changes = await allPages('ListPendingChanges', {}, 'changes');
  if (changes.length === 0) { section.append(el('p', { role: 'status' }, 'No pending changes.')); return; }
  for (const c of changes) {
    let current = {};
    try { current = (await admin('GetTenantPolicy', { tenant: c.tenant })).policy || {}; } catch { /* a new tenant */ }
    const diff = diffLines(pretty(current), pretty(c.policy || {}));
    const pre = el('pre', { class: 'diff', 'aria-label': `Difference of change ${c.id}` },
      diff.filter(([op], i) => op !== ' ' || diff.slice(Math.max(0, i - 2), i + 3).some(([o]) => o !== ' '))
        .map(([op, line]) => el(op === '+' ? 'ins' : op === '-' ? 'del' : 'span', {}, `${op} ${line}\n`)));
    const reason = el('input', { type: 'text' });
    const result = status();
    const approve = button('Approve');
    const reject = button('Reject');
    const act = (method, done) => async () => {
      try {
        await admin(method, { id: c.id, reason: reason.value });
        showOK(result, done);
        approve.disabled = reject.disabled = true;
      } catch (e) { showError(result, e); }
    };
    approve.addEventListener('click', act('ApproveChange', `Approved: the change is in force for ${c.tenant}.`));
    const shadow = impactOf(c);
    if (!c.observedImpact) {
      const start = button('Evaluate in shadow');
      start.addEventListener('click', async () => {
        try {
          await admin('PutShadowPolicy', { pendingChangeId: c.id, reason: reason.value });
          showOK(result, 'Shadow evaluation started: live decisions are decided again with this change. Open this page again to see its impact.');
          start.disabled = true;
        } catch (e) { showError(result, e); }
      });
      shadow.append(' ', start);
    }
    reject.addEventListener('click', act('RejectChange', 'Rejected: the change was discarded.'));
    section.append(el('article', { 'aria-label': `Change ${c.id}` },
      el('h3', {}, `${c.tenant}: change ${c.id}`),
      el('p', {}, `Proposed by ${c.author} at ${formatTime(c.createdAt)}: “${c.reason}”. `,
        `Any admin of ${c.tenant} other than ${c.author} may approve it.`),
      pre, shadow, labelled(`Reason for approving or rejecting ${c.id}`, reason), approve, ' ', reject, result));
  }
}

// impactOf says what the change's shadow evaluation observed: how many of
// the sampled live decisions would change, by outcome.
function impactOf(c) {
  const box = el('div', { 'aria-label': `Shadow impact of change ${c.id}` });
  const i = c.observedImpact;
  if (!i) {
    box.append(el('p', {}, 'Not evaluated in shadow.'));
    return box;
  }
  const evaluated = Number(i.evaluated || 0), changed = Number(i.changed || 0);
  box.append(el('p', {}, `In shadow since ${formatTime(i.since)}: ${changed} of ${evaluated} sampled live decisions would change.`));
  const moves = i.transitions || [];
  if (moves.length > 0) {
    box.append(el('ul', {}, ...moves.map((m) => el('li', {}, `${m.from} → ${m.to}: ${Number(m.count || 0)}`))));
  }
  return box;
}
