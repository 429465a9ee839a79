// hearth's web page: sign up / in, pick a household, a shopping list and
// tasks, kept live over Server-Sent Events (GET /api/v1/sse, cookie auth).
//
// Lists are read with differential sync: the first read is whole; later
// reads send If-None-Match (304 = unchanged) and updatedAfter=<the newest
// `updated` seen>, and merge the newer rows, dropping those missing from the
// envelope's dataIDs. A server without that support sends the whole list
// (no dataIDs), which then replaces the local copy. Every change event of
// the household, and every (re)connection of the stream, re-reads the list.
//
// User data is written with textContent only (never innerHTML).

const API = '/api/v1';

// The household tables shown: SSE `table` name → how to read and draw it.
const LISTS = {
  shop_item: { key: 'shop', path: `${API}/shop/items`, prefix: 'shop' },
  plan_task: { key: 'tasks', path: `${API}/plan/tasks`, prefix: 'task' },
};

const $ = (id) => document.getElementById(id);

const state = {
  account: null,      // AuthAccount when signed in
  households: [],     // AuthHousehold[]
  household: '',      // selected household id
  source: null,       // the EventSource
  reconnectTimer: 0,
  reconnectDelay: 0,
  opened: false,      // the current EventSource has been open at least once
  lists: {},          // key → list state (see newList)
  resetToken: '',     // from a password-reset link, until used
  inviteToken: '',    // from an invitation link, until accepted
};

function newList() {
  // pending: id → done, for ticks on their way to the server (drawn as sent).
  return { rows: new Map(), pending: new Map(), cursor: '', etag: '', etagUrl: '', busy: null,
           again: false };
}

// ---- messages and the connection badge -------------------------------------

function showMessage(text, kind = 'error') {
  const el = $('message');
  el.textContent = text;
  el.className = kind;
  el.hidden = !text;
}

function clearMessage() {
  showMessage('');
}

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

// ---- the API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// One API call: returns { status, body (the envelope or null), headers };
// throws ApiError for a failure status, with the envelope's message.
async function api(method, url, body, headers = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers },
                 credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'the server cannot be reached');
  }
  if (res.status === 304) return { status: 304, body: null, headers: res.headers };
  let envelope = null;
  try {
    envelope = await res.json();
  } catch (e) {
    envelope = null;
  }
  if (!res.ok) {
    const message = (envelope && envelope.message) || `${res.status} ${res.statusText}`;
    if (res.status === 401 && state.account && !url.endsWith('/auth/signin')) signedOut();
    throw new ApiError(res.status, message);
  }
  return { status: res.status, body: envelope, headers: res.headers };
}

function values(envelope) {
  return (envelope && Array.isArray(envelope.dataValue)) ? envelope.dataValue : [];
}

// Runs an action started by the user: its failure is shown, not thrown.
async function act(fn) {
  try {
    await fn();
  } catch (e) {
    showMessage(e instanceof ApiError ? e.message : String(e));
  }
}

// ---- accounts --------------------------------------------------------------

// A link from an e-mail (docs/api.md, "E-mailed links"): the token is taken
// out of the address bar at once, so it stays in no history entry.
function linkToken(prefix) {
  const hash = window.location.hash;
  if (!hash.startsWith(prefix)) return '';
  history.replaceState(null, '', window.location.pathname + window.location.search);
  return hash.slice(prefix.length);
}

async function start() {
  wire();
  state.resetToken = linkToken('#reset-password=');
  if (state.resetToken) $('reset-form').hidden = false;
  state.inviteToken = linkToken('#invitation=');
  if (state.inviteToken) showMessage('sign in or create an account to join the household', 'info');
  const confirmToken = linkToken('#confirm-email=');
  if (confirmToken) {
    await act(async () => {
      const res = await api('POST', `${API}/auth/email/confirm`, { token: confirmToken });
      showMessage(`your e-mail address is now ${values(res.body)[0].emailAddress}`, 'info');
    });
  }
  try {
    const me = await api('GET', `${API}/auth/accounts/me`);
    await signedIn(values(me.body)[0]);
  } catch (e) {
    if (e.status !== 401) showMessage(e.message);
    showAuth();
  }
}

function showAuth() {
  state.account = null;
  $('auth').hidden = false;
  $('home').hidden = true;
  $('signout').hidden = true;
  $('account').textContent = '';
  setConnection('offline');
}

