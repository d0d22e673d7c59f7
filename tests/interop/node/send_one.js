'use strict';
// Send one text message of SIZE bytes to a fastws server and report how the connection ended
// (tests/interop/test_node_ws.py, oversized messages).
//
//   node send_one.js ws://HOST:PORT/PATH --size=BYTES [--pmd=off|default|tuned|bits8]
//
// Prints one JSON object: {"echoLength": N | null, "close": {"code", "reason"}, "errors": [...]}.
const WebSocket = require('ws');
const { pmdFromArgv } = require('./pmd');
const { emit } = require('./common');

const argv = process.argv.slice(2);
const url = argv.find((a) => !a.startsWith('--'));
const size = Number(argv.find((a) => a.startsWith('--size=')).slice('--size='.length));
const result = { url, size, echoLength: null, close: null, errors: [] };

const ws = new WebSocket(url, { perMessageDeflate: pmdFromArgv(argv) });
ws.on('open', () => ws.send('x'.repeat(size)));
ws.on('message', (data) => {
  result.echoLength = data.length;
  ws.close(1000);
});
ws.on('error', (err) => result.errors.push(String(err && err.message)));
ws.on('close', (code, reason) => {
  result.close = { code, reason: reason.toString() };
  emit(result);
  process.exit(0);
});
setTimeout(() => {
  result.errors.push('send_one.js: no close within 20 s');
  emit(result);
  process.exit(0);
}, 20000);
