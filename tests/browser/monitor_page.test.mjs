#!/usr/bin/env node
// Browser test of the uptime status page served at /monitor (web/monitor.html):
// two monitored sites, one up (hearth's own /api/v1/health) and one down (a
// closed port). The page lists both; checks made through the operator API
// show up on it without a reload (badge, last check, latency, result); the
// down site comes up when something listens on its port; after the server
// is stopped the page says it is not live, and after it comes back (same
// port, same data) the snapshot of the new stream replaces the table (a site
// deleted before is gone, a check made meanwhile is shown). The webhook
// points at a closed port with no retries, so each transition becomes a
// dead letter: the operator view (/monitor?operator, with the operator's
// credentials) shows their count, the public view shows nothing of it.
//
//   node tests/browser/monitor_page.test.mjs <hearth binary> <output dir>
//
// Same scaffolding as live_page.test.mjs: the real `hearth serve` with its
// embedded PostgreSQL in a temporary data directory, Debian's Chromium
// (/usr/bin/chromium) through playwright-core. Every wait is bounded; the
// whole run is cut off after RUN_LIMIT_MS. Exits 0 on success, 1 with a
// message on failure; servers, browser and temporary files are cleaned up
// either way.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const RUN_LIMIT_MS = 150_000;
// A check must reach the page in this: the status poll (uptimeStatusPollMs,
// default 1000) plus the way through the stream, with room for a loaded machine.
const LIVE_LIMIT_MS = 5_000;
const READY_LIMIT_MS = 45_000;
const STOP_LIMIT_MS = 20_000;
const RECONNECT_LIMIT_MS = 20_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OPERATOR = { Authorization: `Basic ${Buffer.from('operator:browser-test').toString('base64')}` };

