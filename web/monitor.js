// hearth's uptime status page (GET /monitor): every monitored site with its
// state, last check, latency and result, kept live over Server-Sent Events
// (GET /api/v1/monitor/status/events, apps/uptime/status.hpp):
//   `snapshot`  every site's MonitorStatus; sent first on each (re)connection,
//               it replaces the table
//   `check`     one site's new MonitorStatus after a check on any node
// EventSource reconnects by itself after a dropped connection (the server's
// `retry:`); when it gives up (an error status, e.g. 401 or 503) a new one is
// made here, with backoff. The first read is a plain GET of the status, so
// that when the routes need operator credentials the browser asks for them.
//
// The operator view (/monitor?operator) also shows how many Pub/Sub
// messages wait as dead letters (GET /api/v1/admin/dead-letters/counts, an
// operator route: the browser asks for the operator's credentials), read
// again every 10 s. The public view never calls an operator route.
//
// Data is written with textContent only (never innerHTML).

const STATUS = '/api/v1/monitor/status';
const EVENTS = '/api/v1/monitor/status/events';
const DEAD_LETTER_COUNTS = '/api/v1/admin/dead-letters/counts';
const OPERATOR_VIEW = new URLSearchParams(window.location.search).has('operator');
const DEAD_LETTER_POLL_MS = 10_000;

const $ = (id) => document.getElementById(id);

const state = {
  sites: new Map(),   // site id → MonitorStatus, in the server's order
  source: null,       // the EventSource
  opened: false,      // the current EventSource has been open at least once
  reconnectDelay: 0,
  reconnectTimer: 0,
};

// ---- the badge and messages ---------------------------------------------------

const STATE_TEXT = {
  live: 'live',
  connecting: 'connecting…',
  reconnecting: 'reconnecting…',
  offline: 'offline',
};

function setConnection(s) {
  const el = $('connection');
  if (el.dataset.state === s) return;
  el.dataset.state = s;
  el.textContent = STATE_TEXT[s];
}

function showMessage(text) {
  const el = $('message');
  el.textContent = text;
  el.hidden = !text;
}

// ---- drawing --------------------------------------------------------------------

