#!/usr/bin/env node
// Browser test of the web page served at / (web/): two accounts in two
// browser contexts share a household; what one does shows up live on the
// other's page (SSE) within a second, without a reload; after the server is
// stopped both pages say they are not live, and after it comes back (same
// port, same data) they reconnect and catch up with a change made meanwhile.
//
//   node tests/browser/live_page.test.mjs <hearth binary> <output dir>
//
// Runs the real `hearth serve` with its embedded PostgreSQL in a temporary
// data directory, and Debian's Chromium (/usr/bin/chromium) through
// playwright-core (no browser download). Every wait is bounded; the whole
// run is cut off after RUN_LIMIT_MS. Exits 0 on success, 1 with a message on
// failure; servers, browser and temporary files are cleaned up either way.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RUN_LIMIT_MS = 115_000;
const LIVE_LIMIT_MS = 1_000;  // a change on one page must reach the other in this
const READY_LIMIT_MS = 45_000;
const STOP_LIMIT_MS = 20_000;
const RECONNECT_LIMIT_MS = 20_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const [binArg, outArg] = process.argv.slice(2);
if (!binArg) {
  console.error('usage: live_page.test.mjs <hearth binary> [output dir]');
  process.exit(2);
}
const hearthBin = path.resolve(binArg);
const outDir = path.resolve(outArg || 'browser-output');

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);

class TestFailure extends Error {}
function fail(message) {
  throw new TestFailure(message);
}

// Polls `probe` until it returns a truthy value; fails with `what` after `ms`.
async function until(what, ms, probe, interval = 25) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      fail(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// ---- the hearth server -------------------------------------------------------

const work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-browser-')));
// The `postgres` user (hearth runs the embedded server as it when root) must
// traverse it, so the cluster stays inside and is removed with it.
fs.chmodSync(work, 0o755);
const dataDir = path.join(work, 'data');
const servers = [];

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HEARTH_')) env[k] = v;
  return { ...env, ...extra };
}

function tail(file, bytes = 4000) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.length > bytes ? `…${text.slice(-bytes)}` : text;
  } catch (e) {
    return `(no log: ${e.message})`;
  }
}