async function signedIn(account) {
  state.account = account;
  $('auth').hidden = true;
  $('home').hidden = false;
  $('signout').hidden = false;
  $('account').textContent = account ? account.name : '';
  let joined = '';
  if (state.inviteToken) {
    const token = state.inviteToken;
    state.inviteToken = '';
    await act(async () => {
      const res = await api('POST', `${API}/auth/invitations/accept`, { token });
      joined = values(res.body)[0].authHouseholdID;
      showMessage('you joined the household', 'info');
    });
  }
  await loadHouseholds(joined);
}

function signedOut() {
  disconnect();
  state.households = [];
  state.household = '';
  state.lists = {};
  for (const spec of Object.values(LISTS)) $(`${spec.prefix}-list`).replaceChildren();
  showAuth();
}

async function signIn(emailAddress, password) {
  await api('POST', `${API}/auth/signin`, { emailAddress, password });  // sets the cookie
  const me = await api('GET', `${API}/auth/accounts/me`);
  clearMessage();
  await signedIn(values(me.body)[0]);
}

// ---- households ------------------------------------------------------------

function storedHousehold() {
  try {
    return localStorage.getItem(`hearth.household.${state.account && state.account.id}`) || '';
  } catch (e) {
    return '';
  }
}

function storeHousehold(id) {
  try {
    localStorage.setItem(`hearth.household.${state.account && state.account.id}`, id);
  } catch (e) {
    // private mode: the choice is not remembered
  }
}

async function loadHouseholds(prefer = '') {
  const res = await api('GET', `${API}/auth/households`);
  const before = state.households.map((h) => h.id).join(',');
  state.households = values(res.body);
  const ids = state.households.map((h) => h.id);
  const select = $('household-select');
  select.replaceChildren(...state.households.map((h) => {
    const o = document.createElement('option');
    o.value = h.id;
    o.textContent = h.name;
    return o;
  }));
  $('household-empty').hidden = ids.length > 0;
  select.hidden = ids.length === 0;
  $('member-form').hidden = ids.length === 0;
  $('invite-form').hidden = ids.length === 0;
  let pick = [prefer, state.household, storedHousehold()].find((id) => id && ids.includes(id));
  if (!pick) pick = ids[0] || '';
  select.value = pick;
  const changed = pick !== state.household;
  if (changed) selectHousehold(pick);
  // The stream covers the households it started with: a new one needs a new stream.
  if (before !== ids.join(',') || !state.source) connect();
}

function selectHousehold(id) {
  state.household = id;
  state.lists = {};
  for (const spec of Object.values(LISTS)) {
    state.lists[spec.key] = newList();
    $(`${spec.prefix}-list`).replaceChildren();
  }
  $('lists').hidden = !id;
  if (!id) return;
  storeHousehold(id);
  refreshAll();
}

// ---- lists: differential sync ----------------------------------------------

function refreshAll() {
  for (const spec of Object.values(LISTS)) refresh(spec);
}

// Re-reads one list; calls while a read is running coalesce into one more read.
function refresh(spec) {
  const list = state.lists[spec.key];
  if (!list || !state.household) return Promise.resolve();
  if (list.busy) {
    list.again = true;
    return list.busy;
  }
  list.busy = (async () => {
    try {
      do {
        list.again = false;
        await read(spec, list, state.household, false);
      } while (list.again && state.lists[spec.key] === list);
    } catch (e) {
      if (e.status !== 0) showMessage(e.message);  // unreachable: the badge says so
    } finally {
      list.busy = null;
    }
  })();
  return list.busy;
}

async function read(spec, list, household, whole) {
  let url = `${spec.path}?authHouseholdID=${encodeURIComponent(household)}`;
  const differential = !whole && list.cursor !== '';
  if (differential) url += `&updatedAfter=${encodeURIComponent(list.cursor)}`;
  const headers = {};
  // An ETag stands for the representation of one URL (same cursor).
  if (list.etag && list.etagUrl === url) headers['If-None-Match'] = list.etag;
  const res = await api('GET', url, undefined, headers);
  if (state.household !== household || state.lists[spec.key] !== list) return;  // switched away
  if (res.status === 304) return;
  const rows = values(res.body);
  const ids = res.body && Array.isArray(res.body.dataIDs) ? res.body.dataIDs : null;
  if (differential && ids) {
    const current = new Map(ids.map((x) => [x.id, x.updated]));
    for (const id of [...list.rows.keys()]) if (!current.has(id)) list.rows.delete(id);
    for (const row of rows) list.rows.set(row.id, row);
    // Every listed row must now be here at its listed version; if not (a
    // write that committed behind the cursor), read the whole list once.
    const stale = [...current].some(([id, updated]) => {
      const row = list.rows.get(id);
      return !row || row.updated !== updated;
    });
    if (stale) return read(spec, list, household, true);
  } else {
    list.rows = new Map(rows.map((row) => [row.id, row]));
  }
  for (const row of list.rows.values())
    if (row.updated && row.updated > list.cursor) list.cursor = row.updated;
  list.etag = res.headers.get('ETag') || '';
  list.etagUrl = url;
  render(spec, list);
}

