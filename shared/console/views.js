// The console's views. Each takes the main element and the context from app.js; write buttons
// appear only when the key's role has the permission (the API refuses the writes anyway).

import * as api from './api.js';
import { h, fill, when, ago, badge, table, field } from './dom.js';
import { barChart, perHour } from './charts.js';

const STATE_KIND = { healthy: 'good', degraded: 'warn', down: 'bad', needs_reauth: 'bad' };
const CIRCUIT_KIND = { closed: 'good', half_open: 'warn', open: 'bad' };
const JOB_KIND = { succeeded: 'good', running: 'plain', partial: 'warn', failed: 'bad' };
const OUTCOME_KIND = { accepted: 'good', duplicate: 'plain', rejected: 'bad' };

const link = (hash, text) => h('a', { href: hash }, text);
const connLink = (id) => link(`#/connections/${api.seg(id)}`, id);
const flowLink = (id, name) => link(`#/flows/${api.seg(id)}`, name || id);

/** A button that runs `action`, disabled while it runs, and reports a failure in words. */
function action(label, ctx, run, cls = '') {
  const button = h('button', { type: 'button', class: cls, onclick: async () => {
    button.disabled = true;
    try {
      await run();
    } catch (err) {
      ctx.fail(err);
    } finally {
      button.disabled = false;
    }
  } }, label);
  return button;
}

function health(c) {
  const hr = c.health;
  if (!hr) return { state: badge('not checked yet'), circuit: badge('—'), last: 'never' };
  return {
    state: badge(hr.state.replace('_', ' '), STATE_KIND[hr.state] || 'plain'),
    circuit: badge(hr.circuit.replace('_', ' '), CIRCUIT_KIND[hr.circuit] || 'plain'),
    last: hr.last_check_at ? ago(hr.last_check_at) : 'never',
  };
}

function jobCounts(j) {
  const c = j.counts || {};
  return `${c.read ?? 0} read · ${c.written ?? 0} written · ${c.unchanged ?? 0} unchanged · ${c.failed ?? 0} failed`;
}

function section(title, ...body) {
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), ...body);
}

export async function overview(main, ctx) {
  const [connections, flows, parked, events] = await Promise.all([
    api.all('/v1/connections'),
    api.all('/v1/flows'),
    api.get('/v1/dead-letters?status=parked&limit=200'),
    lastDay('/v1/events'),
  ]);
  // A flow's last run comes with the flow (GET /v1/flows/{id}); the first 25 are shown, each
  // with its latest 50 jobs (the written-per-hour chart), and each two-way link's open
  // conflicts (one call per link).
  const [details, conflictPages] = await Promise.all([
    Promise.all(flows.slice(0, 25).map((f) => api.get(`/v1/flows/${api.seg(f.id)}?jobs=50`))),
    Promise.all(linkPairs(flows).map(([a]) => api.get(`/v1/flows/${api.seg(a.id)}/conflicts`))),
  ]);
  const conflictCount = conflictPages.reduce((n, p) => n + p.items.length, 0);
  const conflictMore = conflictPages.some((p) => p.next_cursor);
  const parkedCount = `${parked.items.length}${parked.next_cursor ? '+' : ''}`;
  const down = connections.filter((c) => c.health && c.health.state !== 'healthy').length;
  fill(main,
    h('h1', {}, 'Overview'),
    h('div', { class: 'tiles' },
      h('div', { class: 'tile' }, h('span', { class: 'big' }, String(connections.length)), 'connections',
        down ? h('span', { class: 'tile-note bad-text' }, `${down} not healthy`) : null),
      h('div', { class: 'tile' }, h('span', { class: 'big' }, String(flows.length)), 'flows'),
      h('a', { class: 'tile', href: '#/dead-letters', id: 'parked-count' },
        h('span', { class: 'big' }, parkedCount), 'parked dead letters'),
      h('a', { class: 'tile', href: '#/conflicts', id: 'conflict-count' },
        h('span', { class: 'big' }, `${conflictCount}${conflictMore ? '+' : ''}`), 'open conflicts')),
    section('Connections', table('Connections', ['Connection', 'Provider', 'State', 'Circuit', 'Last check'],
      connections.map((c) => {
        const hr = health(c);
        return [h('span', {}, connLink(c.id), h('br'), h('small', {}, c.name)), c.provider, hr.state, hr.circuit, hr.last];
      }), 'No connections yet: create one from the catalogue.')),
    section('Flows', table('Flows', ['Flow', 'From', 'To', 'Status', 'Last run'],
      details.map((f) => {
        const last = f.recent_jobs && f.recent_jobs[0];
        return [
          flowLink(f.id, f.name),
          `${f.source_connection} · ${f.source_stream}`,
          `${f.destination_connection} · ${f.destination_operation}`,
          h('span', {}, f.enabled ? badge('active', 'good') : badge('paused', 'warn'),
            (f.anomalies || []).length ? [' ', badge(`${f.anomalies.length} anomal${f.anomalies.length === 1 ? 'y' : 'ies'}`, 'bad')] : null),
          last ? h('span', {}, badge(last.status, JOB_KIND[last.status]), ' ', ago(last.started_at)) : 'never',
        ];
      }), 'No flows yet.')),
    section('Last 24 hours', h('div', { class: 'charts' },
      eventsChart(events, 'chart-overview-events'),
      writtenChart(details.flatMap((f) => f.recent_jobs || []), 'chart-overview-written')),
    h('p', {}, link('#/events', 'The inbound events log'))));
}

/** Two-way links: each pair of flows once, the smaller id first. */
function linkPairs(flows) {
  const byId = Object.fromEntries(flows.map((f) => [f.id, f]));
  return flows.filter((f) => f.reverse_flow && byId[f.reverse_flow] && f.id < f.reverse_flow)
    .map((f) => [f, byId[f.reverse_flow]]);
}

