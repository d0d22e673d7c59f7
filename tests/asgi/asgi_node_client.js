'use strict';
// Node ws client for tests/asgi/test_asgi_apps.py: echo, chat room and a refused route
// against an ASGI app served by uvicorn with fastws.
//
//   node asgi_node_client.js ws://HOST:PORT --pmd=on|off
//
// Prints one JSON object with what it saw, or {"error": ...}.
const path = require('path');
const WebSocket = require(path.join(__dirname, '..', 'interop', 'node', 'node_modules', 'ws'));

const base = process.argv[2];
const pmd = process.argv.includes('--pmd=on');
const result = {};

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: pmd });
    const queue = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const message = isBinary ? { binary: Buffer.from(data) } : { text: data.toString() };
      if (waiters.length) waiters.shift()(message); else queue.push(message);
    });
    ws.next = () => new Promise((res) => (queue.length ? res(queue.shift()) : waiters.push(res)));
    ws.closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

async function echo() {
  const ws = await open(`${base}/echo`);
  result.extensions = ws.extensions;
  ws.send('hello ✓');
  result.text = (await ws.next()).text;
  ws.send(Buffer.from([0, 1, 2, 255]));
  result.binary = [...(await ws.next()).binary];
  const big = Buffer.alloc(1 << 20, 7);
  ws.send(big);
  const back = (await ws.next()).binary;
  result.bigEqual = back.equals(big);
  ws.close(1000, 'done');
  result.echoClose = await ws.closed;
}

async function chat() {
  const a = await open(`${base}/chat/node?name=alice`);
  result.joinA = JSON.parse((await a.next()).text);
  const b = await open(`${base}/chat/node?name=bob`);
  result.joinSeenByA = JSON.parse((await a.next()).text);
  result.joinB = JSON.parse((await b.next()).text);
  a.send(JSON.stringify({ text: 'hi bob' }));
  result.messageA = JSON.parse((await a.next()).text);
  result.messageB = JSON.parse((await b.next()).text);
  b.close();
  result.leaveSeenByA = JSON.parse((await a.next()).text);
  a.close();
  await a.closed;
}

function refused() {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base}/private`, { perMessageDeflate: pmd });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        result.refused = { status: res.statusCode, header: res.headers['x-denied-by'], body };
        req.destroy();
        resolve();
      });
    });
    ws.on('open', () => { result.refused = { opened: true }; ws.close(); resolve(); });
    ws.on('error', () => {});
  });
}

(async () => {
  await echo();
  await chat();
  await refused();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
})().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack) }) + '\n');
  process.exit(1);
});
setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timeout', partial: result }) + '\n');
  process.exit(1);
}, 20000);
