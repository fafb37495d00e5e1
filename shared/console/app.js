// The console's shell: log in with an API key, then a hash router over the views.
// Routes: #/overview, #/catalogue, #/connections/{id}, #/flows/{id}, #/dead-letters,
// #/dead-letters/{key}, #/conflicts, #/events, #/events/{connection}, #/suggest, #/webhooks,
// #/webhooks/{subscription}, #/keys, #/audit.
// The key's role (GET /v1/me) decides
// which actions are shown. "Sign in with SSO" (pkce.js) appears when the API says single
// sign-on is configured (GET /v1/console-config).

import * as api from './api.js';
import { h, fill } from './dom.js';
import * as pkce from './pkce.js';
import * as views from './views.js';

const $ = (id) => document.getElementById(id);

const SECTIONS = [
  ['overview', 'Overview', null],
  ['catalogue', 'Catalogue', null],
  ['events', 'Inbound events', null],
  ['dead-letters', 'Dead letters', null],
  ['conflicts', 'Conflicts', null],
  ['suggest', 'Suggest a mapping', null],
  ['webhooks', 'Webhook subscriptions', null],
  ['keys', 'API keys', 'admin'],
  ['audit', 'Audit log', 'admin'],
];

const SSO_STORAGE = 'switchyard.console.sso';

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

/** The single sign-on settings, or null when the API has none (a 404). */
async function ssoSettings() {
  try {
    const config = await api.call('GET', '/v1/console-config');
    return config && config.sso;
  } catch {
    return null;
  }
}

/** Leaves for the issuer's sign-in page; the verifier and state wait in sessionStorage. */
async function startSso(sso) {
  const verifier = pkce.newVerifier();
  const state = pkce.newVerifier();
  sessionStorage.setItem(SSO_STORAGE, JSON.stringify({ verifier, state }));
  const redirectUri = `${location.origin}${location.pathname}`;
  location.assign(pkce.authorizeUrl(sso, { redirectUri, state, codeChallenge: await pkce.challenge(verifier) }));
}

/** Back from the sign-in page: trades the code (with the verifier) for an ID token. */
async function finishSso() {
  const search = location.search;
  const pending = JSON.parse(sessionStorage.getItem(SSO_STORAGE) || 'null');
  const code = pkce.callbackCode(search, pending && pending.state, () => {
    // An answer (good or not) is used once: drop it from the address bar, history and storage.
    sessionStorage.removeItem(SSO_STORAGE);
    history.replaceState(null, '', `${location.pathname}#/overview`);
  });
  if (code === null) return;
  const redirectUri = `${location.origin}${location.pathname}`;
  const sso = await ssoSettings();
  if (!sso) throw new Error('Single sign-on is no longer configured; log in with an API key.');
  let resp;
  try {
    resp = await fetch(sso.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: pkce.tokenRequestBody(sso, { code, verifier: pending.verifier, redirectUri }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new Error('The sign-in service could not be reached; try again.');
  }
  const tokens = await resp.json().catch(() => ({}));
  if (!resp.ok || !tokens.id_token) {
    throw new Error(`The sign-in service refused the code: ${tokens.error_description || tokens.error || resp.statusText}`);
  }
  api.setKey(tokens.id_token);
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
  const sso = h('div', { class: 'login-sso' });
  fill($('main'), form, sso);
  input.focus();
  ssoSettings().then((settings) => {
    if (!settings) return;
    fill(sso, h('p', { class: 'muted' }, 'Or sign in with your organisation’s account:'),
      h('button', { type: 'button', onclick: () => startSso(settings).catch((err) => showLogin(err.message)) },
        'Sign in with SSO'));
  });
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
      case 'conflicts': await views.conflicts(main, ctx); break;
      case 'events': await views.events(main, ctx, arg); break;
      case 'suggest': await views.suggest(main, ctx); break;
      case 'webhooks': await (arg ? views.webhook(main, ctx, arg) : views.webhooks(main, ctx)); break;
      case 'keys': await views.keys(main, ctx); break;
      case 'audit': await views.audit(main, ctx); break;
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
  try {
    await finishSso();
  } catch (err) {
    showLogin(err.message);
    return;
  }
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