/** Records written per hour over the last day, from the flows' latest jobs (when each ended). */
function writtenChart(jobs, id) {
  const now = Math.floor(Date.now() / 1000);
  const items = jobs.map((j) => ({ at: j.finished_at || j.started_at, written: (j.counts && j.counts.written) || 0 }));
  const buckets = perHour(items, 24, now, () => 'written', (i) => i.written);
  const hour = (at) => new Date(at * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const total = buckets.reduce((n, b) => n + (b.counts.written || 0), 0);
  return barChart({
    id,
    title: 'Records written per hour',
    summary: `Records written per hour over the last 24 hours: ${total} in all (from each flow's latest 50 jobs).`,
    bars: buckets.map((b) => ({
      label: hour(b.at),
      tip: `${hour(b.at)}: ${b.counts.written || 0} written`,
      parts: [{ value: b.counts.written || 0, kind: 'written' }],
    })),
    every: 4,
  });
}

/** Events per hour over the last day, stacked by outcome. */
function eventsChart(events, id) {
  const now = Math.floor(Date.now() / 1000);
  const buckets = perHour(events, 24, now, (e) => e.outcome);
  const hour = (at) => new Date(at * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const count = (k) => events.filter((e) => e.outcome === k && e.at > now - 86400).length;
  return barChart({
    id,
    title: 'Events per hour',
    summary: `Inbound events per hour over the last 24 hours: ${count('accepted')} accepted, ${count('duplicate')} duplicate, ${count('rejected')} rejected.`,
    bars: buckets.map((b) => ({
      label: hour(b.at),
      tip: `${hour(b.at)}: ${b.counts.accepted || 0} accepted, ${b.counts.duplicate || 0} duplicate, ${b.counts.rejected || 0} rejected`,
      parts: ['accepted', 'duplicate', 'rejected'].map((k) => ({ value: b.counts[k] || 0, kind: k })),
    })),
    legend: [['accepted', 'accepted'], ['duplicate', 'duplicate'], ['rejected', 'rejected']],
    every: 4,
  });
}

/** The last day of a log (at most 1,000 deliveries, enough for a chart). */
const lastDay = (path) => api.all(`${path}?since=${Math.floor(Date.now() / 1000) - 86400}`, 5);

/** A rejection's reason code in words, with the code. */
const REASONS = {
  'bad_signature:missing_header': 'the signature header is missing',
  'bad_signature:no_matching_signature': 'no signature matched the signing secret',
  'bad_signature:stale_timestamp': 'the signed timestamp is too old (a replay?)',
  malformed_payload: 'the body could not be read',
  method_not_allowed: 'it was not a POST',
  webhooks_not_configured: 'webhooks are not set up on this connection',
  webhook_secret_unusable: 'the stored signing secret cannot be used',
  unexpected_handshake: 'an unexpected handshake request',
};

function reasonWords(reason) {
  if (!reason) return '—';
  const words = REASONS[reason] || (reason.startsWith('bad_signature:') ? 'the signature did not verify' : null);
  return words ? h('span', {}, words, ' ', h('code', { class: 'muted' }, reason)) : h('code', {}, reason);
}

function eventRows(items, withConnection) {
  return items.map((e) => [
    when(e.at),
    withConnection ? connLink(e.connection_id) : null,
    badge(e.outcome, OUTCOME_KIND[e.outcome]),
    e.event_type || '—',
    e.event_id ? h('code', {}, e.event_id) : '—',
    reasonWords(e.reason),
  ].filter((c) => c !== null));
}

const EVENT_HEADINGS = ['When', 'Outcome', 'Type', 'Event id', 'Reason'];

/** The inbound webhook log: all connections, or one (#/events/{connection}). */
export async function events(main, ctx, only) {
  const connections = await api.all('/v1/connections');
  const conn = h('select', { id: 'events-connection' },
    h('option', { value: '' }, 'All connections'),
    connections.map((c) => h('option', { value: c.id, selected: c.id === only }, `${c.name} (${c.id})`)));
  const outcome = h('select', { id: 'events-outcome' },
    h('option', { value: '' }, 'any'), ['accepted', 'duplicate', 'rejected'].map((o) => h('option', { value: o }, o)));
  const since = h('select', { id: 'events-since' },
    h('option', { value: '86400' }, 'last 24 hours'), h('option', { value: '604800' }, 'last 7 days'),
    h('option', { value: '' }, 'all kept'));
  const list = h('div', { id: 'events-list' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const rows = [];
  let cursor = null;
  // Only the latest request's answer is shown (a filter changed while a page was loading).
  let latest = 0;
  const load = async (again) => {
    const q = new URLSearchParams({ limit: '50' });
    if (outcome.value) q.set('outcome', outcome.value);
    if (since.value) q.set('since', String(Math.floor(Date.now() / 1000) - Number(since.value)));
    if (again && cursor) q.set('cursor', cursor);
    const path = conn.value ? `/v1/connections/${api.seg(conn.value)}/events` : '/v1/events';
    const mine = ++latest;
    const page = await api.get(`${path}?${q}`);
    if (mine !== latest) return;
    if (!again) rows.length = 0;
    rows.push(...page.items);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const all = !conn.value;
    fill(list, table('Inbound events', all ? ['When', 'Connection', ...EVENT_HEADINGS.slice(1)] : EVENT_HEADINGS,
      eventRows(rows, all), 'No deliveries match.'));
  };
  more.addEventListener('click', () => load(true).catch(ctx.fail));
  for (const el of [conn, outcome, since]) el.addEventListener('change', () => load(false).catch(ctx.fail));
  fill(main,
    h('h1', {}, 'Inbound events'),
    h('p', { class: 'muted' }, 'Every webhook delivery to a connection: accepted, duplicate (already received, dropped) or rejected with the reason. Newest first.'),
    h('div', { class: 'filters' }, field('Connection', conn), field('Outcome', outcome), field('Period', since)),
    list, h('div', { class: 'actions' }, more));
  await load(false);
}

export async function catalogue(main, ctx) {
  const connectors = await api.all('/v1/connectors');
  const categories = [...new Set(connectors.map((c) => c.category))].sort();
  const search = h('input', { type: 'search', id: 'catalogue-search', placeholder: 'name, stream, write…' });
  const category = h('select', { id: 'catalogue-category' },
    h('option', { value: '' }, 'All categories'),
    categories.map((c) => h('option', { value: c }, c)));
  const list = h('div', { class: 'cards', id: 'catalogue-list' });
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = connectors.filter((c) => (!category.value || c.category === category.value)
      && (!q || [c.id, c.name, c.description, ...c.streams, ...c.writes].join(' ').toLowerCase().includes(q)));
    count.textContent = `${shown.length} of ${connectors.length} connectors`;
    fill(list, shown.map((c) => connectorCard(c, ctx)));
  };
  search.addEventListener('input', render);
  category.addEventListener('change', render);
  fill(main,
    h('h1', {}, 'Catalogue'),
    h('div', { class: 'filters' }, field('Search', search), field('Category', category)),
    count, list);
  render();
}

function connectorCard(c, ctx) {
  const card = h('article', { class: 'card connector', 'aria-label': c.name },
    h('h2', {}, c.name, ' ', badge(c.category)),
    h('p', {}, c.description),
    h('dl', {},
      h('dt', {}, 'Auth'), h('dd', {}, c.auth_kinds.length ? c.auth_kinds.join(', ') : 'none'),
      h('dt', {}, 'Streams'), h('dd', {}, c.streams.length ? c.streams.join(', ') : '—'),
      h('dt', {}, 'Writes'), h('dd', {}, c.writes.length ? c.writes.join(', ') : '—'),
      c.webhook_scheme ? [h('dt', {}, 'Webhooks'), h('dd', {}, c.webhook_scheme)] : null));
  if (ctx.can('write')) {
    const slot = h('div');
    card.append(h('button', { type: 'button', onclick: () => fill(slot, connectionForm(c, ctx)) },
      `Create a ${c.name} connection`), slot);
  }
  return card;
}

function connectionForm(c, ctx) {
  const name = h('input', { name: 'name', value: c.name });
  const config = c.config.map((f) => [f.name, h('input', { name: `config.${f.name}`, required: f.required })]);
  const option = c.auth_options[0];
  const creds = (option ? option.credentials : []).map((n) => [n, h('input', {
    name: `credentials.${n}`, type: 'password', autocomplete: 'off',
  })]);
  const form = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    const body = { provider: c.id, name: name.value, config: {}, credentials: {} };
    for (const [n, el] of config) if (el.value) body.config[n] = el.value;
    for (const [n, el] of creds) if (el.value) body.credentials[n] = el.value;
    try {
      const created = await api.post('/v1/connections', body);
      ctx.notify(`Connection ${created.id} created.`);
      ctx.go(`#/connections/${api.seg(created.id)}`);
    } catch (err) {
      ctx.fail(err);
    }
  } },
  field('Name', name),
  config.map(([n, el]) => field(n, el, c.config.find((f) => f.name === n).description)),
  creds.map(([n, el]) => field(`${n} (${option.kind}; stored in Secrets Manager)`, el)),
  h('button', { type: 'submit', class: 'primary' }, 'Create connection'));
  return form;
}

