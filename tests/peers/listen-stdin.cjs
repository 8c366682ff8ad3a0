// Preloaded (`node --require tests/peers/listen-stdin.cjs …`) into the Node.js test peers
// (tests/peers/oidc-provider/server.mjs, npm saml-idp, the MCP conformance suite): the server
// that asks to listen on port $PORTCULLIS_PEER_PORT listens instead on the socket passed as
// standard input, which the test harness bound on 127.0.0.1 before starting the peer
// (tests/it/support/peers.rs). So the port is known before the peer starts, no other process
// can take it meanwhile, and it stays the peer's across a restart. Other servers are untouched.
'use strict';
const net = require('node:net');

const port = Number(process.env.PORTCULLIS_PEER_PORT);
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const asked = typeof args[0] === 'object' && args[0] !== null ? args[0].port : args[0];
  if (!port || Number(asked) !== port) return listen.apply(this, args);
  const callback = args.find((a) => typeof a === 'function');
  return callback ? listen.call(this, { fd: 0 }, callback) : listen.call(this, { fd: 0 });
};