// "just now", "42 s ago", "3 min ago", "2 h ago", "5 d ago".
function relative(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function cell(row, testid, className) {
  const td = document.createElement('td');
  td.dataset.testid = testid;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function newRow(site) {
  const tr = document.createElement('tr');
  tr.dataset.testid = 'site';
  tr.dataset.id = site.id;
  cell(tr, 'site-url', 'url');
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.testid = 'site-state';
  cell(tr, 'site-state-cell').append(badge);
  const time = document.createElement('time');
  time.dataset.testid = 'site-last-check';
  cell(tr, 'site-last-check-cell').append(time);
  cell(tr, 'site-latency', 'number');
  cell(tr, 'site-result', 'result');
  return tr;
}

function fill(tr, site) {
  const state = site.state === 'up' || site.state === 'down' ? site.state : 'unknown';
  tr.dataset.state = state;
  tr.dataset.checked = site.lastChecked || '';
  tr.querySelector('[data-testid="site-url"]').textContent = site.url;
  const badge = tr.querySelector('[data-testid="site-state"]');
  badge.dataset.state = state;
  badge.textContent = state === 'unknown' ? 'pending' : state;
  const time = tr.querySelector('[data-testid="site-last-check"]');
  if (site.lastChecked) {
    time.dateTime = site.lastChecked;
    time.title = site.lastChecked;
    time.textContent = relative(site.lastChecked);
  } else {
    time.removeAttribute('datetime');
    time.title = '';
    time.textContent = 'never';
  }
  tr.querySelector('[data-testid="site-latency"]').textContent =
      Number.isFinite(site.latencyMs) ? `${site.latencyMs} ms` : '—';
  let result = '—';
  if (site.status !== null && site.status !== undefined) result = `HTTP ${site.status}`;
  else if (site.error) result = site.error;
  tr.querySelector('[data-testid="site-result"]').textContent = result;
}

function summarize() {
  let up = 0;
  let down = 0;
  for (const s of state.sites.values()) {
    if (s.state === 'up') ++up;
    if (s.state === 'down') ++down;
  }
  const n = state.sites.size;
  const pending = n - up - down;
  $('summary').textContent = n === 0 ? '' :
    `${n} ${n === 1 ? 'site' : 'sites'}: ${up} up, ${down} down` +
    (pending ? `, ${pending} not checked yet` : '');
  $('empty').hidden = n !== 0;
  $('sites').hidden = n === 0;
}

// Replaces the whole table (a snapshot).
function replaceAll(sites) {
  state.sites = new Map();
  const body = $('site-rows');
  const rows = [];
  for (const site of sites) {
    if (!site || typeof site.id !== 'string') continue;
    state.sites.set(site.id, site);
    const tr = newRow(site);
    fill(tr, site);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  summarize();
}

// One site's new status (a check event): its row, or a new one at the end.
function update(site) {
  if (!site || typeof site.id !== 'string') return;
  state.sites.set(site.id, site);
  const body = $('site-rows');
  let tr = body.querySelector(`tr[data-id="${CSS.escape(site.id)}"]`);
  if (!tr) {
    tr = newRow(site);
    body.append(tr);
  }
  fill(tr, site);
  tr.classList.remove('changed');
  void tr.offsetWidth;  // restart the highlight
  tr.classList.add('changed');
  summarize();
}

// Relative times move on by themselves.
function tick() {
  const now = Date.now();
  for (const time of document.querySelectorAll('[data-testid="site-last-check"][datetime]'))
    time.textContent = relative(time.dateTime, now);
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    return null;
  }
}

// ---- the data ---------------------------------------------------------------------

// The first read (also makes the browser ask for operator credentials when
// the status needs them).
async function load() {
  try {
    const res = await fetch(STATUS, { headers: { Accept: 'application/json' }, cache: 'no-store',
                                      credentials: 'same-origin' });
    const envelope = await res.json().catch(() => null);
    if (!res.ok) {
      showMessage((envelope && envelope.message) || `${res.status} ${res.statusText}`);
      return;
    }
    // An open stream's snapshot (and checks) are at least as new.
    if (!state.source || state.source.readyState !== EventSource.OPEN) replaceAll(Array.isArray(envelope?.dataValue) ? envelope.dataValue : []);
  } catch (e) {
    showMessage('the server cannot be reached');
  }
}

// The operator view's dead-letter line: the total, and per subscription.
async function loadDeadLetters() {
  const el = $('dead-letters');
  try {
    const res = await fetch(DEAD_LETTER_COUNTS, { headers: { Accept: 'application/json' },
                                                  cache: 'no-store', credentials: 'same-origin' });
    const envelope = await res.json().catch(() => null);
    if (!res.ok) {
      el.textContent = `Dead letters: ${(envelope && envelope.message) || res.status}`;
    } else {
      const counts = Array.isArray(envelope?.dataValue) ? envelope.dataValue : [];
      const total = counts.reduce((sum, c) => sum + (Number(c.count) || 0), 0);
      el.dataset.count = String(total);
      el.textContent = total === 0
        ? 'No dead letters.'
        : `${total} dead letter${total === 1 ? '' : 's'}: ` +
          counts.map((c) => `${c.subscription} (${c.topic}) ${c.count}`).join(', ');
    }
    el.hidden = false;
  } catch (e) {
    // The status line says when the server cannot be reached.
  }
}

function connect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = 0;
  if (state.source) state.source.close();
  if (!navigator.onLine) {
    state.source = null;
    setConnection('offline');
    return;
  }
  setConnection(state.opened ? 'reconnecting' : 'connecting');
  const source = new EventSource(EVENTS);
  state.source = source;
  source.addEventListener('open', () => {
    if (state.source !== source) return;
    state.opened = true;
    state.reconnectDelay = 0;
    showMessage('');
    setConnection('live');
  });
  source.addEventListener('snapshot', (ev) => {
    if (state.source !== source) return;
    const sites = parse(ev.data);
    if (Array.isArray(sites)) replaceAll(sites);
  });
  source.addEventListener('check', (ev) => {
    if (state.source !== source) return;
    update(parse(ev.data));
  });
  source.addEventListener('error', () => {
    if (state.source !== source) return;
    if (!navigator.onLine) setConnection('offline');
    else setConnection(state.opened ? 'reconnecting' : 'connecting');
    if (source.readyState === EventSource.CLOSED) scheduleReconnect();
  });
}

function scheduleReconnect() {
  if (state.source) state.source.close();
  state.source = null;
  state.reconnectDelay = Math.min(Math.max(state.reconnectDelay * 2, 1000), 5000);
  setConnection(navigator.onLine ? 'reconnecting' : 'offline');
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = setTimeout(async () => {
    state.reconnectTimer = 0;
    await load();
    if (!state.source) connect();
  }, state.reconnectDelay);
}

window.addEventListener('online', () => {
  if (!state.source || state.source.readyState === EventSource.CLOSED) connect();
});
window.addEventListener('offline', () => setConnection('offline'));
setInterval(tick, 1000);

load().then(() => {
  if (!state.source) connect();
  if (OPERATOR_VIEW) {
    loadDeadLetters();
    setInterval(loadDeadLetters, DEAD_LETTER_POLL_MS);
  }
});