export async function connection(main, ctx, id) {
  const [c, flows, events] = await Promise.all([
    api.get(`/v1/connections/${api.seg(id)}`),
    api.all('/v1/flows'),
    lastDay(`/v1/connections/${api.seg(id)}/events`),
  ]);
  const hr = health(c);
  const uses = flows.filter((f) => f.source_connection === id || f.destination_connection === id);
  const hd = c.health || {};
  const buttons = h('div', { class: 'actions' });
  const result = h('div', { id: 'test-result', 'aria-live': 'polite' });
  const slot = h('div');
  if (ctx.can('run')) {
    buttons.append(action('Test now', ctx, async () => {
      fill(result, h('p', { class: 'muted' }, 'Testing…'));
      const t = await api.post(`/v1/connections/${api.seg(id)}/test`);
      fill(result, testResult(t));
    }, 'primary'));
  }
  if (ctx.can('write') && (c.has_credentials || c.webhook_path)) {
    buttons.append(action('Rotate secret', ctx, async () => {
      const def = await api.get(`/v1/connectors/${api.seg(c.provider)}`).catch(() => null);
      fill(slot, rotateForm(c, def, ctx));
      slot.querySelector('input').focus();
    }));
  }
  fill(main,
    h('p', { class: 'crumbs' }, link('#/overview', 'Overview'), ' / connection'),
    h('h1', {}, c.name),
    buttons, result, slot,
    section('Details', h('dl', { class: 'grid' },
      h('dt', {}, 'Id'), h('dd', {}, c.id),
      h('dt', {}, 'Provider'), h('dd', {}, c.provider),
      h('dt', {}, 'State'), h('dd', {}, hr.state),
      h('dt', {}, 'Circuit'), h('dd', {}, hr.circuit),
      h('dt', {}, 'Last check'), h('dd', {}, hd.last_check_at ? `${when(hd.last_check_at)}${hd.last_latency_ms != null ? ` (${hd.last_latency_ms} ms)` : ''}` : 'never'),
      h('dt', {}, 'Last error'), h('dd', {}, hd.last_error ? `${hd.last_error} (${when(hd.last_error_at)})` : 'none'),
      h('dt', {}, 'Credentials'), h('dd', {}, c.has_credentials ? 'stored in Secrets Manager' : 'none'),
      h('dt', {}, 'Webhooks'), h('dd', {}, c.webhook_path ? `${c.webhook_scheme} at ${c.webhook_path}` : 'none'),
      c.webhook_path ? [h('dt', {}, 'Inbound events'), h('dd', { id: 'inbound-anomaly' }, inbound(c))] : null,
      h('dt', {}, 'Created'), h('dd', {}, when(c.created_at)),
      Object.entries(c.config).map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))]))),
    section('Flows using it', table('Flows using this connection', ['Flow', 'Direction'],
      uses.map((f) => [flowLink(f.id, f.name), f.source_connection === id ? `source (${f.source_stream})` : `destination (${f.destination_operation})`]),
      'No flow uses this connection.')),
    section('Recent inbound events',
      eventsChart(events, 'chart-events'),
      table('Recent inbound events', EVENT_HEADINGS, eventRows(events.slice(0, 10), false),
        c.webhook_path ? 'No deliveries in the last 24 hours.' : 'This connection takes no webhooks.'),
      h('p', {}, link(`#/events/${api.seg(id)}`, 'All of its inbound events'))));
}

/** The connection's webhook stream against its hourly baseline, in words. */
function inbound(c) {
  const a = c.inbound_anomaly;
  if (a) {
    return h('span', {}, badge('anomaly', 'bad'), ' ', a.summary,
      ` (${a.hours} hour${a.hours === 1 ? '' : 's'} so far; alerted when it began)`);
  }
  if (c.inbound_counted_until) return h('span', {}, badge('as usual', 'good'), ` per hour, counted until ${when(c.inbound_counted_until)}`);
  return 'not counted yet: the health checker counts each hour once it is over';
}

/** A flow's open data-quality anomalies, one line each. */
function anomalies(list) {
  if (!list || !list.length) return h('p', { class: 'muted', id: 'anomalies' }, 'None: the flow runs as its baseline says it usually does.');
  return h('ul', { class: 'anomalies', id: 'anomalies' }, list.map((a) => h('li', { class: 'bad-edge' },
    badge(a.metric.replace('_', ' '), 'bad'), ' ', a.summary,
    h('small', { class: 'muted' }, ` — ${a.jobs} job${a.jobs === 1 ? '' : 's'} so far, since ${when(a.since)}; alerted when it began`))));
}

/** What POST .../test found, in words. */
function testResult(t) {
  const words = {
    ok: `The check succeeded in ${t.latency_ms} ms.`,
    failed: `The check failed${t.latency_ms != null ? ` after ${t.latency_ms} ms` : ''}: ${t.error}`,
    not_checkable: 'This connection cannot be checked: its connector has no check request, or it holds no API credentials.',
  };
  return h('div', { class: `card result ${t.ok ? 'good-edge' : 'bad-edge'}` },
    h('p', {}, badge(t.result.replace('_', ' '), t.ok ? 'good' : (t.result === 'failed' ? 'bad' : 'plain')), ' ',
      words[t.result] || t.result),
    t.needs_reauth ? h('p', { class: 'bad-text' }, 'The provider refused the credentials: rotate the secret.') : null,
    t.token_refreshed ? h('p', { class: 'muted' }, 'The OAuth token was refreshed on the way.') : null);
}

/** New credentials and/or a new webhook signing secret; nothing secret is shown back. */
function rotateForm(c, def, ctx) {
  const option = def && def.auth_options && def.auth_options[0];
  const creds = c.has_credentials && option
    ? option.credentials.map((n) => [n, h('input', { name: `credentials.${n}`, type: 'password', autocomplete: 'off' })])
    : [];
  const hook = c.webhook_path ? h('input', { name: 'webhook_secret', type: 'password', autocomplete: 'off' }) : null;
  const form = h('form', { class: 'stack card', 'aria-label': 'Rotate secret', onsubmit: async (e) => {
    e.preventDefault();
    const body = {};
    const given = creds.filter(([, el]) => el.value);
    if (given.length) body.credentials = Object.fromEntries(given.map(([n, el]) => [n, el.value]));
    if (hook && hook.value) body.webhook_secret = hook.value;
    try {
      await api.post(`/v1/connections/${api.seg(c.id)}/rotate-secret`, body);
      ctx.notify(`The secret of ${c.id} was rotated; the previous version is kept as AWSPREVIOUS.`);
      ctx.refresh();
    } catch (err) {
      ctx.fail(err);
    }
  } },
  h('h2', {}, 'Rotate secret'),
  h('p', { class: 'muted' }, 'A new version goes to Secrets Manager. Fill in what changed; empty fields are left out.'),
  creds.map(([n, el]) => field(`${n} (${option.kind})`, el)),
  hook ? field('Webhook signing secret', hook, 'The current one stays accepted until the next rotation.') : null,
  h('button', { type: 'submit', class: 'primary' }, 'Store the new secret'));
  return form;
}

