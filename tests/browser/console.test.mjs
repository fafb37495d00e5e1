// The admin console in Debian's chromium, driven by playwright-core (no Playwright browser
// download). Started by tests/integration/console.rs, which serves the console and the API with
// moto behind them and passes what it seeded in the environment:
//   CONSOLE_URL, ADMIN_KEY, VIEWER_KEY, FLOW_ID, CONNECTION_IDS (comma-separated),
//   REPLAY_KEY (a parked dead letter to replay), PARKED_KEY (one to leave parked, then replay
//   with "replay all"), CONFLICT_RECORD (the record of a two-way link's parked conflict),
//   MERGE_RECORD (another, to merge field by field), SUBSCRIPTION_ID (a disabled webhook
//   subscription with two failed deliveries), RESEND_DELIVERY (the newer of them),
//   LOCALSTRIPE_URL and LOCALSTRIPE_KEY (the demo flow's Stripe: a localstripe of the test's
//   own), CUSTOMER_EMAIL (the customer to create there), RUN_GATE (a file to create once the
//   run's job is seen with nothing read: the test's sync worker runs the job then),
//   CHROMIUM (the browser binary), SCREENSHOT_DIR (optional: save the main views there).
// Exits non-zero at the first failed check, naming it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through tests/integration/console.rs)`);
  return v;
};
const URL_ = env('CONSOLE_URL');
const ADMIN = env('ADMIN_KEY');
const VIEWER = env('VIEWER_KEY');
const FLOW = env('FLOW_ID');
const CONNECTIONS = env('CONNECTION_IDS').split(',');
const REPLAY = env('REPLAY_KEY');
const PARKED = env('PARKED_KEY');
const CONFLICT = env('CONFLICT_RECORD');
const MERGE = env('MERGE_RECORD');
const SUBSCRIPTION = env('SUBSCRIPTION_ID');
const RESEND = env('RESEND_DELIVERY');
const STRIPE = env('LOCALSTRIPE_URL');
const STRIPE_KEY = env('LOCALSTRIPE_KEY');
const CUSTOMER = env('CUSTOMER_EMAIL');
const GATE = env('RUN_GATE');
const SHOTS = process.env.SCREENSHOT_DIR || '';
const TIMEOUT = 10_000;

const started = Date.now();
const step = (what) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

/** A fresh tab (own sessionStorage) that fails the run on a page error or a CSP violation. */
async function tab(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.problems = problems;
  return page;
}

async function shot(page, name) {
  if (!SHOTS) return;
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
  step(`screenshot ${name}.png`);
}

/** Logs in with the keyboard only: the key field has focus, Enter submits. */
async function login(page, key) {
  await page.goto(URL_);
  const field = page.getByLabel('API key');
  await field.waitFor();
  assert.ok(await field.evaluate((el) => el === document.activeElement), 'the key field has focus');
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
}

const heading = (page, name) => page.getByRole('heading', { name, level: 1 }).waitFor();

