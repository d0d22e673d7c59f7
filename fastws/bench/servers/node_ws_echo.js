// Node.js echo server for `fastws bench`: the `ws` package (v8) with `bufferutil`.
//
// Started by the runner as `node node_ws_echo.js --host H --port 0 --watch-stdin --max-size N`,
// with FASTWS_BENCH_NODE_MODULES naming the node_modules folder that `fastws bench` installed
// ws and bufferutil into.  It speaks the same start-up protocol as the Python servers
// (servers/_common.py): a "# {json}" line describing what runs, then the port alone on a
// line (= ready); it exits on SIGTERM / SIGINT or when stdin reaches EOF.
//
// Same settings as the other servers: no permessage-deflate, no keepalive pings, the
// message size limit raised to the benchmark's.  Every message goes back with its type.
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
const { WebSocketServer } = require(path.join(modules, 'ws'));
const wsVersion = require(path.join(modules, 'ws', 'package.json')).version;

// ws loads bufferutil by itself when it can; load it here too, to report whether it is there.
let bufferutil = 'not loaded';
try {
  require(path.join(modules, 'bufferutil'));
  bufferutil = require(path.join(modules, 'bufferutil', 'package.json')).version;
} catch (err) {
  bufferutil = `not loaded (${err.code || err.message})`;
}

const host = option('--host', '127.0.0.1');
const port = Number(option('--port', '0'));
const maxSize = Number(option('--max-size', String(16 * 1024 * 1024)));

const server = new WebSocketServer({
  host,
  port,
  perMessageDeflate: false,
  maxPayload: maxSize,
  clientTracking: true,
  backlog: 1024,
});

server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {}); // a client that vanishes must not stop the server
});

server.on('listening', () => {
  const info = {
    pid: process.pid,
    loop: 'libuv',
    max_size: maxSize,
    impl: `ws ${wsVersion} on Node.js ${process.version} (bufferutil ${bufferutil})`,
    node: process.version,
    ws: wsVersion,
    bufferutil,
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
