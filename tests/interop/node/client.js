'use strict';
// A Node `ws` client running a scripted exchange against a fastws server
// (tests/interop/test_node_ws.py).
//
//   node client.js ws://HOST:PORT [--pmd=off|default|tuned|bits8] [--big=BYTES]
//
// The server must echo every message with its type and obey the text commands
// documented in server.js (cmd:ping, cmd:fragments, cmd:close).  Prints one
// JSON object on stdout: the negotiated extension, one entry per step (what
// was sent, what came back, whether it matched) and how each connection
// closed.  A failed step is recorded and the script goes on; the Python test
// asserts on the result.
const crypto = require('crypto');
const WebSocket = require('ws');
const { pmdFromArgv } = require('./pmd');
const { fragment, sendFragments, emit } = require('./common');

const argv = process.argv.slice(2);
const url = argv.find((a) => !a.startsWith('--'));
const perMessageDeflate = pmdFromArgv(argv);
const bigArg = argv.find((a) => a.startsWith('--big='));
const BIG = bigArg ? Number(bigArg.slice('--big='.length)) : 16 * 1024 * 1024;
const STEP_TIMEOUT_MS = 20000;

const result = { url, pmd: perMessageDeflate, connections: [], steps: [] };

const sha = (buf) => crypto.createHash('sha256').update(buf).digest('hex');
const asBuffer = (data) => (Buffer.isBuffer(data) ? data : Buffer.from(data));

// A connection with a queue of received messages and events.
function open(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url + path, { perMessageDeflate, maxPayload: 64 * 1024 * 1024 });
    const conn = { ws, queue: [], waiters: [], pings: [], pongs: [], info: { path } };
    ws.on('upgrade', (res) => {
      conn.info.accepted = res.headers['sec-websocket-extensions'] || null;
    });
    ws.on('open', () => {
      conn.info.extensions = ws.extensions;
      resolve(conn);
    });
    ws.on('error', (err) => {
      conn.info.error = String(err && err.message);
      reject(err);
    });
    ws.on('message', (data, isBinary) => push(conn, { kind: 'message', data, isBinary }));
    ws.on('ping', (data) => conn.pings.push(data.toString()));
    ws.on('pong', (data) => push(conn, { kind: 'pong', data: data.toString() }));
    ws.on('close', (code, reason) => {
      conn.info.close = { code, reason: reason.toString() };
      push(conn, { kind: 'close', code, reason: reason.toString() });
    });
    result.connections.push(conn.info);
  });
}

function push(conn, item) {
  const waiter = conn.waiters.shift();
  if (waiter) waiter(item);
  else conn.queue.push(item);
}

function next(conn, what) {
  if (conn.queue.length) return Promise.resolve(conn.queue.shift());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), STEP_TIMEOUT_MS);
    conn.waiters.push((item) => {
      clearTimeout(timer);
      resolve(item);
    });
  });
}

async function nextMessage(conn, what) {
  const item = await next(conn, what);
  if (item.kind !== 'message') {
    throw new Error(`expected a message for ${what}, got ${JSON.stringify({ ...item, data: undefined })}`);
  }
  return item;
}

async function step(name, fn) {
  const entry = { name };
  try {
    Object.assign(entry, await fn());
    if (entry.ok === undefined) entry.ok = true;
  } catch (err) {
    entry.ok = false;
    entry.error = String(err && err.stack);
  }
  result.steps.push(entry);
}

// Send one message, wait for its echo, compare type and bytes.
async function echo(conn, data, binary) {
  const socket = conn.ws._socket;
  const before = { written: socket.bytesWritten, read: socket.bytesRead };
  conn.ws.send(data, { binary });
  const item = await nextMessage(conn, 'an echo');
  const sent = asBuffer(data);
  const got = asBuffer(item.data);
  return {
    ok: item.isBinary === binary && sent.equals(got),
    sentBinary: binary,
    recvBinary: item.isBinary,
    sentLength: sent.length,
    recvLength: got.length,
    sentSha256: sha(sent),
    recvSha256: sha(got),
    wireWritten: socket.bytesWritten - before.written,
    wireRead: socket.bytesRead - before.read,
  };
}

function compressibleText(size) {
  const unit = JSON.stringify({ type: 'tick', symbol: 'FWS', price: 123.45, qty: 10, tags: ['a', 'b'] }) + '\n';
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

// A large binary payload: 64 KiB of random bytes repeated (cheap to make, and
// longer repeats than any deflate window, so it does not compress to nothing).
function bigBinary(size) {
  const block = crypto.randomBytes(64 * 1024);
  const buf = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += block.length) block.copy(buf, off);
  return buf;
}