const [binArg, outArg] = process.argv.slice(2);
if (!binArg) {
  console.error('usage: monitor_page.test.mjs <hearth binary> [output dir]');
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

const work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-monitor-')));
// The `postgres` user (hearth runs the embedded server as it when root) must
// traverse it, so the cluster stays inside and is removed with it.
fs.chmodSync(work, 0o755);
const dataDir = path.join(work, 'data');
const servers = [];
let hookURL = '';  // the webhook: a closed port (set before the first start)

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
      // The operator API needs the password; the status page does not.
      HEARTH_OPERATOR_PASSWORD: 'browser-test',
      // Checks happen when the test asks (a yearly schedule never comes up).
      HEARTH_UPTIME_CHECK_SCHEDULE: '0 0 1 1 *',
      HEARTH_UPTIME_PROBE_TIMEOUT_MS: '2000',
      // Every transition's webhook fails once and becomes a dead letter.
      HEARTH_SECRET_UPTIME_WEBHOOK_URL: hookURL,
      HEARTH_UPTIME_WEBHOOK_MAX_RETRIES: '0',
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

// ---- the operator API from node (Basic auth) ----------------------------------

async function call(base, method, url, body, headers = OPERATOR) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(base + url, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const envelope = await res.json().catch(() => null);
  return { status: res.status, envelope, headers: res.headers };
}

async function addSite(base, url) {
  const res = await call(base, 'POST', '/api/v1/monitor/sites', { url });
  if (res.status !== 201) fail(`adding ${url}: ${res.status} ${res.envelope?.message}`);
  return res.envelope.dataValue[0].id;
}

async function checkSite(base, id) {
  const res = await call(base, 'POST', `/api/v1/monitor/check/${id}`);
  if (res.status !== 200) fail(`checking ${id}: ${res.status} ${res.envelope?.message}`);
  return res.envelope.dataValue[0];
}

// A loopback port with nothing listening on it (bound, then closed).
async function closedPort() {
  const s = net.createServer();
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// ---- the page ------------------------------------------------------------------

const byTest = (page, id) => page.locator(`[data-testid="${id}"]`);
const stateOf = (page) => byTest(page, 'connection-state').getAttribute('data-state');
const rowOf = (page, id) => page.locator(`[data-testid="site"][data-id="${id}"]`);

// What the page shows for a site (null when it has no row).
async function shown(page, id) {
  const row = rowOf(page, id);
  if ((await row.count()) !== 1) return null;
  // One read of the whole row (one evaluate), so an update that lands
  // between two reads cannot mix the old and the new check.
  return await row.evaluate((el) => {
    const text = (t) => el.querySelector(`[data-testid="${t}"]`).textContent.trim();
    return {
      state: el.getAttribute('data-state'),
      badge: text('site-state'),
      checked: el.getAttribute('data-checked'),
      lastCheck: text('site-last-check'),
      latency: text('site-latency'),
      result: text('site-result'),
      url: text('site-url'),
    };
  });
}

// Waits until `page` shows check `c` (a MonitorCheck) on its site's row;
// returns the milliseconds it took.
async function showsCheck(page, c, what) {
  const t0 = Date.now();
  const s = await until(`the page to show ${what}`, LIVE_LIMIT_MS, async () => {
    const v = await shown(page, c.siteID);
    return v && v.checked === c.checkedAt ? v : null;
  }, 20);
  const state = c.up ? 'up' : 'down';
  if (s.state !== state || s.badge !== state) fail(`${what}: the badge shows ${s.badge} (${s.state}), not ${state}`);
  if (s.latency !== `${c.durationMs} ms`) fail(`${what}: latency "${s.latency}", not "${c.durationMs} ms"`);
  const result = c.status != null ? `HTTP ${c.status}` : c.error;
  if (s.result !== result) fail(`${what}: result "${s.result}", not "${result}"`);
  if (!/^(just now|\d+ s ago)$/.test(s.lastCheck)) fail(`${what}: last check "${s.lastCheck}"`);
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

  hookURL = `http://127.0.0.1:${await closedPort()}/hook`;
  log(`starting ${hearthBin} (embedded PostgreSQL in ${dataDir})`);
  let server = await startServer('127.0.0.1:0', 1);
  const port = server.port;
  const base = `http://127.0.0.1:${port}`;
  log(`hearth is serving on ${base}`);

  // The page: served from the binary at /monitor, with the security headers.
  {
    const res = await fetch(`${base}/monitor`, { signal: AbortSignal.timeout(10_000) });
    const html = await res.text();
    if (res.status !== 200) fail(`GET /monitor answered ${res.status}`);
    if (!res.headers.get('content-type')?.startsWith('text/html')) fail('GET /monitor is not text/html');
    const csp = res.headers.get('content-security-policy') || '';
    if (!csp.includes("default-src 'self'") || !csp.includes("script-src 'self'") ||
        !csp.includes("connect-src 'self'"))
      fail(`GET /monitor has no strict Content-Security-Policy: ${csp}`);
    if (res.headers.get('x-content-type-options') !== 'nosniff') fail('GET /monitor lacks nosniff');
    if (/https?:\/\//.test(html)) fail('the page refers to an external address');
    if (/<script(?![^>]*\bsrc=)/i.test(html) || /\sstyle=/i.test(html))
      fail('the page has an inline script or style');
    const again = await fetch(`${base}/monitor`, { headers: { 'If-None-Match': res.headers.get('etag') },
                                                   signal: AbortSignal.timeout(10_000) });
    if (again.status !== 304) fail(`GET /monitor with If-None-Match answered ${again.status}, not 304`);
    for (const [file, type] of [['monitor.js', 'text/javascript'], ['monitor.css', 'text/css']]) {
      const r = await fetch(`${base}/${file}`, { signal: AbortSignal.timeout(10_000) });
      if (r.status !== 200 || !r.headers.get('content-type')?.startsWith(type))
        fail(`${file}: ${r.status} ${r.headers.get('content-type')}`);
      if (/https?:\/\//.test(await r.text())) fail(`${file} refers to an external address`);
    }
    // The operator API needs the password; the status does not.
    if ((await call(base, 'GET', '/api/v1/monitor/sites', undefined, {})).status !== 401)
      fail('the operator API answered without credentials');
    if ((await call(base, 'GET', '/api/v1/monitor/status', undefined, {})).status !== 200)
      fail('the status is not public');
  }

  const upURL = `${base}/api/v1/health`;
  const downPort = await closedPort();
  const downURL = `http://127.0.0.1:${downPort}/`;
  const up = await addSite(base, upURL);
  const down = await addSite(base, downURL);
  log(`sites: up ${up} (${upURL}), down ${down} (${downURL})`);

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
  const context = await browser.newContext({ viewport: { width: 1000, height: 600 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') log(`console: ${m.text()}`);
  });
  let loads = 0;
  page.on('load', () => ++loads);
  await page.goto(`${base}/monitor`);
  await page.evaluate(() => { window.hearthTestMarker = 'kept'; });  // a reload drops it

  await until('the page to be live', 10_000, async () => (await stateOf(page)) === 'live');
  await until('the page to list both sites', 5_000,
              async () => (await byTest(page, 'site').count()) === 2);
  const order = await byTest(page, 'site').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  if (order.join() !== [up, down].join()) fail(`rows in the order ${order}, not as added`);
  for (const [id, url] of [[up, upURL], [down, downURL]]) {
    const s = await shown(page, id);
    if (s.url !== url) fail(`row ${id} shows "${s.url}", not ${url}`);
    if (s.state !== 'unknown' || s.lastCheck !== 'never' || s.latency !== '—')
      fail(`an unchecked site shows ${JSON.stringify(s)}`);
  }
  log('the page is live and lists both sites, unchecked');

  // Checks through the operator API reach the page without a reload.
  const upCheck = await checkSite(base, up);
  if (!upCheck.up) fail(`hearth's own health is down: ${JSON.stringify(upCheck)}`);
  const upMs = await showsCheck(page, upCheck, 'the up site');
  log(`up site shown ${upMs} ms after its check answered (${upCheck.durationMs} ms, HTTP ${upCheck.status})`);
  const downCheck = await checkSite(base, down);
  if (downCheck.up) fail('the closed port is up');
  const downMs = await showsCheck(page, downCheck, 'the down site');
  log(`down site shown ${downMs} ms after its check answered (${downCheck.error})`);
  const summary = await byTest(page, 'summary').textContent();
  if (!summary.includes('1 up, 1 down')) fail(`summary "${summary}"`);

  // The down site comes up: something listens on its port now.
  const site = http.createServer((req, res) => res.end('ok'));
  cleanup.site = site;
  await new Promise((resolve, reject) => {
    site.once('error', reject);
    site.listen(downPort, '127.0.0.1', resolve);
  });
  const flipped = await checkSite(base, down);
  if (!flipped.up || flipped.transition !== 'up') fail(`the flip: ${JSON.stringify(flipped)}`);
  const flipMs = await showsCheck(page, flipped, 'the down site coming up');
  log(`the flip to up shown ${flipMs} ms after its check answered`);
  if (!(await byTest(page, 'summary').textContent()).includes('2 up, 0 down')) fail('summary after the flip');

  // The public view shows nothing of the dead letters; the operator view
  // (with the operator's credentials) shows how many there are, as the
  // operator route counts them.
  const counted = async () => {
    const res = await call(base, 'GET', '/api/v1/admin/dead-letters/counts');
    if (res.status !== 200) fail(`GET /api/v1/admin/dead-letters/counts: ${res.status}`);
    return res.envelope.dataValue.reduce((sum, c) => sum + c.count, 0);
  };
  const dead = await until('the failed webhooks to become dead letters', 10_000,
                           async () => (await counted()) >= 1 && (await counted()));
  if (!(await byTest(page, 'dead-letters').isHidden())) fail('the public view shows dead letters');
  const operatorContext = await browser.newContext({
    viewport: { width: 1000, height: 600 },
    httpCredentials: { username: 'operator', password: 'browser-test' },
  });
  const operatorPage = await operatorContext.newPage();
  operatorPage.on('pageerror', (e) => problems.push(`operator page error: ${e.message}`));
  await operatorPage.goto(`${base}/monitor?operator`);
  const line = byTest(operatorPage, 'dead-letters');
  await until('the operator view to show the dead letters', 10_000,
              async () => (await line.getAttribute('data-count')) === String(dead));
  const lineText = await line.textContent();
  if (!lineText.startsWith(`${dead} dead letter`) ||
      !lineText.includes(`webhook (site.transition) ${dead}`))
    fail(`the operator view says "${lineText}"`);
  log(`operator view: "${lineText}"`);
  await operatorContext.close();

  const shot = path.join(outDir, 'monitor_page.png');
  await page.screenshot({ path: shot, fullPage: true });
  log(`screenshot: ${shot}`);

  // A deleted site sends no event: the page drops it with its next snapshot.
  const removed = await call(base, 'DELETE', `/api/v1/monitor/sites/${up}`);
  if (removed.status !== 200) fail(`deleting the up site: ${removed.status}`);
  if ((await rowOf(page, up).count()) !== 1) fail('the deleted site left the page before a new snapshot');

  // The server goes away: the page says so.
  log('stopping hearth (SIGTERM)');
  await stopServer(server);
  await until('the page to leave the live state', 10_000, async () => (await stateOf(page)) !== 'live');
  log(`the page shows "${await stateOf(page)}" while the server is down`);

  // It comes back (same port, same data) and the page reconnects: the new
  // stream's snapshot replaces the table (a check made meanwhile shows, the
  // deleted site is gone).
  server = await startServer(`127.0.0.1:${port}`, 2);
  log('hearth restarted');
  site.close();
  cleanup.site = null;
  const lastCheck = await checkSite(base, down);
  if (lastCheck.up) fail('the site is still up after its server closed');
  await until('the page to be live again', RECONNECT_LIMIT_MS, async () => (await stateOf(page)) === 'live', 50);
  await until('the page to drop the deleted site', LIVE_LIMIT_MS,
              async () => (await byTest(page, 'site').count()) === 1 && (await rowOf(page, up).count()) === 0);
  await showsCheck(page, lastCheck, 'the check made while the page was away');
  log('the page reconnected; its table is the new snapshot');

  if (await page.evaluate(() => window.hearthTestMarker) !== 'kept' || loads !== 1) fail('the page was reloaded');
  if (problems.length) fail(`errors in the page:\n${problems.join('\n')}`);

  await browser.close();
  cleanup.browser = null;
  await stopServer(server);
  log(`PASS (checks shown in ${upMs}, ${downMs}, ${flipMs} ms)`);
}

const cleanup = { browser: null, site: null };
async function cleanUp() {
  if (cleanup.browser) await cleanup.browser.close().catch(() => {});
  if (cleanup.site) cleanup.site.close();
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