export async function flow(main, ctx, id) {
  const f = await api.get(`/v1/flows/${api.seg(id)}?jobs=30`);
  const buttons = h('div', { class: 'actions' });
  if (ctx.can('run')) {
    buttons.append(action('Run now', ctx, async () => {
      const run = await api.post(`/v1/flows/${api.seg(id)}/run`);
      ctx.notify(`Sync job ${run.job_id} queued.`);
      ctx.refresh();
    }, 'primary'));
  }
  if (ctx.can('write')) {
    buttons.append(f.enabled
      ? action('Pause', ctx, async () => { await api.post(`/v1/flows/${api.seg(id)}/pause`); ctx.notify('Flow paused.'); ctx.refresh(); })
      : action('Resume', ctx, async () => { await api.post(`/v1/flows/${api.seg(id)}/resume`); ctx.notify('Flow resumed.'); ctx.refresh(); }));
  }
  const history = h('div', { id: 'job-history' });
  fill(main,
    h('p', { class: 'crumbs' }, link('#/overview', 'Overview'), ' / flow'),
    h('h1', {}, f.name || f.id),
    buttons,
    section('Settings', h('dl', { class: 'grid' },
      h('dt', {}, 'Status'), h('dd', {}, f.enabled ? badge('active', 'good') : badge('paused', 'warn')),
      h('dt', {}, 'From'), h('dd', {}, connLink(f.source_connection), ` · stream ${f.source_stream}`),
      h('dt', {}, 'To'), h('dd', {}, connLink(f.destination_connection), ` · ${f.destination_operation}`),
      h('dt', {}, 'Mode'), h('dd', {}, f.mode),
      h('dt', {}, 'Schedule'), h('dd', {}, f.schedule_interval_secs ? `every ${f.schedule_interval_secs} s; next ${when(f.next_run_at)}` : 'events only'),
      h('dt', {}, 'Cursor'), h('dd', {}, f.cursor || '—'),
      h('dt', {}, 'Mapping'), h('dd', {}, h('pre', {}, f.mapping)))),
    section('Anomalies', anomalies(f.anomalies)),
    section('Job history', history));
  showJobs(history, f.recent_jobs || []);
  followJobs(history, id, f.recent_jobs || [], ctx);
}

function showJobs(slot, jobs) {
  fill(slot, jobCharts(jobs), h('div', { id: 'jobs' }, table('Recent jobs', ['Job', 'Status', 'Trigger', 'Started', 'Counts', 'Last error'],
    jobs.slice(0, 10).map((j) => [h('code', {}, j.job_id), badge(j.status, JOB_KIND[j.status]), j.trigger, when(j.started_at), jobCounts(j), j.last_error || '—']),
    'No jobs yet.')));
}

/** While a job runs, the history is read again every second (its counts are the progress),
 * until none runs or the view is left. */
function followJobs(slot, id, jobs, ctx) {
  if (!jobs.some((j) => j.status === 'running')) return;
  setTimeout(async () => {
    if (!slot.isConnected) return;
    try {
      const f = await api.get(`/v1/flows/${api.seg(id)}?jobs=30`);
      if (!slot.isConnected) return;
      showJobs(slot, f.recent_jobs || []);
      followJobs(slot, id, f.recent_jobs || [], ctx);
    } catch (err) {
      ctx.fail(err);
    }
  }, 1000);
}