function sorted(list) {
  return [...list.rows.values()].sort((a, b) =>
    a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

// Draws a list, reusing each row's element (keyed by id).
function render(spec, list) {
  const ul = $(`${spec.prefix}-list`);
  const existing = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  const items = sorted(list).map((row) => {
    const li = existing.get(row.id) || makeItem(spec, row.id);
    fillItem(spec, li, row, list.pending.get(row.id));
    return li;
  });
  ul.replaceChildren(...items);
  ul.dataset.count = String(items.length);
}

function makeItem(spec, id) {
  const li = document.createElement('li');
  li.setAttribute('data-testid', `${spec.prefix}-item`);
  li.dataset.id = id;
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.setAttribute('data-testid', `${spec.prefix}-item-done`);
  box.addEventListener('change', () => act(() => setDone(spec, id, box.checked)));
  const name = document.createElement('span');
  name.className = 'name';
  name.setAttribute('data-testid', `${spec.prefix}-item-name`);
  li.append(box, name);
  if (spec.key === 'tasks') {
    const due = document.createElement('span');
    due.className = 'due';
    due.setAttribute('data-testid', `${spec.prefix}-item-due`);
    li.append(due);
  }
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'delete';
  del.title = 'Delete';
  del.textContent = '✕';
  del.setAttribute('aria-label', 'Delete');
  del.setAttribute('data-testid', `${spec.prefix}-item-delete`);
  del.addEventListener('click', () => act(() => remove(spec, id)));
  li.append(del);
  return li;
}

function fillItem(spec, li, row, pending) {
  const done = pending === undefined ? row.done === true : pending;
  li.dataset.done = String(done);
  li.classList.toggle('done', done);
  li.querySelector('input[type="checkbox"]').checked = done;
  li.querySelector('.name').textContent = row.name || '';
  const due = li.querySelector('.due');
  if (due) due.textContent = row.dueDate ? `due ${row.dueDate}` : '';
}

async function add(spec, fields) {
  const household = state.household;
  const res = await api('POST', spec.path, { authHouseholdID: household, ...fields });
  clearMessage();
  const list = state.lists[spec.key];
  const row = values(res.body)[0];
  if (row && list && state.household === household) {
    list.rows.set(row.id, row);
    render(spec, list);
  }
}

async function setDone(spec, id, done) {
  const list = state.lists[spec.key];
  if (list) list.pending.set(id, done);
  try {
    const res = await api('PUT', `${spec.path}/${encodeURIComponent(id)}`, { done });
    clearMessage();
    const row = values(res.body)[0];
    if (row && list && list.rows.has(id)) list.rows.set(id, row);
  } finally {
    if (list && list.pending.get(id) === done) list.pending.delete(id);
    if (list) render(spec, list);  // the server's state (the old one on failure)
  }
}

async function remove(spec, id) {
  await api('DELETE', `${spec.path}/${encodeURIComponent(id)}`);
  clearMessage();
  const list = state.lists[spec.key];
  if (list && list.rows.delete(id)) render(spec, list);
}

// ---- live updates ----------------------------------------------------------

function disconnect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = 0;
  if (state.source) state.source.close();
  state.source = null;
  state.opened = false;
}

// Opens the event stream (cookie auth). EventSource retries by itself after
// a dropped connection (the server's `retry:`); when it gives up (an error
// status such as 401 or 503) a new one is made here, with backoff.
function connect() {
  disconnect();
  if (!state.account) return;
  if (!navigator.onLine) {
    setConnection('offline');
    return;
  }
  setConnection(state.reconnectDelay ? 'reconnecting' : 'connecting');
  const source = new EventSource(`${API}/sse`);
  state.source = source;
  source.addEventListener('open', () => {
    if (state.source !== source) return;
    state.opened = true;
    state.reconnectDelay = 0;
    setConnection('live');
    // Catch up on whatever happened while the stream was away (or before it
    // started): a conditional, differential read of each list.
    refreshAll();
  });
  source.addEventListener('change', (ev) => {
    if (state.source !== source) return;
    onChange(parse(ev.data));
  });
  source.addEventListener('resync', (ev) => {
    if (state.source !== source) return;
    const data = parse(ev.data);
    if (data && data.authHouseholdID === state.household) refreshAll();
  });
  source.addEventListener('error', () => {
    if (state.source !== source) return;
    if (!navigator.onLine) {
      setConnection('offline');
    } else {
      setConnection(state.opened ? 'reconnecting' : 'connecting');
    }
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
    try {
      // Still signed in? (A 401 signs the page out.) Also picks up households.
      await loadHouseholds();
      if (!state.source) connect();
    } catch (e) {
      if (state.account) scheduleReconnect();
    }
  }, state.reconnectDelay);
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    return null;
  }
}

