// The Fastify peer of hearth's benchmarks: GET and POST /api/v1/shop/items
// against hearth's own schema in the same PostgreSQL, with the same session
// check (SHA-256 of the bearer key in auth_session, unexpired), the same
// membership rules and, for writes, the same transaction (row + household
// event_seq + change_event outbox). Usage: node server.js PORT DATABASE_URL
//
// It is also the Node SSE broadcaster of the fan-out benchmark (bench/fanout.sh):
// GET /api/v1/sse (same bearer check) streams text/event-stream with the
// same frames as hearth (`id:`, `event: change`, `data: {authHouseholdID,
// table, id, operation, updated, seq}`, ':' heartbeats), and a committed POST
// is written to every open stream of the caller's household. One process,
// in-memory subscriber sets, no clustering.
'use strict';
const crypto = require('node:crypto');
const fastify = require('fastify')({ logger: false });
const { Pool } = require('pg');

const port = Number(process.argv[2] || 3200);
const heartbeatMs = 15000;
const retryMs = 2000;
const pool = new Pool({ connectionString: process.argv[3], max: 8 });

function envelope(reply, status, dataType, values, message = '') {
  reply.code(status).send({
    success: status < 400, status, message, requestID: crypto.randomBytes(16).toString('hex'),
    dataType, dataTotal: values.length, dataValue: values,
  });
}

async function principal(client, request) {
  const auth = request.headers.authorization || '';
  if (!auth.startsWith('Bearer ')) return null;
  const hash = crypto.createHash('sha256').update(auth.slice(7)).digest();
  const r = await client.query(
    'SELECT auth_account_id FROM auth_session WHERE key_hash = $1 AND expires > now()', [hash]);
  return r.rows.length ? r.rows[0].auth_account_id : null;
}

const itemColumns = "t.id, t.auth_household_id, t.name, t.done, " +
  "hearth_ts(t.created) AS created, hearth_ts(t.updated) AS updated";
const toItem = (r) => ({ id: r.id, authHouseholdID: r.auth_household_id, name: r.name,
  done: r.done, created: r.created, updated: r.updated });

fastify.get('/api/v1/shop/items', async (request, reply) => {
  const client = await pool.connect();
  try {
    const account = await principal(client, request);
    if (!account) return envelope(reply, 401, 'ShopItem', [], 'sign in');
    const r = await client.query(
      `SELECT ${itemColumns} FROM shop_item t JOIN auth_household_member m ` +
      'ON m.auth_household_id = t.auth_household_id WHERE m.auth_account_id = $1 ' +
      'ORDER BY t.created, t.id', [account]);
    envelope(reply, 200, 'ShopItem', r.rows.map(toItem));
  } finally {
    client.release();
  }
});

fastify.post('/api/v1/shop/items', async (request, reply) => {
  const body = request.body || {};
  if (typeof body.authHouseholdID !== 'string' || typeof body.name !== 'string' ||
      body.name.length < 1 || body.name.length > 1000)
    return envelope(reply, 400, 'ShopItem', [], 'authHouseholdID and name are required');
  const client = await pool.connect();
  try {
    const account = await principal(client, request);
    if (!account) return envelope(reply, 401, 'ShopItem', [], 'sign in');
    await client.query('BEGIN');
    const m = await client.query(
      'SELECT permissions FROM auth_household_member WHERE auth_household_id = $1 ' +
      'AND auth_account_id = $2', [body.authHouseholdID, account]);
    if (!m.rows.length) { await client.query('ROLLBACK'); return envelope(reply, 404, 'ShopItem', []); }
    if (m.rows[0].permissions === 'view') { await client.query('ROLLBACK'); return envelope(reply, 403, 'ShopItem', []); }
    const row = await client.query(
      `INSERT INTO shop_item AS t (auth_household_id, name) VALUES ($1, $2) RETURNING ${itemColumns}`,
      [body.authHouseholdID, body.name]);
    const seq = await client.query(
      'UPDATE auth_household SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq',
      [body.authHouseholdID]);
    await client.query(
      'INSERT INTO change_event (auth_household_id, seq, table_name, row_id, operation, updated) ' +
      "VALUES ($1, $2, 'shop_item', $3, 'create', $4::timestamptz)",
      [body.authHouseholdID, seq.rows[0].event_seq, row.rows[0].id, row.rows[0].updated]);
    await client.query('COMMIT');
    const item = toItem(row.rows[0]);
    broadcast({ authHouseholdID: item.authHouseholdID, table: 'shop_item', id: item.id,
      operation: 'create', updated: item.updated, seq: Number(seq.rows[0].event_seq) });
    envelope(reply, 201, 'ShopItem', [item]);
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    envelope(reply, 500, 'ShopItem', [], '');
  } finally {
    client.release();
  }
});

// household id -> Set of open SSE responses (http.ServerResponse).
const streams = new Map();

function broadcast(change) {
  const set = streams.get(change.authHouseholdID);
  if (!set) return;
  const frame = `id: ${change.seq}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`;
  for (const res of set) res.write(frame);
}

setInterval(() => {
  for (const set of streams.values()) for (const res of set) res.write(':\n\n');
}, heartbeatMs).unref();

fastify.get('/api/v1/sse', async (request, reply) => {
  let households;
  const client = await pool.connect();
  try {
    const account = await principal(client, request);
    if (!account) return envelope(reply, 401, '', [], 'sign in');
    const r = await client.query(
      'SELECT auth_household_id FROM auth_household_member WHERE auth_account_id = $1', [account]);
    households = r.rows.map((row) => row.auth_household_id);
  } finally {
    client.release();
  }
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no',
  });
  res.write(`retry: ${retryMs}\n\n`);
  for (const h of households) {
    if (!streams.has(h)) streams.set(h, new Set());
    streams.get(h).add(res);
  }
  res.on('close', () => {
    for (const h of households) {
      const set = streams.get(h);
      if (!set) continue;
      set.delete(res);
      if (set.size === 0) streams.delete(h);
    }
  });
});

fastify.listen({ port, host: '127.0.0.1' }).then(() => console.log(`fastify peer on ${port}`));