/** Records per job and job duration, oldest of the latest jobs on the left. */
function jobCharts(jobs) {
  if (!jobs.length) return null;
  const old = [...jobs].reverse();
  const every = Math.ceil(old.length / 8);
  const label = (j) => new Date(j.started_at * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const sum = (k) => old.reduce((n, j) => n + ((j.counts || {})[k] || 0), 0);
  const finished = old.filter((j) => j.finished_at);
  const secs = (j) => Math.max(0, j.finished_at - j.started_at);
  return h('div', { class: 'charts' },
    barChart({
      id: 'chart-records',
      title: 'Records per job',
      summary: `Records of the last ${old.length} jobs: ${sum('written')} written, ${sum('unchanged')} unchanged, ${sum('failed')} failed.`,
      bars: old.map((j) => ({
        label: label(j),
        tip: `${when(j.started_at)} (${j.status}): ${jobCounts(j)}`,
        parts: ['written', 'unchanged', 'failed'].map((k) => ({ value: (j.counts || {})[k] || 0, kind: k })),
      })),
      legend: [['written', 'written'], ['unchanged', 'unchanged'], ['failed', 'failed']],
      every,
    }),
    barChart({
      id: 'chart-duration',
      title: 'Job duration',
      summary: finished.length
        ? `Duration of the last ${finished.length} finished jobs: longest ${Math.max(...finished.map(secs))} s.`
        : 'No job has finished yet.',
      bars: finished.map((j) => ({ label: label(j), tip: `${when(j.started_at)}: ${secs(j)} s`, parts: [{ value: secs(j), kind: 'duration' }] })),
      format: (v) => `${v} s`,
      every: Math.ceil(finished.length / 8),
    }));
}

export async function deadLetters(main, ctx) {
  const status = h('select', { id: 'dl-status' },
    h('option', { value: 'parked' }, 'parked'), h('option', { value: 'replayed' }, 'replayed'), h('option', { value: '' }, 'all'));
  const flowFilter = h('input', { type: 'search', id: 'dl-flow', placeholder: 'flow id' });
  const reason = h('input', { type: 'search', id: 'dl-reason', placeholder: 'reason or error' });
  const list = h('div', { id: 'dead-letter-list' });
  const bulk = h('div', { class: 'actions', id: 'dl-bulk' });
  let items = [];
  let shown = [];
  const replayAll = ctx.can('run')
    ? action('Replay all matching', ctx, async () => {
      const todo = shown.filter((d) => d.status === 'parked');
      if (!todo.length) return;
      await replayMany(todo, bulk, ctx);
      await load();
    })
    : null;
  const render = () => {
    const fq = flowFilter.value.trim().toLowerCase();
    const rq = reason.value.trim().toLowerCase();
    shown = items.filter((d) => (!fq || (d.flow_id || '').toLowerCase().includes(fq))
      && (!rq || `${d.reason} ${d.classification} ${d.last_error}`.toLowerCase().includes(rq)));
    if (replayAll) {
      const parked = shown.filter((d) => d.status === 'parked').length;
      replayAll.textContent = `Replay all ${parked} matching`;
      replayAll.hidden = parked === 0;
    }
    fill(list, table('Dead letters', ['Key', 'Flow / connection', 'Reason', 'Attempts', 'Parked', 'Status', ''],
      shown.map((d) => [
        link(`#/dead-letters/${api.seg(d.key)}`, d.key),
        d.flow_id ? flowLink(d.flow_id) : (d.connection_id ? connLink(d.connection_id) : '—'),
        `${d.classification}: ${d.reason}`,
        String(d.attempts),
        when(d.parked_at),
        badge(d.status, d.status === 'parked' ? 'warn' : 'good'),
        d.status === 'parked' && ctx.can('run') ? replayButton(d, ctx, load) : '',
      ]), 'No dead letters match.'));
  };
  const load = async () => {
    items = await api.all(`/v1/dead-letters${status.value ? `?status=${status.value}` : ''}`);
    render();
  };
  status.addEventListener('change', () => load().catch(ctx.fail));
  flowFilter.addEventListener('input', render);
  reason.addEventListener('input', render);
  fill(main,
    h('h1', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'Messages that stopped retrying. Replaying one sends it back to the sync queue.'),
    h('div', { class: 'filters' }, field('Status', status), field('Flow', flowFilter), field('Reason', reason)),
    replayAll ? h('div', { class: 'actions' }, replayAll) : null,
    bulk,
    list);
  await load();
}

/** Replays letters a few at a time, showing how far it got; a failure is counted, not fatal. */
async function replayMany(todo, slot, ctx) {
  const bar = h('progress', { max: String(todo.length), value: '0', id: 'replay-progress' });
  const words = h('span', { 'aria-live': 'polite' });
  fill(slot, h('label', { for: 'replay-progress' }, 'Replaying'), bar, words);
  let done = 0;
  const failed = [];
  const queue = [...todo];
  const worker = async () => {
    for (let d = queue.shift(); d; d = queue.shift()) {
      try {
        await api.post(`/v1/dead-letters/${api.seg(d.key)}/replay`);
      } catch (err) {
        failed.push(`${d.key}: ${err.message}`);
      }
      done += 1;
      bar.value = done;
      words.textContent = `${done} of ${todo.length}${failed.length ? `, ${failed.length} failed` : ''}`;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  fill(slot, h('p', { id: 'replay-summary' },
    `Replayed ${todo.length - failed.length} of ${todo.length} dead letters.`,
    failed.length ? h('ul', { class: 'bad-text' }, failed.map((f) => h('li', {}, f))) : null));
  ctx.notify(`Replayed ${todo.length - failed.length} of ${todo.length} dead letters.`);
}

function replayButton(d, ctx, after) {
  const button = action('Replay', ctx, async () => {
    await api.post(`/v1/dead-letters/${api.seg(d.key)}/replay`);
    ctx.notify(`Dead letter ${d.key} replayed.`);
    await after();
  });
  // Every row has one: a screen reader hears which letter it replays.
  button.setAttribute('aria-label', `Replay ${d.key}`);
  return button;
}

export async function deadLetter(main, ctx, key) {
  const d = await api.get(`/v1/dead-letters/${api.seg(key)}`);
  fill(main,
    h('p', { class: 'crumbs' }, link('#/dead-letters', 'Dead letters'), ' / one'),
    h('h1', {}, `Dead letter ${d.key}`),
    d.status === 'parked' && ctx.can('run')
      ? h('div', { class: 'actions' }, replayButton(d, ctx, async () => ctx.refresh()))
      : null,
    section('Context', h('dl', { class: 'grid' },
      h('dt', {}, 'Kind'), h('dd', {}, d.kind),
      h('dt', {}, 'Flow'), h('dd', {}, d.flow_id ? flowLink(d.flow_id) : '—'),
      h('dt', {}, 'Connection'), h('dd', {}, d.connection_id ? connLink(d.connection_id) : '—'),
      h('dt', {}, 'Status'), h('dd', {}, d.status, d.replayed_at ? ` (${when(d.replayed_at)})` : ''),
      h('dt', {}, 'Classification'), h('dd', {}, d.classification),
      h('dt', {}, 'Reason'), h('dd', {}, d.reason),
      h('dt', {}, 'Attempts'), h('dd', {}, String(d.attempts)),
      h('dt', {}, 'Parked'), h('dd', {}, when(d.parked_at)),
      h('dt', {}, 'Last error'), h('dd', {}, h('pre', {}, d.last_error)))),
    section('Attempts', table('Attempt history', ['Attempt', 'Details'],
      (d.history || []).map((a, i) => [String(i + 1), h('pre', {}, JSON.stringify(a, null, 2))]),
      'No attempt history was recorded.')));
}

export async function keys(main, ctx) {
  const list = await api.all('/v1/keys');
  const name = h('input', { name: 'name', required: true });
  const role = h('select', { name: 'role' }, ['viewer', 'runner', 'editor', 'admin'].map((r) => h('option', { value: r }, r)));
  const shown = h('div', { 'aria-live': 'polite', id: 'key-once' });
  const form = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const k = await api.post('/v1/keys', { name: name.value, role: role.value });
      // The key is in this answer only: show it once, with a way to copy it.
      showOnce(shown, k, `Key ${k.prefix} (${k.role}) created. Copy it now: it is not shown again.`);
      name.value = '';
      const again = await api.all('/v1/keys');
      fill(rows, keyTable(again, ctx, main));
    } catch (err) {
      ctx.fail(err);
    }
  } }, h('h2', {}, 'New key'), field('Name', name), field('Role', role), h('button', { type: 'submit', class: 'primary' }, 'Create key'));
  const rows = h('div', {}, keyTable(list, ctx, main));
  fill(main, h('h1', {}, 'API keys'), shown, section('Keys', rows), h('section', { class: 'card' }, form));
}

function keyTable(list, ctx, main) {
  return table('API keys', ['Prefix', 'Name', 'Role', 'Tier', 'Created', 'State', ''],
    list.map((k) => [
      h('code', {}, k.prefix), k.name, k.role, k.tier, when(k.created_at),
      k.active ? badge('active', 'good') : badge(k.revoked_at ? 'revoked' : 'expired', 'bad'),
      k.active && k.prefix !== ctx.me.key_prefix
        ? h('span', { class: 'actions tight' },
          k.rotated_to ? null : labelled(action('Rotate', ctx, async () => {
            const fresh = await api.post(`/v1/keys/${api.seg(k.prefix)}/rotate`, {});
            await keys(main, ctx);
            showOnce(main.querySelector('#key-once'), fresh, `Key ${k.prefix} rotated: the new key is ${fresh.prefix} (${fresh.role}). The old one works for 24 hours. Copy the new key now: it is not shown again.`);
          }), `Rotate ${k.prefix}`),
          labelled(action('Revoke', ctx, async () => {
            await api.post(`/v1/keys/${api.seg(k.prefix)}/revoke`);
            ctx.notify(`Key ${k.prefix} revoked.`);
            await keys(main, ctx);
          }), `Revoke ${k.prefix}`))
        : '',
    ]));
}

function labelled(button, label) {
  button.setAttribute('aria-label', label);
  return button;
}

/** A new key, shown this once, with its words. */
function showOnce(slot, k, words) {
  fill(slot, h('div', { class: 'card once' }, h('p', {}, words), h('code', { class: 'secret' }, k.key)));
}

export async function audit(main, ctx) {
  const actionFilter = h('input', { type: 'search', id: 'audit-action', placeholder: 'e.g. connection.create' });
  const since = h('select', { id: 'audit-since' },
    h('option', { value: '86400' }, 'last 24 hours'), h('option', { value: '604800' }, 'last 7 days'),
    h('option', { value: '2592000' }, 'last 30 days'), h('option', { value: '' }, 'all'));
  const rows = [];
  const list = h('div', { id: 'audit-list' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  let cursor = null;
  const query = (after) => {
    const q = new URLSearchParams({ limit: '50' });
    if (actionFilter.value.trim()) q.set('action', actionFilter.value.trim());
    if (since.value) q.set('since', String(Math.floor(Date.now() / 1000) - Number(since.value)));
    if (after) q.set('cursor', after);
    return `/v1/audit?${q}`;
  };
  // Only the latest request's answer is shown (a filter changed while a page was loading).
  let latest = 0;
  const load = async (again) => {
    const mine = ++latest;
    const page = await api.get(query(again ? cursor : null));
    if (mine !== latest) return;
    if (!again) rows.length = 0;
    rows.push(...page.items);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    fill(list, table('Audit log', ['When', 'Who', 'Role', 'Action', 'Target', 'Answer', 'Detail'],
      rows.map((e) => [when(e.at), e.actor, e.role || '—', h('code', {}, e.action), e.target || '—',
        e.status != null ? badge(String(e.status), e.status < 400 ? 'good' : 'bad') : '—', e.detail || '']),
      'Nothing was recorded in this period.'));
  };
  more.addEventListener('click', () => load(true).catch(ctx.fail));
  let typing;
  actionFilter.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => load(false).catch(ctx.fail), 300);
  });
  since.addEventListener('change', () => load(false).catch(ctx.fail));
  fill(main,
    h('h1', {}, 'Audit log'),
    h('p', { class: 'muted' }, 'Who changed, ran or touched credentials of what, when, with which key. Newest first.'),
    h('div', { class: 'filters' }, field('Action', actionFilter), field('Period', since)),
    list, h('div', { class: 'actions' }, more));
  await load(false);
}