function onChange(ev) {
  if (!ev || ev.authHouseholdID !== state.household) return;
  const spec = LISTS[ev.table];
  if (!spec) return;
  const list = state.lists[spec.key];
  if (ev.operation === 'delete' && list && list.rows.delete(ev.id)) render(spec, list);
  refresh(spec);
}

// ---- wiring ----------------------------------------------------------------

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function onSubmit(id, fn) {
  const form = $(id);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    act(() => fn(formValues(form), form)).finally(() => {
      button.disabled = false;
    });
  });
}

function wire() {
  onSubmit('signin-form', async (v) => {
    await signIn(v.emailAddress, v.password);
  });
  onSubmit('forgot-form', async (v, form) => {
    const res = await api('POST', `${API}/auth/password-reset`, { emailAddress: v.emailAddress });
    form.reset();
    showMessage(res.body.message, 'info');
  });
  onSubmit('reset-form', async (v, form) => {
    if (v.newPassword.length < 8) throw new ApiError(400, 'password: at least 8 characters');
    await api('POST', `${API}/auth/password-reset/confirm`,
              { token: state.resetToken, newPassword: v.newPassword });
    state.resetToken = '';
    form.reset();
    form.hidden = true;
    showMessage('your password is changed: sign in with it', 'info');
  });
  onSubmit('signup-form', async (v, form) => {
    if (v.password.length < 8) throw new ApiError(400, 'password: at least 8 characters');
    await api('POST', `${API}/auth/signup`, v);
    await signIn(v.emailAddress, v.password);
    form.reset();
  });
  $('signout').addEventListener('click', () => act(async () => {
    try {
      await api('DELETE', `${API}/auth/signin`);
    } finally {
      signedOut();
    }
  }));
  $('household-select').addEventListener('change', (ev) => selectHousehold(ev.target.value));
  $('household-refresh').addEventListener('click', () => act(() => loadHouseholds()));
  onSubmit('household-form', async (v, form) => {
    // The household's clock is the browser's (task reminders come at its local hour).
    const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const res = await api('POST', `${API}/auth/households`, { name: v.name, timeZone });
    form.reset();
    clearMessage();
    await loadHouseholds(values(res.body)[0].id);
  });
  onSubmit('member-form', async (v, form) => {
    if (!state.household) throw new ApiError(400, 'pick a household first');
    await api('POST', `${API}/auth/households/${encodeURIComponent(state.household)}/members`,
              { emailAddress: v.emailAddress, permissions: v.permissions || 'edit' });
    form.reset();
    showMessage(`${v.emailAddress} was added`, 'info');
  });
  onSubmit('invite-form', async (v, form) => {
    if (!state.household) throw new ApiError(400, 'pick a household first');
    const res = await api(
      'POST', `${API}/auth/households/${encodeURIComponent(state.household)}/invitations`,
      { emailAddress: v.emailAddress, permissions: v.permissions || 'edit' });
    const invitation = values(res.body)[0];
    form.reset();
    // Without e-mail on the server, the link is for the owner to pass on.
    showMessage(invitation.link
      ? `send ${v.emailAddress} this link (valid 7 days, once): ${invitation.link}`
      : `${v.emailAddress} is invited by e-mail`, 'info');
  });
  onSubmit('shop-form', async (v, form) => {
    await add(LISTS.shop_item, { name: v.name });
    form.reset();
  });
  onSubmit('task-form', async (v, form) => {
    await add(LISTS.plan_task, { name: v.name, dueDate: v.dueDate || null });
    form.reset();
  });
  window.addEventListener('offline', () => setConnection('offline'));
  window.addEventListener('online', () => {
    if (state.account) connect();
  });
}

start();
