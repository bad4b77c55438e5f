// The attach bench's floor: the least a process between a client and an agent's pty can do —
// one Unix socket, raw bytes both ways, no frames, no screen, no log. What the supervisor
// costs above this is the supervisor's own; what this costs is the hop itself.
// Usage: node bareRelay.cjs <socket> <program> [args...]
const net = require('node:net');
const pty = require('@lydell/node-pty');
const [socketPath, program, ...args] = process.argv.slice(2);
const child = pty.spawn(program, args, { name: 'xterm-256color', cols: 80, rows: 24, env: process.env });
let client;
child.onData((d) => client && client.write(d));
net
  .createServer((s) => {
    client = s;
    s.on('data', (d) => child.write(d.toString('utf8')));
    s.on('close', () => (client = undefined));
  })
  .listen(socketPath, () => console.log('listening'));
