'use strict';
// permessage-deflate settings of the Node peers, by name (argv --pmd=NAME).
// Shared by server.js and client.js: the same object configures an offer
// (client) or what is accepted (server).
const MODES = {
  // No extension: the client does not offer it / the server declines it.
  off: false,
  // ws's defaults: the client offers "permessage-deflate; client_max_window_bits",
  // messages under 1 KiB go uncompressed.
  default: true,
  // Every parameter: no context takeover both ways, small windows, every message compressed.
  tuned: {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 11,
    threshold: 0,
  },
  // The smallest window RFC 7692 allows (zlib cannot compress raw deflate with 8 bits).
  bits8: {
    serverMaxWindowBits: 8,
    clientMaxWindowBits: 8,
    threshold: 0,
  },
};

function pmdFromArgv(argv) {
  const arg = argv.find((a) => a.startsWith('--pmd='));
  const name = arg ? arg.slice('--pmd='.length) : 'default';
  if (!(name in MODES)) {
    throw new Error(`unknown --pmd=${name}; expected one of ${Object.keys(MODES).join(', ')}`);
  }
  const mode = MODES[name];
  return typeof mode === 'object' ? { ...mode } : mode;
}

module.exports = { MODES, pmdFromArgv };
