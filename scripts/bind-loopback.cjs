// Node preload (`node --require scripts/bind-loopback.cjs ...`) for test and demo peers.
// server-everything calls `listen(PORT)`, which binds every interface; this keeps every
// listener that is given only a port on 127.0.0.1, so tests never listen beyond loopback.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    const callback = args.find((a) => typeof a === 'function');
    return listen.call(this, { port: Number(args[0]), host: '127.0.0.1' }, callback);
  }
  return listen.apply(this, args);
};
