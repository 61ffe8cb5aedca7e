// The console's shell: sign-in, navigation and the page router.
import { admin, signedIn, signIn, signOut, allPages } from './api.js';
import { el } from './ui.js';
import settings from './settings.js';
import pending from './pending.js';
import compliance from './compliance.js';
import audit from './audit.js';
import explain from './explain.js';
import users from './users.js';
import live from './live.js';

const pages = { settings, pending, compliance, audit, explain, users, live };

const main = document.getElementById('page');
const nav = document.querySelector('nav');
const form = document.getElementById('sign-in');

// ctx is what every page gets: the tenants the key may see (with their
// plans and environments) and a way to re-render.
const ctx = { tenants: [], plans: null };

async function loadContext() {
  ctx.tenants = await allPages('ListTenants', {}, 'tenants');
  const resp = await fetch('plans.json', { cache: 'no-store' });
  ctx.plans = await resp.json();
}

function showSignIn(message) {
  nav.hidden = true;
  main.replaceChildren(form);
  form.hidden = false;
  document.getElementById('api-key-error').textContent = message || '';
  document.getElementById('api-key').focus();
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = document.getElementById('api-key');
  signIn(input.value.trim());
  input.value = '';
  try {
    await loadContext();
  } catch (e) {
    signOut();
    showSignIn(e.code === 'UNAUTHENTICATED' ? 'That key was not accepted.' : `${e.code || 'Error'}: ${e.message}`);
    return;
  }
  if (!location.hash || location.hash === '#/') location.hash = '#/settings'; else route();
});

document.getElementById('sign-out').addEventListener('click', () => {
  signOut();
  ctx.tenants = [];
  location.hash = '';
  showSignIn('Signed out.');
});

async function route() {
  if (!signedIn()) { showSignIn(); return; }
  if (ctx.plans === null) {
    try { await loadContext(); } catch (e) { signOut(); showSignIn(`${e.code || 'Error'}: ${e.message}`); return; }
  }
  const [name, ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = pages[name] || pages.settings;
  nav.hidden = false;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === '#/' + (pages[name] ? name : 'settings')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const section = el('section', { 'aria-labelledby': 'page-title' });
  main.replaceChildren(section);
  try {
    const rendered = page(section, ctx, args);
    // Move focus to the new page's title (each page puts it first, before
    // it waits for anything), as a page load would, so that keyboard and
    // screen-reader users start there.
    const title = document.getElementById('page-title');
    if (title) { title.tabIndex = -1; title.focus(); }
    await rendered;
  } catch (e) {
    section.append(el('p', { role: 'alert', class: 'failed' }, `${e.code || 'Error'}: ${e.message}`));
  }
}

window.addEventListener('hashchange', route);
route();