/** Two-way links' review queue: both versions beside the base, and the resolutions. */
export async function conflicts(main, ctx) {
  const flows = await api.all('/v1/flows');
  const pairs = linkPairs(flows);
  const found = await Promise.all(pairs.map(([a]) => api.get(`/v1/flows/${api.seg(a.id)}/conflicts`)));
  const cards = [];
  pairs.forEach(([a, b], i) => {
    for (const c of found[i].items) cards.push(conflictCard(c, a, b, ctx));
  });
  fill(main,
    h('h1', {}, 'Conflicts'),
    h('p', { class: 'muted' }, 'Records both sides of a two-way link changed since they were last in step, parked for a person by the link’s manual rule. Choose the side that wins (its version is written over the other side at its flow’s next run), or merge: pick a side per field, and the merge is written to both sides now.'),
    pairs.length ? null : h('p', { class: 'empty' }, 'No two-way links: pair two flows with `switchyard flows link`.'),
    pairs.length && !cards.length ? h('p', { class: 'empty' }, 'No open conflicts.') : null,
    h('div', { id: 'conflict-list' }, cards));
}

function conflictCard(c, a, b, ctx) {
  // first_version is the first flow's source side; a is the first flow (the smaller id).
  const sideA = `A: ${a.source_connection} (${a.name || a.id})`;
  const sideB = `B: ${b.source_connection} (${b.name || b.id})`;
  const cols = [[sideA, c.first_version], ['Base (as last synced)', c.base], [sideB, c.second_version]];
  const card = h('article', { class: 'card conflict', 'aria-label': `Conflict ${c.record}` },
    h('h2', {}, `Record ${c.record} ↔ ${c.counterpart}`),
    h('p', { class: 'muted' }, `Seen by ${c.seen_by} ${ago(c.parked_at)}.`),
    h('div', { class: 'versions' }, cols.map(([title, v]) => h('section', { 'aria-label': title },
      h('h3', {}, title),
      v === undefined || v === null ? h('p', { class: 'empty' }, 'not kept') : h('pre', {}, JSON.stringify(v, null, 2))))));
  if (ctx.can('write')) {
    const resolve = (winner, label) => labelled(action(label, ctx, async () => {
      await api.post(`/v1/flows/${api.seg(a.id)}/conflicts/${api.seg(c.record)}/resolve`, { winner: winner.id });
      ctx.notify(`Conflict ${c.record} resolved: ${winner.source_connection}'s version wins.`);
      // The focused button goes with its card: keep the keyboard in the next card, or the list.
      const next = card.nextElementSibling && card.nextElementSibling.querySelector('button');
      card.remove();
      (next || document.querySelector('main h1')).focus();
    }), `${label} for ${c.record}`);
    card.append(h('div', { class: 'actions' },
      resolve(a, 'Take A'),
      resolve(b, 'Take B')),
    mergeForm(c, a, b, card, ctx));
  }
  return card;
}

/** Every leaf field of a record as JSON Pointer -> value (objects are walked; arrays and scalars are leaves). */
function leaves(v, at = '', out = new Map()) {
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
    for (const [k, x] of Object.entries(v)) leaves(x, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, out);
  } else if (at) {
    out.set(at, v);
  }
  return out;
}

const shown = (v) => (v === undefined ? 'absent' : JSON.stringify(v));

/**
 * "Merge given fields": each field the two versions disagree on, with a choice of A or B
 * (A by default). The API writes the merge to both sides now.
 */
function mergeForm(c, a, b, card, ctx) {
  const la = leaves(c.first_version);
  const lb = leaves(c.second_version);
  const fields = [...new Set([...la.keys(), ...lb.keys()])].sort()
    .filter((f) => JSON.stringify(la.get(f)) !== JSON.stringify(lb.get(f)));
  if (!fields.length) return null;
  const picks = fields.map((f, i) => {
    const radio = (side, has) => h('input', {
      type: 'radio', name: `merge-${c.record}-${i}`, value: side, checked: side === 'A' && has,
      disabled: !has, 'aria-label': `Take ${f} from ${side}`,
    });
    return { field: f, a: radio('A', la.has(f)), b: radio('B', lb.has(f)) };
  });
  // A field only B has starts on B.
  for (const p of picks) if (!la.has(p.field)) p.b.checked = true;
  const form = h('form', { class: 'merge', 'aria-label': `Merge ${c.record}`, onsubmit: async (e) => {
    e.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const merge = {};
      for (const p of picks) {
        if (p.a.checked) merge[p.field] = a.id;
        else if (p.b.checked) merge[p.field] = b.id;
      }
      const done = await api.post(`/v1/flows/${api.seg(a.id)}/conflicts/${api.seg(c.record)}/resolve`, { winner: a.id, merge });
      ctx.notify(`Conflict ${c.record} merged: ${done.merged ? 'both sides now hold the merge' : 'A’s version is written at its next run'}.`);
      const next = card.nextElementSibling && card.nextElementSibling.querySelector('button');
      card.remove();
      (next || document.querySelector('main h1')).focus();
    } catch (err) {
      ctx.fail(err);
    } finally {
      button.disabled = false;
    }
  } },
  h('p', { class: 'muted' }, 'Choose a side per field; both sides get the merge now.'),
  table(`Fields of ${c.record} the versions disagree on`, ['Field', 'A', 'B'],
    picks.map((p) => [h('code', {}, p.field),
      h('label', { class: 'pick' }, p.a, ' ', shown(la.get(p.field))),
      h('label', { class: 'pick' }, p.b, ' ', shown(lb.get(p.field)))])),
  labelled(h('button', { type: 'submit' }, 'Merge'), `Merge ${c.record}`));
  return h('details', { class: 'merge-choice' }, h('summary', {}, 'Merge given fields…'), form);
}

/** Mapping suggestions (POST /v1/suggestions): a source stream and a destination write, each
 * of a connection or a connector; the proposal's fields with confidence and reasons, the
 * required fields nothing matched, and the jq mapping, which can be copied or made a flow. */
