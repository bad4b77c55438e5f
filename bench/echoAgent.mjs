#!/usr/bin/env node
// The attach bench's agent: its terminal in raw mode (no line discipline echo), every byte
// typed written straight back. The same program runs under the supervisor and under a
// pseudo-terminal the bench spawns directly, so the two round trips differ only by the path.
if (!process.stdin.isTTY) {
  console.error('echo agent: no terminal');
  process.exit(3);
}
process.stdin.setRawMode(true);
process.stdin.on('data', (d) => process.stdout.write(d));
process.stdout.write('ready\r\n');
