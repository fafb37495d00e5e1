// The console's shell: log in with an API key, then a hash router over the views.
// Routes: #/overview, #/catalogue, #/connections/{id}, #/flows/{id}, #/dead-letters,
// #/dead-letters/{key}, #/keys. The key's role (GET /v1/me) decides which actions are shown.

import * as api from './api.js';
import { h, fill } from './dom.js';
import * as views from './views.js';

const $ = (id) => document.getElementById(id);

const SECTIONS = [
  ['overview', 'Overview', null],
  ['catalogue', 'Catalogue', null],
  ['dead-letters', 'Dead letters', null],
  ['keys', 'API keys', 'admin'],
  // Places for the routes still to come (issue 17): conflicts, webhook subscriptions, audit log.
];

const state = { me: null };

/** What the views get: who is calling, and ways to report. */
function context() {
  return {
    me: state.me,
    can: (permission) => Boolean(state.me && state.me.permissions.includes(permission)),
    notify,
    fail,
    go: (hash) => {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
    refresh: () => route(),
  };
}

function notify(message) {
  const el = $('notice');
  fill(el, message);
  el.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

/** Shows an API error in words: title, detail, and each invalid field. */
function fail(err) {
  const el = $('error');
  if (!err) {
    el.hidden = true;
    return;
  }
  const fields = (err.errors || []).map((e) => h('li', {}, `${e.field}: ${e.detail}`));
  fill(el,
    h('strong', {}, err.title || 'Something went wrong'),
    err.detail ? ` — ${err.detail}` : (err.title ? '' : ` — ${err.message}`),
    fields.length ? h('ul', {}, fields) : null,
    h('button', { type: 'button', class: 'quiet', onclick: () => { el.hidden = true; } }, 'Dismiss'));
  el.hidden = false;
  if (err.status === 401) logout('Your key was refused. Log in again.');
}

function showLogin(message) {
  $('top').hidden = true;
  const input = h('input', {
    id: 'key', type: 'password', name: 'key', autocomplete: 'off', required: true,
    spellcheck: 'false', placeholder: 'sy_live_…',
  });
  const form = h('form', { class: 'login card', onsubmit: async (e) => {
    e.preventDefault();
    fail(null);
    api.setKey(input.value.trim());
    await start();
  } },
  h('h1', {}, 'Switchyard console'),
  h('p', {}, 'Log in with an API key of your tenant. It stays in this browser tab only (session storage) and is sent only to this server’s /v1/ API.'),
  h('div', { class: 'field' }, h('label', { for: 'key' }, 'API key'), input),
  message ? h('p', { class: 'error-text', role: 'alert' }, message) : null,
  h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  fill($('main'), form);
  input.focus();
}

function logout(message) {
  api.forgetKey();
  state.me = null;
  showLogin(message);
}

function renderNav() {
  const current = (location.hash.replace(/^#\//, '').split('/')[0]) || 'overview';
  fill($('nav'), SECTIONS
    .filter(([, , need]) => !need || context().can(need))
    .map(([id, label]) => h('a', {
      href: `#/${id}`,
      'aria-current': current === id ? 'page' : false,
    }, label)));
  fill($('who'), `${state.me.tenant} · ${state.me.role}`);
}

async function route() {
  if (!state.me) return;
  renderNav();
  fail(null);
  const [section, ...rest] = location.hash.replace(/^#\//, '').split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
  const main = $('main');
  fill(main, h('p', { class: 'loading' }, 'Loading…'));
  const ctx = context();
  try {
    switch (section) {
      case '':
      case 'overview': await views.overview(main, ctx); break;
      case 'catalogue': await views.catalogue(main, ctx); break;
      case 'connections': await views.connection(main, ctx, arg); break;
      case 'flows': await views.flow(main, ctx, arg); break;
      case 'dead-letters': await (arg ? views.deadLetter(main, ctx, arg) : views.deadLetters(main, ctx)); break;
      case 'keys': await views.keys(main, ctx); break;
      default: fill(main, h('h1', {}, 'Not found'), h('p', {}, 'The console has no such page.'));
    }
  } catch (err) {
    fill(main, h('h1', {}, 'This page could not be loaded'));
    fail(err);
  }
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · Switchyard console`;
  }
}

async function start() {
  if (!api.key()) {
    showLogin();
    return;
  }
  try {
    state.me = await api.get('/v1/me');
  } catch (err) {
    api.forgetKey();
    showLogin(err.status === 401 ? 'That key was refused: it is unknown, revoked or expired.' : err.message);
    return;
  }
  $('top').hidden = false;
  if (!location.hash) history.replaceState(null, '', '#/overview');
  await route();
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  $('logout').addEventListener('click', () => logout('Logged out.'));
  start();
});
