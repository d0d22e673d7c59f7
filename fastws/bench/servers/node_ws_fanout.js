// Node.js fan-out server for `fastws bench fanout`: the `ws` package (v8) with `bufferutil`.
//
// Every message a client sends goes to every other open client, a loop over `wss.clients`
// (ws's own broadcast recipe).  Started like node_ws_echo.js (same start-up protocol: a
// "# {json}" line, then the port); `--deflate equal` turns on permessage-deflate with the
// settings of the other servers: level 1, memLevel 5, 12-bit server window, messages under
// 128 bytes sent uncompressed (ws compresses for each client, in libuv's thread pool).
'use strict';

const path = require('path');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const modules = process.env.FASTWS_BENCH_NODE_MODULES;
if (!modules) {
  console.error('FASTWS_BENCH_NODE_MODULES is not set (the node_modules folder holding ws)');
  process.exit(2);
}
const WebSocket = require(path.join(modules, 'ws'));
const wsVersion = require(path.join(modules, 'ws', 'package.json')).version;

const host = option('--host', '127.0.0.1');
const port = Number(option('--port', '0'));
const maxSize = Number(option('--max-size', String(16 * 1024 * 1024)));
const deflate = option('--deflate', null);

const perMessageDeflate = deflate
  ? {
      zlibDeflateOptions: { level: 1, memLevel: 5 },
      serverMaxWindowBits: 12,
      threshold: 128,
    }
  : false;

const server = new WebSocket.WebSocketServer({
  host,
  port,
  perMessageDeflate,
  maxPayload: maxSize,
  clientTracking: true,
  backlog: 1024,
});

server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of server.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
  ws.on('error', () => {}); // a client that vanishes must not stop the server
});

server.on('listening', () => {
  const info = {
    pid: process.pid,
    loop: 'libuv',
    max_size: maxSize,
    impl: `ws ${wsVersion} on Node.js ${process.version}, a loop over wss.clients`,
    node: process.version,
    ws: wsVersion,
  };
  process.stdout.write(`# ${JSON.stringify(info)}\n${server.address().port}\n`);
});

server.on('error', (err) => {
  console.error(`server error: ${err.stack || err}`);
  process.exit(1);
});

function stop() {
  for (const client of server.clients) client.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.argv.includes('--watch-stdin')) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