try {
  // --- A wrong key is refused in words.
  const admin = await tab();
  await admin.goto(URL_);
  await admin.getByLabel('API key').fill('sy_live_nope_nope');
  await admin.getByRole('button', { name: 'Log in' }).click();
  await admin.getByText('That key was refused').waitFor();
  step('a wrong key is refused in words');

  // --- Log in with the admin key; the demo connections are there and healthy.
  await login(admin, ADMIN);
  const connections = admin.getByRole('region', { name: 'Connections' });
  for (const id of CONNECTIONS) {
    await connections.getByRole('link', { name: id }).waitFor();
  }
  assert.equal(await connections.getByText('healthy', { exact: true }).count(), CONNECTIONS.length);
  assert.equal(await connections.getByText('closed', { exact: true }).count(), CONNECTIONS.length);
  assert.equal(await admin.locator('#parked-count .big').textContent(), '2');
  assert.equal(await admin.locator('#conflict-count .big').textContent(), '2');
  await admin.getByRole('img', { name: /^Records written per hour/ }).waitFor();
  await admin.getByRole('link', { name: 'API keys' }).waitFor();
  step('admin logged in: connections healthy, 2 parked dead letters, 2 open conflicts');
  await shot(admin, 'overview');

  // --- Catalogue: filter by category and search.
  await admin.getByRole('link', { name: 'Catalogue' }).click();
  await heading(admin, 'Catalogue');
  await shot(admin, 'catalogue');
  await admin.getByLabel('Category').selectOption('payments');
  await admin.getByRole('article', { name: 'Stripe' }).waitFor();
  assert.equal(await admin.getByRole('article', { name: 'HubSpot' }).count(), 0);
  await admin.getByLabel('Category').selectOption('');
  await admin.getByLabel('Search').fill('upsert_by_email');
  await admin.getByRole('article', { name: 'HubSpot' }).waitFor();
  assert.equal(await admin.getByRole('article', { name: 'Stripe' }).count(), 0);
  await admin.getByRole('button', { name: 'Create a HubSpot connection' }).waitFor();
  step('catalogue filters by category and searches');

  // --- Connection detail, with its inbound events per hour and the latest ones in words.
  await admin.goto(`${URL_}#/connections/${encodeURIComponent(CONNECTIONS[1])}`);
  await admin.getByRole('region', { name: 'Flows using it' }).getByRole('link').first().waitFor();
  const recent = admin.getByRole('region', { name: 'Recent inbound events' });
  await recent.getByText('no signature matched the signing secret').waitFor();
  assert.equal(await recent.locator('tbody tr').count(), 5);
  assert.equal(await admin.locator('#chart-events g.column').count(), 24, 'one bar per hour');
  assert.equal(await admin.locator('#chart-events rect.bar.accepted').count(), 3, 'three hours with an accepted event');
  assert.match(await admin.locator('#chart-events svg').getAttribute('aria-label'), /3 accepted, 1 duplicate, 1 rejected/);
  step('connection: inbound events in words, per hour in a chart');
  await shot(admin, 'connection');

  // --- The inbound events log, filtered by outcome.
  await recent.getByRole('link', { name: 'All of its inbound events' }).click();
  await heading(admin, 'Inbound events');
  assert.equal(await admin.getByLabel('Connection').inputValue(), CONNECTIONS[1]);
  await admin.getByLabel('Outcome').selectOption('rejected');
  await admin.locator('#events-list').getByText('no signature matched the signing secret').waitFor();
  await admin.waitForFunction(() => document.querySelectorAll('#events-list tbody tr').length === 1)
    .catch(async (e) => { throw new Error(`${e.message}: ${await admin.locator('main').textContent()}`); });
  await admin.getByLabel('Connection').selectOption('');
  await admin.locator('#events-list').getByRole('link', { name: CONNECTIONS[1] }).waitFor();
  step('events log: filtered by connection and outcome');
  await shot(admin, 'events');

  // --- A flow: create a customer in localstripe, run the flow now, and watch its job's counts
  // go up in the flow view (it follows a running job by itself).
  await admin.goto(`${URL_}#/overview`);
  await admin.getByRole('region', { name: 'Flows' }).getByRole('link', { name: 'Stripe customers to HubSpot contacts' }).click();
  await heading(admin, 'Stripe customers to HubSpot contacts');
  await admin.getByText('No jobs yet.').waitFor();
  await admin.getByRole('region', { name: 'Anomalies' }).getByText(/records: 0 records where about 10 records is usual/).waitFor();
  step('the flow shows its open data-quality anomaly');
  const created = await fetch(`${STRIPE}/v1/customers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${STRIPE_KEY}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email: CUSTOMER, name: 'New Customer' }),
  });
  assert.equal(created.status, 200, `localstripe created the customer: ${await created.clone().text()}`);
  assert.match((await created.json()).id, /^cus_/);
  step('a customer created in localstripe');
  await admin.getByRole('button', { name: 'Run now' }).click();
  await admin.getByRole('status').getByText('queued').waitFor();
  const jobs = admin.locator('#jobs tbody tr');
  await jobs.first().waitFor();
  assert.equal(await jobs.count(), 1);
  assert.match(await jobs.first().textContent(), /api/);
  await jobs.first().getByText('running', { exact: true }).waitFor();
  await jobs.first().getByText('0 read · 0 written · 0 unchanged · 0 failed').waitFor();
  assert.equal(await admin.locator('#chart-records g.column').count(), 1, 'a bar per job');
  step('run now: the job appears in the history, running, nothing read yet');
  fs.writeFileSync(GATE, 'seen');
  await jobs.first().getByText('1 read · 1 written · 0 unchanged · 0 failed').waitFor();
  await jobs.first().getByText('succeeded', { exact: true }).waitFor();
  assert.equal(await jobs.count(), 1);
  step('the job ran: its counts went up to 1 read, 1 written, without a reload');
  await shot(admin, 'flow');

  // --- An API error is shown in words, not a code.
  await admin.goto(`${URL_}#/flows/no-such-flow`);
  const alert = admin.getByRole('alert');
  await alert.getByText('Not Found').waitFor();
  assert.match(await alert.textContent(), /flow no-such-flow does not exist/);
  step('an API error is shown in words');

  // --- A viewer key: no write buttons, and the API refuses the replay anyway.
  const viewer = await tab();
  await login(viewer, VIEWER);
  for (const name of ['API keys', 'Audit log']) {
    assert.equal(await viewer.getByRole('link', { name }).count(), 0, `a viewer has no ${name} link`);
  }
  await viewer.getByRole('link', { name: 'Dead letters' }).first().click();
  await heading(viewer, 'Dead letters');
  await viewer.getByRole('link', { name: REPLAY }).waitFor();
  assert.equal(await viewer.getByRole('button', { name: 'Replay' }).count(), 0);
  await viewer.goto(`${URL_}#/flows/${encodeURIComponent(FLOW)}`);
  await viewer.getByRole('region', { name: 'Job history' }).waitFor();
  for (const name of ['Run now', 'Pause', 'Resume']) {
    assert.equal(await viewer.getByRole('button', { name }).count(), 0, `a viewer sees no ${name}`);
  }
  await viewer.goto(`${URL_}#/conflicts`);
  await viewer.getByRole('article', { name: `Conflict ${CONFLICT}` }).waitFor();
  await viewer.goto(`${URL_}#/connections/${encodeURIComponent(CONNECTIONS[0])}`);
  await viewer.getByRole('region', { name: 'Details' }).waitFor();
  for (const name of ['Test now', 'Rotate secret', /^Take [AB]/, /^Merge /, /^Replay all/]) {
    assert.equal(await viewer.getByRole('button', { name }).count(), 0, `a viewer sees no ${name}`);
  }
  const refused = await viewer.evaluate(async ([key, dead]) => {
    const r = await fetch(`/v1/dead-letters/${encodeURIComponent(dead)}/replay`, {
      method: 'POST', headers: { Authorization: `Bearer ${key}` },
    });
    return { status: r.status, body: await r.json() };
  }, [VIEWER, REPLAY]);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.title, 'Forbidden');
  step('a viewer sees no write buttons and the API refuses its replay (403)');

  // --- Replay a parked dead letter and see it leave the list.
  await admin.goto(`${URL_}#/dead-letters`);
  await heading(admin, 'Dead letters');
  const list = admin.locator('#dead-letter-list');
  await list.getByRole('link', { name: REPLAY }).waitFor();
  await list.getByRole('link', { name: PARKED }).waitFor();
  await shot(admin, 'dead-letters');
  await list.getByRole('row').filter({ hasText: REPLAY }).getByRole('button', { name: 'Replay' }).click();
  await list.getByRole('link', { name: REPLAY }).waitFor({ state: 'detached' });
  await list.getByRole('link', { name: PARKED }).waitFor();
  step('the replayed dead letter left the list; the other is still parked');
  await admin.getByRole('button', { name: 'Replay all 1 matching' }).click();
  await admin.locator('#replay-summary').getByText('Replayed 1 of 1 dead letters.').waitFor();
  await list.getByText('No dead letters match.').waitFor();
  step('replay all matching: progress to 1 of 1, the list is empty');

  // --- A two-way link's conflict: both versions beside the base; take A.
  await admin.getByRole('link', { name: 'Conflicts' }).click();
  await heading(admin, 'Conflicts');
  const conflict = admin.getByRole('article', { name: `Conflict ${CONFLICT}` });
  for (const [side, text] of [[/^A: /, 'Ada (EU edit)'], [/^Base/, '"Ada"'], [/^B: /, 'Ada (US edit)']]) {
    await conflict.getByRole('region', { name: side }).getByText(text).waitFor();
  }
  await shot(admin, 'conflicts');
  await conflict.getByRole('button', { name: `Take A for ${CONFLICT}` }).click();
  await admin.getByRole('status').getByText(`Conflict ${CONFLICT} resolved`).waitFor();
  await conflict.waitFor({ state: 'detached' });
  step('a conflict resolved: A wins, it left the queue');

  // --- Merge given fields: B's first name, A's last name; the API writes both sides.
  const merging = admin.getByRole('article', { name: `Conflict ${MERGE}` });
  await merging.getByText('Merge given fields…').click();
  const firstB = merging.getByRole('radio', { name: 'Take /properties/firstname from B' });
  await firstB.check();
  assert.ok(await merging.getByRole('radio', { name: 'Take /properties/lastname from A' }).isChecked());
  await merging.getByRole('button', { name: `Merge ${MERGE}` }).click();
  await admin.getByRole('status').getByText(`Conflict ${MERGE} merged: both sides now hold the merge`).waitFor();
  await merging.waitFor({ state: 'detached' });
  step('a conflict merged field by field, written to both sides');
  // --- Mapping suggestions: HubSpot contacts to the EU account's upsert, then a new flow.
  await admin.getByRole('link', { name: 'Suggest a mapping' }).click();
  await heading(admin, 'Mapping suggestions');
  await admin.getByLabel('Source (connection or connector / stream)').fill(`${CONNECTIONS[1]}/contacts`);
  await admin.getByLabel('Destination (connection or connector / write)').fill(`${CONNECTIONS[2]}/contacts.upsert_by_email`);
  await admin.getByRole('button', { name: 'Suggest', exact: true }).click();
  const proposal = admin.getByRole('region', { name: 'Suggested mapping' });
  await proposal.getByRole('row').filter({ hasText: 'properties.email' }).getByText('properties.email').last().waitFor();
  assert.match(await admin.locator('#suggested-mapping').inputValue(), /\.properties\.email/);
  await shot(admin, 'suggest');
  await admin.getByLabel('Flow name').fill('Suggested HubSpot copy');
  await admin.getByRole('button', { name: 'Create flow' }).click();
  await heading(admin, 'Suggested HubSpot copy');
  assert.match(await admin.getByRole('region', { name: 'Settings' }).textContent(), /\.properties\.email/);
  step('a suggested mapping became a new flow');

  // --- Webhook subscriptions: create one (its secret shown once), then the disabled one's
  // delivery log: re-enable it, resend one failed delivery, recover the other.
  await admin.getByRole('link', { name: 'Webhook subscriptions' }).click();
  await heading(admin, 'Webhook subscriptions');
  await admin.getByLabel('Endpoint URL').fill('https://hooks.example.com/created-in-the-console');
  // The event types and their words come from GET /v1/webhook-subscriptions/event-types.
  assert.equal(await admin.getByRole('checkbox').count(), 7);
  await admin.getByText('A flow wrote a record its destination did not have').waitFor();
  await admin.getByRole('checkbox', { name: /^record\.created/ }).check();
  await admin.getByRole('button', { name: 'Create subscription' }).click();
  await admin.locator('#secret-once').getByText('copy it now').waitFor();
  assert.match(await admin.locator('#secret-once code').textContent(), /^whsec_/);
  const endpoints = admin.locator('#subscription-list');
  await endpoints.getByText('https://hooks.example.com/created-in-the-console').waitFor();
  await endpoints.getByRole('row').filter({ hasText: SUBSCRIPTION }).getByText('every delivery failed for 5 days').waitFor();
  step('webhooks: a subscription created, its secret shown once');
  await endpoints.getByRole('row').filter({ hasText: 'created-in-the-console' }).getByRole('link').click();
  await heading(admin, /^Webhook subscription whsub_/);
  await admin.getByRole('button', { name: 'Rotate secret' }).click();
  await admin.locator('#secret-once').getByText('New signing secret').waitFor();
  assert.match(await admin.locator('#secret-once code').textContent(), /^whsec_/);
  admin.once('dialog', (d) => d.accept());
  await admin.getByRole('button', { name: 'Delete' }).click();
  await heading(admin, 'Webhook subscriptions');
  await endpoints.getByRole('link', { name: SUBSCRIPTION }).waitFor();
  assert.equal(await endpoints.getByText('created-in-the-console').count(), 0);
  step('webhooks: its secret rotated (shown once), then deleted');
  await endpoints.getByRole('link', { name: SUBSCRIPTION }).click();
  await heading(admin, `Webhook subscription ${SUBSCRIPTION}`);
  const deliveries = admin.locator('#delivery-list');
  await deliveries.getByText('HTTP 500: the endpoint answered 500').waitFor();
  assert.equal(await deliveries.getByText('failed', { exact: true }).count(), 2);
  assert.equal(await admin.getByRole('button', { name: /^Resend / }).count(), 0, 'no resend while disabled');
  await shot(admin, 'webhooks');
  await admin.getByRole('button', { name: 'Re-enable' }).click();
  await admin.getByRole('status').getByText(`Subscription ${SUBSCRIPTION} enabled again`).waitFor();
  await admin.getByRole('button', { name: `Resend ${RESEND}` }).click();
  await admin.getByRole('status').getByText(`Delivery ${RESEND} queued again`).waitFor();
  await deliveries.getByText('pending', { exact: true }).waitFor();
  assert.equal(await deliveries.getByText('failed', { exact: true }).count(), 1);
  await admin.getByRole('button', { name: 'Recover failed deliveries' }).click();
  await admin.locator('#recover-result').getByText('1 failed delivery queued again.').waitFor();
  assert.equal(await deliveries.getByText('failed', { exact: true }).count(), 0);
  step('webhooks: re-enabled, one delivery resent, the other recovered');
  // The delivery log's status filter: two pending (resent, recovered), one that got through.
  const statusFilter = admin.getByLabel('Status');
  const rowsNow = () => deliveries.locator('tbody tr');
  await statusFilter.selectOption('succeeded');
  await admin.waitForFunction(() => document.querySelectorAll('#delivery-list tbody tr').length === 1);
  assert.equal(await deliveries.getByText('succeeded', { exact: true }).count(), 1);
  await statusFilter.selectOption('pending');
  await admin.waitForFunction(() => document.querySelectorAll('#delivery-list tbody tr').length === 2);
  assert.equal(await deliveries.getByText('pending', { exact: true }).count(), 2);
  await statusFilter.selectOption('failed');
  await deliveries.getByText('No deliveries with that status.').waitFor();
  await statusFilter.selectOption('');
  await admin.waitForFunction(() => document.querySelectorAll('#delivery-list tbody tr').length === 3);
  assert.equal(await rowsNow().count(), 3);
  step('webhooks: the delivery log filtered by status');
  // Disable it by hand: the state says so, no resend, and "Re-enable" is back.
  await admin.getByRole('button', { name: 'Disable' }).click();
  await admin.getByRole('status').getByText(`Subscription ${SUBSCRIPTION} disabled`).waitFor();
  await admin.getByRole('region', { name: 'Details' }).getByText('disabled through the API').waitFor();
  await admin.getByRole('button', { name: 'Re-enable' }).waitFor();
  assert.equal(await admin.getByRole('button', { name: /^Resend / }).count(), 0, 'no resend while disabled');
  step('webhooks: disabled by hand');
  await viewer.goto(`${URL_}#/webhooks/${encodeURIComponent(SUBSCRIPTION)}`);
  await heading(viewer, `Webhook subscription ${SUBSCRIPTION}`);
  await viewer.locator('#delivery-list').getByText('succeeded', { exact: true }).waitFor();
  for (const name of [/^Resend /, 'Disable', 'Re-enable', 'Rotate secret', 'Delete', 'Recover failed deliveries']) {
    assert.equal(await viewer.getByRole('button', { name }).count(), 0, `a viewer sees no ${name}`);
  }
  step('webhooks: a viewer sees the log and no write buttons');

  // --- Audit log (admin only): the clicks above are in it.
  await admin.getByRole('link', { name: 'Audit log' }).click();
  await heading(admin, 'Audit log');
  const auditList = admin.locator('#audit-list');
  for (const a of ['conflict.resolve', 'dead_letter.replay', 'flow.run']) await auditList.getByText(a).first().waitFor();
  await shot(admin, 'audit');
  step('the audit log shows the resolve, the replays and the run');
  // A stale answer never overwrites a newer one: the answer for "flow.run" is held back until
  // after the one for "dead_letter.replay" is shown; the list keeps the newer filter's rows.
  const slow = /\/v1\/audit\?.*action=flow\.run/;
  await admin.route(slow, async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await route.continue();
  });
  const actionField = admin.getByLabel('Action');
  const slowSent = admin.waitForRequest(slow);
  await actionField.fill('flow.run');
  await slowSent;
  const slowDone = admin.waitForEvent('requestfinished', (r) => slow.test(r.url()));
  await actionField.fill('dead_letter.replay');
  await admin.waitForFunction(() => {
    const cells = [...document.querySelectorAll('#audit-list tbody tr td:nth-child(4)')].map((c) => c.textContent);
    return cells.length > 0 && cells.every((c) => c === 'dead_letter.replay');
  });
  await slowDone;
  // Give the page's handler of the stale answer its turn before looking.
  await admin.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
  assert.equal(await auditList.getByText('flow.run', { exact: true }).count(), 0, 'the stale answer was dropped');
  assert.ok(await auditList.getByText('dead_letter.replay', { exact: true }).count() >= 1);
  await admin.unroute(slow);
  step('audit: a stale filter answer does not overwrite the newer one');

  // --- API keys (admin only).
  await admin.getByRole('link', { name: 'API keys' }).click();
  await heading(admin, 'API keys');
  assert.equal(await admin.locator('tbody tr').count(), 2);
  await shot(admin, 'keys');
  // Rotate the viewer's key (the admin's own has no buttons): the new key is shown once.
  await admin.getByRole('button', { name: /^Rotate / }).click();
  await admin.locator('#key-once').getByText('Copy the new key now').waitFor();
  assert.match(await admin.locator('#key-once code').textContent(), /^sy_live_/);
  assert.equal(await admin.locator('tbody tr').count(), 3);
  step('keys: a rotation shows the new key once');

  if (SHOTS) {
    const phone = await tab({ width: 390, height: 844 });
    await login(phone, ADMIN);
    await shot(phone, 'overview-phone');
  }

  for (const page of [admin, viewer]) assert.deepEqual(page.problems, [], 'no page errors or CSP violations');
  step('done');
} catch (err) {
  console.error(`FAILED: ${err.stack || err}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
