'use strict';
// A Node `ws` echo server for fastws's client (tests/interop/test_node_ws.py).
//
//   node server.js [--pmd=off|default|tuned|bits8]
//
// Listens on 127.0.0.1, a free port, and prints one JSON object per line on
// stdout: {"event":"listening","port":N} first, then what each connection did
// (connection with the offered and accepted Sec-WebSocket-Extensions, ping,
// pong, close with code/reason and the bytes on the wire).  Every message is
// echoed with its type, except text commands:
//   cmd:ping:PAYLOAD                  ping the client; "pong-received:PAYLOAD" when the pong is back
//   cmd:fragments:text|binary:N:SIZE  send one message as N frames of SIZE bytes (common.fragment)
//   cmd:interleaved:text|binary       send fragment(0, 100) + fragment(1, 100) as two frames, a ping between
//   cmd:big:SIZE                      send one text message of SIZE bytes ("x" repeated)
//   cmd:invalid-utf8                  send a text message that is not UTF-8 (the client must fail with 1007)
//   cmd:stats                         answer {"bytesRead":..,"bytesWritten":..} of this socket so far
//   cmd:close:CODE:REASON             close the connection with that code and reason
//   cmd:close-empty                   close with a close frame without a status code
// Runs until killed (stdin closing also stops it).
const { WebSocketServer } = require('ws');
const { pmdFromArgv } = require('./pmd');
const { fragment, sendFragments, emit } = require('./common');

const perMessageDeflate = pmdFromArgv(process.argv.slice(2));
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate,
  maxPayload: 64 * 1024 * 1024,
});

let nextId = 0;
const accepted = new WeakMap(); // request -> the Sec-WebSocket-Extensions we answered

wss.on('headers', (headers, req) => {
  const line = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  accepted.set(req, line ? line.slice(line.indexOf(':') + 1).trim() : null);
});

wss.on('connection', (ws, req) => {
  const id = nextId++;
  const socket = req.socket;
  emit({
    event: 'connection',
    id,
    path: req.url,
    offered: req.headers['sec-websocket-extensions'] || null,
    accepted: accepted.get(req) || null,
    extensions: ws.extensions,
  });
  ws.on('ping', (data) => emit({ event: 'ping', id, data: data.toString() }));
  ws.on('pong', (data) => emit({ event: 'pong', id, data: data.toString() }));
  ws.on('error', (err) => emit({ event: 'error', id, message: String(err && err.message), code: err.code }));
  ws.on('close', (code, reason) =>
    emit({
      event: 'close',
      id,
      code,
      reason: reason.toString(),
      bytesRead: socket.bytesRead,
      bytesWritten: socket.bytesWritten,
    }),
  );
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const text = data.toString();
      if (text.startsWith('cmd:')) {
        command(ws, socket, text);
        return;
      }
      ws.send(text);
      return;
    }
    ws.send(data, { binary: true });
  });
});

function command(ws, socket, text) {
  const [, name, ...rest] = text.split(':');
  if (name === 'ping') {
    const payload = rest.join(':');
    const onPong = (data) => {
      if (data.toString() === payload) {
        ws.off('pong', onPong);
        ws.send(`pong-received:${payload}`);
      }
    };
    ws.on('pong', onPong);
    ws.ping(payload);
  } else if (name === 'fragments') {
    const [kind, count, size] = rest;
    sendFragments(ws, kind === 'binary', Number(count), Number(size));
  } else if (name === 'interleaved') {
    // One message in two frames with a ping between them (control frames may interleave).
    const binary = rest[0] === 'binary';
    const part = (i) => (binary ? Buffer.from(fragment(i, 100)) : fragment(i, 100));
    ws.send(part(0), { binary, fin: false });
    ws.ping('mid-message');
    ws.send(part(1), { binary, fin: true });
  } else if (name === 'big') {
    ws.send('x'.repeat(Number(rest[0]))); // one text message of that many bytes
  } else if (name === 'invalid-utf8') {
    ws.send(Buffer.from([0x61, 0xff, 0x62]), { binary: false }); // a text frame that is not UTF-8
  } else if (name === 'stats') {
    ws.send(JSON.stringify({ bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten }));
  } else if (name === 'close-empty') {
    ws.close(); // a close frame without a status code
  } else if (name === 'close') {
    const [code, ...reason] = rest;
    ws.close(Number(code), reason.join(':'));
  } else {
    ws.send(`unknown command: ${text}`);
  }
}

wss.on('listening', () => emit({ event: 'listening', port: wss.address().port }));
wss.on('error', (err) => {
  emit({ event: 'server-error', message: String(err && err.message) });
  process.exit(1);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