async function main() {
  const conn = await open('/node');

  await step('text', () => echo(conn, 'hello fastws \u2603 \u{1F600} \u0000 \u{10FFFF}', false));
  await step('text-empty', () => echo(conn, '', false));
  await step('binary-empty', () => echo(conn, Buffer.alloc(0), true));
  await step('binary-256', () => echo(conn, Buffer.from([...Array(256).keys()]), true));
  for (const size of [125, 126, 65535, 65536]) {
    await step(`binary-${size}`, () => echo(conn, crypto.randomBytes(size), true));
  }
  await step('text-1MiB-compressible', () => echo(conn, compressibleText(1024 * 1024), false));
  await step('binary-1MiB-random', () => echo(conn, crypto.randomBytes(1024 * 1024), true));
  if (BIG > 0) await step(`binary-big`, () => echo(conn, bigBinary(BIG), true));

  // Fragmented sends (ws's {fin: false}); the server reassembles and echoes one message.
  for (const [name, binary, count, size] of [
    ['fragmented-text', false, 3, 7],
    ['fragmented-binary', true, 3, 7],
    ['fragmented-text-large', false, 4, 64 * 1024],
  ]) {
    await step(name, async () => {
      sendFragments(conn.ws, binary, count, size);
      const expected = Buffer.from([...Array(count).keys()].map((i) => fragment(i, size)).join(''));
      const item = await nextMessage(conn, 'a reassembled echo');
      const got = asBuffer(item.data);
      return { ok: item.isBinary === binary && got.equals(expected), recvBinary: item.isBinary, recvLength: got.length };
    });
  }

  // A text message whose UTF-8 is split inside characters, one byte per frame (ws sends
  // Buffers as text without checking them): valid once reassembled.
  await step('fragmented-utf8-split', async () => {
    const text = 'a\u2603\u{1F600}\u00e9z';
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i++) conn.ws.send(bytes.subarray(i, i + 1), { binary: false, fin: i === bytes.length - 1 });
    const item = await nextMessage(conn, 'the reassembled echo');
    return { ok: !item.isBinary && item.data.toString() === text, frames: bytes.length };
  });

  // 500 messages sent back to back, then their echoes, in order.
  await step('burst', async () => {
    for (let i = 0; i < 500; i++) conn.ws.send(JSON.stringify({ seq: i, pad: 'x'.repeat(i % 50) }));
    let inOrder = 0;
    for (let i = 0; i < 500; i++) {
      const item = await nextMessage(conn, 'a burst echo');
      if (JSON.parse(item.data.toString()).seq === i) inOrder++;
    }
    return { ok: inOrder === 500, inOrder };
  });

  // A ping between the fragments of a message: answered at once, the message still reassembled.
  await step('fragmented-interleaved-ping', async () => {
    conn.ws.send(fragment(0, 100), { fin: false });
    conn.ws.ping('mid-message');
    conn.ws.send(fragment(1, 100), { fin: true });
    const first = await next(conn, 'the pong');
    const second = await nextMessage(conn, 'the reassembled echo');
    const text = second.data.toString();
    const ok = first.kind === 'pong' && first.data === 'mid-message' && text === fragment(0, 100) + fragment(1, 100);
    return { ok, first: { ...first }, recvLength: text.length };
  });

  // Pings from Node: the pong carries the same payload (up to the 125-byte maximum).
  for (const payload of ['node-ping', '', 'p'.repeat(125)]) {
    await step(`ping-${payload.length > 20 ? payload.length : payload || 'empty'}`, async () => {
      conn.ws.ping(payload);
      const item = await next(conn, 'a pong');
      return { ok: item.kind === 'pong' && item.data === payload, got: { ...item, data: item.data.slice(0, 20) } };
    });
  }

  // A ping from the server: ws answers it by itself; the server reports the pong.
  await step('server-ping', async () => {
    conn.ws.send('cmd:ping:srv-ping');
    const item = await nextMessage(conn, 'pong-received');
    const text = item.data.toString();
    return { ok: text === 'pong-received:srv-ping' && conn.pings.includes('srv-ping'), text, pings: conn.pings };
  });

  // Fragmented messages from the server.
  for (const [kind, count, size] of [['text', 3, 10], ['binary', 3, 10], ['text', 4, 64 * 1024]]) {
    await step(`server-fragments-${kind}-${count}x${size}`, async () => {
      conn.ws.send(`cmd:fragments:${kind}:${count}:${size}`);
      const item = await nextMessage(conn, 'a fragmented message');
      const expected = Buffer.from([...Array(count).keys()].map((i) => fragment(i, size)).join(''));
      const got = asBuffer(item.data);
      return { ok: item.isBinary === (kind === 'binary') && got.equals(expected), recvLength: got.length };
    });
  }

  // The client closes with a code and reason.
  await step('client-close', async () => {
    conn.ws.close(4001, 'node bye \u2713');
    const item = await next(conn, 'the close');
    return { ok: item.kind === 'close', code: item.code, reason: item.reason };
  });

  // The server closes a second connection with a code and reason.
  const conn2 = await open('/node-2');
  await step('server-close', async () => {
    conn2.ws.send('cmd:close:4002:server bye \u2713');
    const item = await next(conn2, 'the close');
    return { ok: item.kind === 'close', code: item.code, reason: item.reason };
  });

  // Invalid UTF-8 in a text message: the server must fail the connection with 1007.
  const conn3 = await open('/node-3');
  await step('invalid-utf8', async () => {
    conn3.ws.send(Buffer.from([0x61, 0xff, 0x62]), { binary: false });
    const item = await next(conn3, 'the close');
    return { ok: item.kind === 'close', code: item.code, reason: item.reason };
  });

  // A close frame without a status code: echoed empty, reported as 1005 on both sides.
  const conn4 = await open('/node-4');
  await step('close-no-status', async () => {
    conn4.ws.close();
    const item = await next(conn4, 'the close');
    return { ok: item.kind === 'close', code: item.code, reason: item.reason };
  });
}

const watchdog = setTimeout(() => {
  result.fatal = 'client.js watchdog: the scripted exchange took more than 50 s';
  emit(result);
  process.exit(2);
}, 50000);

main()
  .catch((err) => {
    result.fatal = String(err && err.stack);
  })
  .finally(() => {
    clearTimeout(watchdog);
    emit(result);
    process.exit(0);
  });
