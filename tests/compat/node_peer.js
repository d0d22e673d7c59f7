'use strict';
// Node `ws` client for tests/compat: node node_peer.js URL
// Sends text, binary, a fragmented and a large message (permessage-deflate offered),
// checks each echo, closes with 1000, prints one JSON object.
const path = require('path');
const WebSocket = require(path.join(__dirname, '..', 'interop', 'node', 'node_modules', 'ws'));

const ws = new WebSocket(process.argv[2], { perMessageDeflate: true });
const sent = ['hello', Buffer.from([0, 1, 2, 255]), 'x'.repeat(100000), Buffer.alloc(300000, 7)];
const result = { extensions: null, echoed: [], fragmented: null, close: null };
let step = 0;
const next = () => {
  if (step < sent.length) { ws.send(sent[step]); return; }
  if (step === sent.length) {  // one message in three frames
    ws.send('frag', { fin: false }); ws.send('ment', { fin: false }); ws.send('ed', { fin: true }); return;
  }
  ws.close(1000, 'bye');
};
ws.on('open', () => { result.extensions = ws.extensions; next(); });
ws.on('message', (data, isBinary) => {
  if (step < sent.length) {
    const want = sent[step];
    result.echoed.push(isBinary === Buffer.isBuffer(want) && Buffer.compare(Buffer.from(data), Buffer.from(want)) === 0);
  } else {
    result.fragmented = data.toString();
  }
  step += 1; next();
});
ws.on('close', (code, reason) => { result.close = [code, reason.toString()]; console.log(JSON.stringify(result)); });
ws.on('error', (err) => { console.log(JSON.stringify({ error: String(err) })); process.exit(1); });