export async function suggest(main, ctx) {
  const [connections, connectors] = await Promise.all([api.all('/v1/connections'), api.all('/v1/connectors')]);
  const byId = new Map(connectors.map((c) => [c.id, c]));
  const options = (kind) => {
    const out = [];
    for (const c of connections) for (const n of ((byId.get(c.provider) || {})[kind] || [])) out.push(`${c.id}/${n}`);
    for (const c of connectors) for (const n of c[kind]) out.push(`${c.id}/${n}`);
    return out;
  };
  const list = (id, values) => h('datalist', { id }, values.map((v) => h('option', { value: v })));
  const source = h('input', { id: 'suggest-source', name: 'source', required: true, list: 'suggest-sources', placeholder: 'connection/stream', spellcheck: 'false' });
  const destination = h('input', { id: 'suggest-destination', name: 'destination', required: true, list: 'suggest-writes', placeholder: 'connection/write', spellcheck: 'false' });
  const samples = h('textarea', { id: 'suggest-samples', name: 'source_samples', rows: '3', placeholder: '[{"email": "ada@example.com", "name": "Ada Lovelace"}]' });
  const result = h('div', { id: 'suggestion', 'aria-live': 'polite' });
  const form = h('form', { class: 'stack card', 'aria-label': 'Suggest a mapping', onsubmit: async (e) => {
    e.preventDefault();
    const body = { source: source.value.trim(), destination: destination.value.trim() };
    if (samples.value.trim()) {
      try {
        const parsed = JSON.parse(samples.value);
        body.source_samples = Array.isArray(parsed) ? parsed : [parsed];
      } catch {
        ctx.fail({ title: 'Sample records are not JSON', detail: 'give one JSON object or an array of them' });
        return;
      }
    }
    fill(result, h('p', { class: 'muted' }, 'Matching fields…'));
    try {
      const s = await api.post('/v1/suggestions', body);
      fill(result, proposal(s, body, connections, ctx));
    } catch (err) {
      fill(result);
      ctx.fail(err);
    }
  } },
  h('h2', {}, 'Suggest a mapping'),
  h('p', { class: 'muted' }, 'Fields are matched by the providers’ record schemas, name similarity, types and formats, and any sample records you give.'),
  field('Source (connection or connector / stream)', source),
  field('Destination (connection or connector / write)', destination),
  field('Source sample records (optional, JSON)', samples),
  list('suggest-sources', options('streams')), list('suggest-writes', options('writes')),
  h('button', { type: 'submit', class: 'primary' }, 'Suggest'));
  fill(main, h('h1', {}, 'Mapping suggestions'), form, result);
}

function sourceText(src) {
  if (src.kind === 'name_part') return `${src.path} (${src.part === 'first' ? 'first word' : 'after the first word'})`;
  return src.conversion ? `${src.path} (${src.conversion.replaceAll('_', ' ')})` : src.path;
}

function proposal(s, body, connections, ctx) {
  const mapping = h('textarea', { id: 'suggested-mapping', rows: String(Math.min(20, s.mapping.split('\n').length + 1)), spellcheck: 'false' }, s.mapping);
  const copy = action('Copy mapping', ctx, async () => {
    await navigator.clipboard.writeText(mapping.value);
    ctx.notify('The mapping is on the clipboard.');
  });
  const [src, stream] = body.source.split(/\/(.*)/s);
  const [dst, operation] = body.destination.split(/\/(.*)/s);
  const known = (id) => connections.some((c) => c.id === id);
  let create = null;
  if (ctx.can('write') && known(src) && known(dst)) {
    const name = h('input', { id: 'suggest-flow-name', name: 'name', value: `${src} ${stream} to ${dst}` });
    create = h('form', { class: 'stack', 'aria-label': 'Create a flow with this mapping', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const f = await api.post('/v1/flows', { name: name.value, source: src, stream, destination: dst, operation, mapping: mapping.value });
        ctx.notify(`Flow ${f.id} created with the suggested mapping.`);
        ctx.go(`#/flows/${api.seg(f.id)}`);
      } catch (err) {
        ctx.fail(err);
      }
    } },
    h('h3', {}, 'Create a flow with this mapping'),
    field('Flow name', name),
    h('button', { type: 'submit', class: 'primary' }, 'Create flow'));
  }
  return h('section', { class: 'card', 'aria-label': 'Suggested mapping' },
    h('h2', {}, 'Suggested mapping'),
    table('Suggested fields', ['Destination', 'Source', 'Confidence', 'Why'],
      s.fields.map((f) => [h('code', {}, f.destination), sourceText(f.source), f.confidence.toFixed(2), f.reasons.join('; ')]),
      'No field matched.'),
    s.unmatched_required.length
      ? h('p', { class: 'bad-text', id: 'unmatched' }, `Required, nothing matched: ${s.unmatched_required.join(', ')}. Fill these in the mapping yourself.`)
      : null,
    field('Mapping (jq; edit before use)', mapping),
    h('div', { class: 'actions' }, copy),
    create);
}

// --- Webhook subscriptions: Switchyard's events POSTed to the tenant's endpoints.

/** The event catalogue (shared/src/subscriptions/catalogue.rs; the API checks it too). */
const DELIVERY_KIND = { succeeded: 'good', pending: 'plain', failed: 'bad' };
const subLink = (id) => link(`#/webhooks/${api.seg(id)}`, id);

/** Enabled, failing since when, or disabled and why. */
function subState(s) {
  if (!s.enabled) {
    return h('span', {}, badge('disabled', 'bad'),
      s.disabled_reason ? h('small', {}, ` ${s.disabled_reason}`) : h('small', {}, ' paused by a person'),
      s.disabled_at ? h('small', {}, ` · since ${when(s.disabled_at)}`) : null,
      s.failing_since ? h('small', {}, ` · failing since ${when(s.failing_since)}`) : null);
  }
  if (s.failing_since) return h('span', {}, badge('failing', 'warn'), h('small', {}, ` since ${when(s.failing_since)}`));
  return badge('enabled', 'good');
}

/** A new signing secret, shown this once. */
function secretOnce(slot, s, words) {
  fill(slot, h('div', { class: 'card once' }, h('p', {}, words), h('code', { class: 'secret' }, s.secret)));
}

export async function webhooks(main, ctx) {
  const [list, catalogue] = await Promise.all([
    api.all('/v1/webhook-subscriptions'),
    ctx.can('write') ? api.get('/v1/webhook-subscriptions/event-types') : { items: [] },
  ]);
  const shown = h('div', { 'aria-live': 'polite', id: 'secret-once' });
  const rows = h('div', { id: 'subscription-list' }, subscriptionTable(list));
  let form = null;
  if (ctx.can('write')) {
    const url = h('input', { name: 'url', type: 'url', required: true });
    const description = h('input', { name: 'description' });
    // The catalogue is the API's (GET /v1/webhook-subscriptions/event-types), with its words.
    const types = catalogue.items;
    const boxes = types.map((t) => h('input', { type: 'checkbox', name: 'event_types', value: t.type }));
    form = h('form', { class: 'stack', onsubmit: async (e) => {
      e.preventDefault();
      ctx.fail(null);
      try {
        const types = boxes.filter((b) => b.checked).map((b) => b.value);
        const body = { url: url.value.trim(), event_types: types };
        if (description.value.trim()) body.description = description.value.trim();
        const s = await api.post('/v1/webhook-subscriptions', body);
        // The secret is in this answer only: show it once.
        secretOnce(shown, s, `Subscription ${s.id} created. Its signing secret is below; copy it now: it is not shown again.`);
        url.value = '';
        description.value = '';
        for (const b of boxes) b.checked = false;
        fill(rows, subscriptionTable(await api.all('/v1/webhook-subscriptions')));
      } catch (err) {
        ctx.fail(err);
      }
    } },
    h('h2', {}, 'New subscription'),
    field('Endpoint URL', url, 'An https address on the public internet; deliveries are signed the Standard Webhooks way.'),
    h('fieldset', {}, h('legend', {}, 'Event types'),
      boxes.map((b, i) => h('label', { class: 'check', title: types[i].description }, b, ` ${b.value}`,
        h('small', { class: 'muted' }, ` — ${types[i].description}`)))),
    field('Description (optional)', description),
    h('button', { type: 'submit', class: 'primary' }, 'Create subscription'));
  }
  fill(main,
    h('h1', {}, 'Webhook subscriptions'),
    h('p', { class: 'muted' }, 'Switchyard’s events (jobs, records written, dead letters parked, connection state) POSTed to your endpoints. An endpoint that fails every attempt for days is disabled: re-enable it, then recover what it missed.'),
    shown,
    section('Endpoints', rows),
    form ? h('section', { class: 'card' }, form) : null);
}

