'use strict';
// Echo clients for tests/broadcast/test_broadcast_interop.py: node node_echo.js URL NAME COUNT [MAXBITS]
// opens COUNT connections to URL?peer=NAME-I with ws's permessage-deflate (ws keeps its
// context by default; MAXBITS, when given, offers server_max_window_bits=MAXBITS), sends
// every message it receives straight back, and prints one JSON line when all are closed:
// {"closes": [[code, reason], ...], "extensions": [...], "errors": [...]}.
const WebSocket = require('ws');

const [url, name, countArg, bitsArg] = process.argv.slice(2);
const count = Number(countArg);
const perMessageDeflate = bitsArg ? { serverMaxWindowBits: Number(bitsArg) } : true;
const closes = [];
const extensions = [];
const errors = [];
let open = count;

for (let i = 0; i < count; i++) {
  const ws = new WebSocket(`${url}?peer=${name}-${i}`, { perMessageDeflate });
  ws.on('open', () => { extensions[i] = ws.extensions; });
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (err) => errors.push(`${i}: ${err.message}`));
  ws.on('close', (code, reason) => {
    closes[i] = [code, reason.toString()];
    if (--open === 0) {
      process.stdout.write(JSON.stringify({ closes, extensions, errors }) + '\n');
      process.exit(0);
    }
  });
}