async function startServer(addr, n) {
  const ready = path.join(work, `ready-${n}.json`);
  const logFile = path.join(work, `hearth-${n}.log`);
  const out = fs.openSync(logFile, 'w');
  const child = spawn(hearthBin, ['serve'], {
    env: cleanEnv({
      HEARTH_DATA_DIR: dataDir,
      HEARTH_HTTP_ADDR: addr,
      HEARTH_READY_FILE: ready,
      HEARTH_LOG_LEVEL: 'info',
    }),
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const server = { child, logFile, exited: false, code: null };
  child.on('exit', (code, signal) => {
    server.exited = true;
    server.code = code ?? signal;
  });
  child.on('error', (e) => {
    server.exited = true;
    server.code = e.message;
  });
  servers.push(server);
  const info = await until(`hearth #${n} to write its ready file`, READY_LIMIT_MS, () => {
    if (server.exited) fail(`hearth #${n} exited (${server.code}) before it was ready:\n${tail(logFile)}`);
    if (!fs.existsSync(ready)) return null;
    return JSON.parse(fs.readFileSync(ready, 'utf8'));
  }, 50);
  server.port = info.httpPort;
  return server;
}

async function stopServer(server, signal = 'SIGTERM') {
  if (server.exited) return;
  server.child.kill(signal);
  const deadline = Date.now() + STOP_LIMIT_MS;
  while (!server.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!server.exited) {
    server.child.kill('SIGKILL');
    fail(`hearth did not exit within ${STOP_LIMIT_MS} ms of ${signal}:\n${tail(server.logFile)}`);
  }
}

// A PostgreSQL left running by a killed hearth: stop it by its postmaster.pid.
function stopStrayPostgres() {
  const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGQUIT');
  } catch (e) {
    // none
  }
}

// hearth's private socket directory for the cluster (storage/embedded_postgres.cpp).
function socketDir() {
  let hash = 0xcbf29ce484222325n;
  for (const c of Buffer.from(path.join(dataDir, 'postgres'))) {
    hash ^= BigInt(c);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return `/tmp/hearth-pg-${hash.toString(16).padStart(16, '0')}`;
}

// ---- the API from node (bearer key) -------------------------------------------

async function call(base, method, url, body, key) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(base + url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const envelope = await res.json().catch(() => null);
  return { status: res.status, envelope, headers: res.headers };
}

// ---- the pages ---------------------------------------------------------------

const byTest = (page, id) => page.locator(`[data-testid="${id}"]`);
const stateOf = (page) => byTest(page, 'connection-state').getAttribute('data-state');

async function signUp(page, who) {
  await byTest(page, 'auth').waitFor({ state: 'visible', timeout: 10_000 });
  await byTest(page, 'signup-name').fill(who.name);
  await byTest(page, 'signup-email').fill(who.email);
  await byTest(page, 'signup-password').fill(who.password);
  await byTest(page, 'signup-submit').click();
  await byTest(page, 'home').waitFor({ state: 'visible', timeout: 10_000 });
  const shown = await byTest(page, 'account-name').textContent();
  if (shown !== who.name) fail(`after sign-up the page shows "${shown}", not "${who.name}"`);
}

function item(page, name) {
  return byTest(page, 'shop-list').locator('[data-testid="shop-item"]', {
    has: page.locator('[data-testid="shop-item-name"]', { hasText: name }),
  });
}

// Waits until `page` shows the item `name` (ticked or not, when `done` is
// given); returns the milliseconds it took.
async function seen(page, label, name, done, ms) {
  const t0 = Date.now();
  await until(`${label} to show "${name}"${done === undefined ? '' : ` with done=${done}`}`, ms,
              async () => {
                const li = item(page, name);
                if ((await li.count()) !== 1) return false;
                if (done === undefined) return true;
                return (await li.getAttribute('data-done')) === String(done);
              }, 10);
  return Date.now() - t0;
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  if (!fs.existsSync(hearthBin)) fail(`${hearthBin} is missing: build the hearth target first`);
  if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: apt-get install chromium`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    fail(`playwright-core is not installed: (cd tests/browser && npm install) — ${e.message}`);
  }

  log(`starting ${hearthBin} (embedded PostgreSQL in ${dataDir})`);
  let server = await startServer('127.0.0.1:0', 1);
  const port = server.port;
  const base = `http://127.0.0.1:${port}`;
  log(`hearth is serving on ${base}`);

  // The page itself: served from the binary, with the security headers.
  {
    const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(10_000) });
    const html = await res.text();
    if (res.status !== 200) fail(`GET / answered ${res.status}`);
    if (!res.headers.get('content-type')?.startsWith('text/html')) fail('GET / is not text/html');
    if (!res.headers.get('content-security-policy')?.includes("default-src 'self'"))
      fail('GET / has no strict Content-Security-Policy');
    if (res.headers.get('x-content-type-options') !== 'nosniff') fail('GET / lacks nosniff');
    if (/https?:\/\//.test(html)) fail('the page refers to an external address');
    const etag = res.headers.get('etag');
    const again = await fetch(`${base}/`, { headers: { 'If-None-Match': etag },
                                            signal: AbortSignal.timeout(10_000) });
    if (again.status !== 304) fail(`GET / with If-None-Match answered ${again.status}, not 304`);
    const js = await fetch(`${base}/app.js`, { signal: AbortSignal.timeout(10_000) });
    if (!js.headers.get('content-type')?.startsWith('text/javascript'))
      fail(`app.js is served as ${js.headers.get('content-type')}`);
  }

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanup.browser = browser;
  const problems = [];
  const open = async (label) => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') log(`${label} console: ${m.text()}`);
    });
    let loads = 0;
    page.on('load', () => ++loads);
    // The list reads, to check the catch-up after the restart is differential
    // (HEARTH_BROWSER_DEBUG=1 logs each one).
    const reads = [];
    page.on('response', (r) => {
      const u = new URL(r.url());
      if (r.request().method() !== 'GET' || !/^\/api\/v1\/(shop\/items|plan\/tasks)$/.test(u.pathname))
        return;
      reads.push({ at: Date.now(), status: r.status(), differential: u.searchParams.has('updatedAfter') });
      if (process.env.HEARTH_BROWSER_DEBUG === '1')
        log(`${label} GET ${u.pathname}${u.search} → ${r.status()} ETag ${r.headers().etag}`);
    });
    await page.goto(`${base}/`);
    // A reload would drop this marker (and count another load).
    await page.evaluate(() => { window.hearthTestMarker = 'kept'; });
    return { page, label, loads: () => loads, reads };
  };
  // A password-reset link (docs/api.md, "E-mailed links"): its form shows,
  // the token leaves the address bar at once, and a bad token is told. This
  // server has no smtpURL, so asking for a link is refused with the reason.
  {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => problems.push(`reset page: page error: ${e.message}`));
    await page.goto(`${base}/#reset-password=${'A'.repeat(43)}`);
    await byTest(page, 'reset-form').waitFor({ state: 'visible' });
    if (new URL(page.url()).hash) fail(`the reset token stayed in the address bar: ${page.url()}`);
    await byTest(page, 'reset-password').fill('a new password 1');
    await byTest(page, 'reset-submit').click();
    await until('the reset page to refuse the bad token', 10_000,
                async () => (await byTest(page, 'message').textContent()).includes('token: unknown'));
    await byTest(page, 'forgot-email').fill('someone@example.test');
    await byTest(page, 'forgot-submit').click();
    await until('the page to say that e-mail is off', 10_000,
                async () => (await byTest(page, 'message').textContent()).includes('smtpURL'));
    await context.close();
    log('the password-reset link and form work');
  }
  const one = await open('page 1');
  const two = await open('page 2');
  const p1 = one.page;
  const p2 = two.page;

  const suffix = Date.now().toString(36);
  const alice = { name: 'Alice', email: `alice-${suffix}@example.test`, password: 'alice password' };
  const bob = { name: 'Bob', email: `bob-${suffix}@example.test`, password: 'bob password 1' };
  await signUp(p1, alice);
  await signUp(p2, bob);
  log('both accounts signed up and in');

  // Alice creates the household and adds Bob, on her page.
  await byTest(p1, 'household-name').fill('Test home');
  await byTest(p1, 'household-create').click();
  await byTest(p1, 'lists').waitFor({ state: 'visible' });
  const household = await byTest(p1, 'household-select').inputValue();
  if (!household) fail('no household is selected after creating one');
  await byTest(p1, 'member-email').fill(bob.email);
  await byTest(p1, 'member-add').click();
  await until('page 1 to confirm the new member', 10_000,
              async () => (await byTest(p1, 'message').textContent()).includes('was added'));
  // Bob's page picks the household up (Refresh), which restarts its stream.
  await byTest(p2, 'household-refresh').click();
  await byTest(p2, 'lists').waitFor({ state: 'visible' });
  if ((await byTest(p2, 'household-select').inputValue()) !== household)
    fail('page 2 did not select the shared household');
  for (const x of [one, two])
    await until(`${x.label} to be live`, 10_000, async () => (await stateOf(x.page)) === 'live');
  log(`household ${household} shared; both pages live`);

  // An invitation: this server has no smtpURL, so Alice's page shows the
  // link to pass on; Carol opens it, signs up, and is in the household.
  {
    const carol = { name: 'Carol', email: `carol-${suffix}@example.test`, password: 'carol password' };
    await byTest(p1, 'invite-email').fill(carol.email);
    await byTest(p1, 'invite-send').click();
    const text = await until('page 1 to show the invitation link', 10_000, async () => {
      const t = await byTest(p1, 'message').textContent();
      return t.includes('#invitation=') ? t : '';
    });
    const link = text.slice(text.indexOf('http'));
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => problems.push(`invitee page: page error: ${e.message}`));
    await page.goto(link);
    if (new URL(page.url()).hash) fail(`the invitation token stayed in the address bar: ${page.url()}`);
    await signUp(page, carol);
    await until('the invitee to be in the household', 10_000,
                async () => (await byTest(page, 'household-select').inputValue()) === household);
    await context.close();
    log('an invitation link let a new account join the household');
  }

  // Live: an item added on page 1 appears on page 2, then its tick.
  const milk = `Milk ${suffix}`;
  await byTest(p1, 'shop-new-name').fill(milk);
  await byTest(p1, 'shop-add').click();
  await seen(p1, 'page 1', milk, false, 5_000);
  const addMs = await seen(p2, 'page 2', milk, false, LIVE_LIMIT_MS);
  log(`page 2 showed the new item ${addMs} ms after page 1 did`);

  await item(p1, milk).locator('[data-testid="shop-item-done"]').check();
  await seen(p1, 'page 1', milk, true, 5_000);
  const tickMs = await seen(p2, 'page 2', milk, true, LIVE_LIMIT_MS);
  log(`page 2 showed the tick ${tickMs} ms after page 1 did`);

  // A task, too, the other way round (page 2 → page 1).
  const chore = `Take out the bins ${suffix}`;
  await byTest(p2, 'task-new-name').fill(chore);
  await byTest(p2, 'task-new-due').fill('2030-01-02');
  await byTest(p2, 'task-add').click();
  const task = byTest(p1, 'task-list').locator('[data-testid="task-item"]', { hasText: chore });
  await until('page 1 to show the task from page 2', LIVE_LIMIT_MS + 500,
              async () => (await task.count()) === 1 &&
                  (await task.locator('[data-testid="task-item-due"]').textContent()).includes('2030-01-02'));

  // The server goes away: both pages say they are not live.
  log('stopping hearth (SIGTERM)');
  await stopServer(server);
  for (const x of [one, two])
    await until(`${x.label} to leave the live state`, 10_000,
                async () => (await stateOf(x.page)) !== 'live');
  const downState = await stateOf(p2);
  log(`pages show "${downState}" while the server is down`);

  // It comes back on the same port and data; a change made through the API
  // right away must reach both pages once they have reconnected.
  server = await startServer(`127.0.0.1:${port}`, 2);
  const restarted = Date.now();
  log('hearth restarted');
  const signin = await call(base, 'POST', '/api/v1/auth/signin',
                            { emailAddress: alice.email, password: alice.password });
  if (signin.status !== 201) fail(`API sign-in after the restart: ${signin.status}`);
  const key = signin.envelope.dataValue[0].key;
  const bread = `Bread ${suffix}`;
  const made = await call(base, 'POST', '/api/v1/shop/items',
                          { authHouseholdID: household, name: bread }, key);
  if (made.status !== 201) fail(`API create after the restart: ${made.status} ${made.envelope?.message}`);
  const milkId = await item(p1, milk).getAttribute('data-id');
  const untick = await call(base, 'PUT', `/api/v1/shop/items/${milkId}`, { done: false }, key);
  if (untick.status !== 200) fail(`API update after the restart: ${untick.status}`);

  for (const x of [one, two]) {
    await until(`${x.label} to be live again`, RECONNECT_LIMIT_MS,
                async () => (await stateOf(x.page)) === 'live', 50);
    await seen(x.page, x.label, bread, false, 5_000);
    await seen(x.page, x.label, milk, false, 5_000);
  }
  log('both pages reconnected and caught up');
  for (const x of [one, two]) {
    const after = x.reads.filter((r) => r.at >= restarted);
    const summary = after.map((r) => `${r.status}${r.differential ? ' (updatedAfter)' : ''}`);
    log(`${x.label} list reads after the restart: ${summary.join(', ') || 'none'}`);
    if (!after.some((r) => r.differential && (r.status === 200 || r.status === 304)))
      fail(`${x.label} did not catch up with a differential read (updatedAfter)`);
  }

  for (const x of [one, two]) {
    const marker = await x.page.evaluate(() => window.hearthTestMarker);
    if (marker !== 'kept' || x.loads() !== 1) fail(`${x.label} was reloaded`);
  }
  if (problems.length) fail(`errors in the pages:\n${problems.join('\n')}`);

  const shot = path.join(outDir, 'live_page.png');
  await p2.screenshot({ path: shot, fullPage: true });
  log(`screenshot: ${shot}`);

  // Deleting on page 2 removes the row on page 1; signing out shows the forms.
  await item(p2, bread).locator('[data-testid="shop-item-delete"]').click();
  await until('page 1 to drop the deleted item', LIVE_LIMIT_MS + 500,
              async () => (await item(p1, bread).count()) === 0);
  await byTest(p1, 'signout').click();
  await byTest(p1, 'auth').waitFor({ state: 'visible' });
  const after = await call(base, 'GET', '/api/v1/auth/accounts/me');
  if (after.status !== 401) fail('anonymous /me did not answer 401');

  await browser.close();
  cleanup.browser = null;
  await stopServer(server);
  log(`PASS (new item in ${addMs} ms, tick in ${tickMs} ms)`);
}

const cleanup = { browser: null };
async function cleanUp() {
  if (cleanup.browser) await cleanup.browser.close().catch(() => {});
  for (const s of servers) {
    if (!s.exited) {
      s.child.kill('SIGTERM');
      const deadline = Date.now() + 10_000;
      while (!s.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!s.exited) s.child.kill('SIGKILL');
    }
  }
  stopStrayPostgres();
  fs.rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  fs.rmSync(socketDir(), { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`FAIL: interrupted by ${sig}`);
    cleanUp().finally(() => process.exit(1));
  });
}

const limit = setTimeout(() => {
  console.error(`FAIL: the test did not finish within ${RUN_LIMIT_MS} ms`);
  cleanUp().finally(() => process.exit(1));
}, RUN_LIMIT_MS);

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  console.error(`FAIL: ${e instanceof TestFailure ? e.message : e.stack || e}`);
  for (const s of servers) console.error(`--- ${path.basename(s.logFile)} (tail) ---\n${tail(s.logFile, 3000)}`);
}
await cleanUp();
clearTimeout(limit);
process.exit(code);