function subscriptionTable(list) {
  return table('Webhook subscriptions', ['Subscription', 'Endpoint', 'Event types', 'State'],
    list.map((s) => [
      h('span', {}, subLink(s.id), s.description ? [h('br'), h('small', {}, s.description)] : null),
      h('code', {}, s.url),
      s.event_types.join(', '),
      subState(s),
    ]), 'No webhook subscriptions yet.');
}

/** An attempt's outcome in words. */
function attemptWords(a) {
  if (!a) return 'not tried yet';
  const what = a.status_code ? `HTTP ${a.status_code}` : 'no answer';
  return `${what}${a.error ? `: ${a.error}` : ''} (${a.duration_ms} ms, ${ago(a.at)})`;
}

export async function webhook(main, ctx, id) {
  const base = `/v1/webhook-subscriptions/${api.seg(id)}`;
  const statusFilter = h('select', { id: 'delivery-status' },
    [['', 'any status'], ['failed', 'failed'], ['pending', 'pending'], ['succeeded', 'succeeded']]
      .map(([v, t]) => h('option', { value: v }, t)));
  const [s, first] = await Promise.all([api.get(base), api.get(`${base}/deliveries?limit=50`)]);
  const shown = h('div', { 'aria-live': 'polite', id: 'secret-once' });
  const log = h('div', { id: 'delivery-list' });
  const reload = () => webhook(main, ctx, id);

  const showLog = (page) => fill(log, table('Delivery log', ['Created', 'Event', 'Status', 'Attempts', 'Last response', ''],
    page.items.map((d) => [
      when(d.created_at),
      h('span', {}, d.event_type, h('br'), h('small', {}, d.event_id)),
      h('span', {}, badge(d.status, DELIVERY_KIND[d.status] || 'plain'),
        d.next_attempt_at && d.status === 'pending' ? h('small', {}, ` next ${when(d.next_attempt_at)}`) : null),
      String(d.attempts.length),
      attemptWords(d.attempts[d.attempts.length - 1]),
      ctx.can('run') && d.status !== 'pending' && s.enabled
        ? labelled(action('Resend', ctx, async () => {
          await api.post(`${base}/deliveries/${api.seg(d.id)}/resend`);
          await reload();
          ctx.notify(`Delivery ${d.id} queued again (same webhook-id).`);
        }), `Resend ${d.id}`)
        : '',
    ]), statusFilter.value ? 'No deliveries with that status.' : 'No deliveries yet.'),
  page.next_cursor ? h('p', { class: 'muted' }, 'The newest 50 are shown.') : null);
  // Only the latest request's answer is shown (the filter changed while a page was loading).
  let latest = 0;
  const loadLog = async () => {
    const mine = ++latest;
    const q = statusFilter.value ? `&status=${statusFilter.value}` : '';
    const page = await api.get(`${base}/deliveries?limit=50${q}`);
    if (mine === latest) showLog(page);
  };
  statusFilter.addEventListener('change', () => loadLog().catch(ctx.fail));
  showLog(first);

  const actions = [];
  if (ctx.can('write')) {
    actions.push(s.enabled
      ? action('Disable', ctx, async () => {
        await api.call('PATCH', base, { enabled: false });
        await reload();
        ctx.notify(`Subscription ${s.id} disabled: events meanwhile are logged as failed.`);
      })
      : action('Re-enable', ctx, async () => {
        await api.call('PATCH', base, { enabled: true });
        await reload();
        ctx.notify(`Subscription ${s.id} enabled again. Recover what it missed below.`);
      }, 'primary'));
    actions.push(action('Rotate secret', ctx, async () => {
      const fresh = await api.post(`${base}/rotate-secret`);
      secretOnce(shown, fresh, `New signing secret for ${s.id}. For 24 hours deliveries are signed with both the old and the new one. Copy it now: it is not shown again.`);
    }));
    actions.push(action('Delete', ctx, async () => {
      if (!window.confirm(`Delete subscription ${s.id}? Its endpoint gets no more deliveries.`)) return;
      await api.call('DELETE', base);
      ctx.notify(`Subscription ${s.id} deleted.`);
      ctx.go('#/webhooks');
    }, 'danger'));
  }
  let recover = null;
  if (ctx.can('run')) {
    const since = h('input', { type: 'datetime-local', id: 'recover-since', required: true,
      value: localInput(Math.floor(Date.now() / 1000) - 86400) });
    const result = h('p', { id: 'recover-result', 'aria-live': 'polite' });
    recover = h('form', { class: 'stack', onsubmit: async (e) => {
      e.preventDefault();
      ctx.fail(null);
      const at = Math.floor(new Date(since.value).getTime() / 1000);
      if (!Number.isFinite(at)) {
        ctx.fail({ title: 'Choose a time', detail: 'recover needs the time to start from' });
        return;
      }
      try {
        const r = await api.post(`${base}/recover`, { since: at });
        await loadLog();
        fill(result, `${r.queued} failed deliver${r.queued === 1 ? 'y' : 'ies'} queued again.${r.more ? ' More remain: recover again.' : ''}`);
      } catch (err) {
        ctx.fail(err);
      }
    } },
    h('h2', {}, 'Recover'),
    h('p', { class: 'muted' }, 'Send every failed delivery since a time again (at most 1,000 a time).'),
    field('Failed since', since),
    h('button', { type: 'submit', disabled: !s.enabled }, 'Recover failed deliveries'),
    s.enabled ? null : h('small', {}, 'Re-enable the endpoint first.'),
    result);
  }

  fill(main,
    h('h1', {}, `Webhook subscription ${s.id}`),
    shown,
    section('Details', h('dl', { class: 'grid' },
      h('dt', {}, 'Endpoint'), h('dd', {}, h('code', {}, s.url)),
      h('dt', {}, 'Event types'), h('dd', {}, s.event_types.join(', ')),
      h('dt', {}, 'Filter'), h('dd', {}, Object.keys(s.filter || {}).length ? h('code', {}, JSON.stringify(s.filter)) : 'none'),
      h('dt', {}, 'Description'), h('dd', {}, s.description || '—'),
      h('dt', {}, 'State'), h('dd', {}, subState(s)),
      h('dt', {}, 'Previous secret valid until'), h('dd', {}, s.previous_secret_until ? when(s.previous_secret_until) : '—'),
      h('dt', {}, 'Created'), h('dd', {}, when(s.created_at))),
    actions.length ? h('div', { class: 'actions' }, actions) : null),
    section('Delivery log', h('div', { class: 'filters' }, field('Status', statusFilter)), log),
    recover ? h('section', { class: 'card' }, recover) : null,
    h('p', {}, link('#/webhooks', 'All webhook subscriptions')));
}

/** A unix time as a datetime-local input's value (local time, minutes). */
function localInput(unix) {
  const d = new Date(unix * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
