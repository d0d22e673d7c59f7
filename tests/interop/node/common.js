'use strict';
// Helpers shared by server.js and client.js.

// Fragment i of a scripted fragmented message: ASCII text, `size` bytes.
// tests/interop/node_peer.py builds the same strings to check what arrived.
function fragment(i, size) {
  const unit = `fragment ${i} `;
  return unit.repeat(Math.ceil(size / unit.length) + 1).slice(0, size);
}

// Send a message as `count` frames with ws's {fin: false} API.
function sendFragments(ws, binary, count, size) {
  for (let i = 0; i < count; i++) {
    const text = fragment(i, size);
    ws.send(binary ? Buffer.from(text) : text, { binary, fin: i === count - 1 });
  }
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

module.exports = { fragment, sendFragments, emit };
