import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CappedLog } from '../../src/core/agent/cappedLog';
import { cli, makeSandbox, NODE, Sandbox, withStore } from '../support/sandbox';
import { until } from '../support/wait';

// Issue 12: agent.log is capped (worktreeOrchestrator.agentLogMaxMiB / --agent-log-max-mib),
// kept as head + tail with the cut marked in the file.
const LINE = 64;
const line = (i: number) => `line ${String(i).padStart(9, '0')} ${'x'.repeat(LINE - 16)}\n`;
const CUT = /^\[orchestrator\] \S+ … (\d+) bytes cut here .*…$/;

/** The numbered lines of a log, the marker's count, and the order they came in. */
function parse(text: string) {
  const numbers: number[] = [];
  const cuts: Array<{ at: number; bytes: number }> = [];
  for (const l of text.split('\n')) {
    const m = /^line (\d{9}) x+$/.exec(l);
    if (m) numbers.push(Number(m[1]));
    const c = CUT.exec(l);
    if (c) cuts.push({ at: numbers.length, bytes: Number(c[1]) });
  }
  return { numbers, cuts };
}

describe('agent.log cap: head + tail, the cut marked', function () {
  this.timeout(60_000);

  it('CappedLog keeps the first half, the newest quarter to half, and counts every byte cut', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-log-'));
    try {
      const file = path.join(dir, 'agent.log');
      const fd = fs.openSync(file, 'w+');
      const max = 256 * 1024;
      const log = new CappedLog(fd, max);
      const total = 20_000; // 1.25 MB through a 256 KiB cap, in writes of 1 to 50 lines
      for (let i = 0; i < total; ) {
        const n = Math.min(total - i, 1 + ((i * 7919) % 50));
        log.write(Array.from({ length: n }, (_, k) => line(i + k)).join(''));
        i += n;
        assert.ok(fs.fstatSync(fd).size <= max + 50 * LINE + 300, 'never much over the cap');
      }
      fs.closeSync(fd);
      const { numbers, cuts } = parse(fs.readFileSync(file, 'utf8'));
      assert.equal(cuts.length, 1, 'one marker');
      const head = numbers.slice(0, cuts[0].at);
      const tail = numbers.slice(cuts[0].at);
      assert.deepEqual(head, head.map((_, i) => i), 'the head is the start, in order');
      assert.deepEqual(tail, tail.map((_, i) => total - tail.length + i), 'the tail is the end, in order');
      assert.equal(cuts[0].bytes, (total - head.length - tail.length) * LINE, 'the marker counts exactly the bytes cut');
      assert.ok(head.length * LINE >= max / 2 - 4096 && tail.length * LINE >= max / 4 - 4096, `${head.length} head, ${tail.length} tail lines`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('through the CLI', () => {
    let s: Sandbox;
    beforeEach(() => (s = makeSandbox()));
    afterEach(() => s.cleanup());

    it('--agent-log-max-mib 0.5: a 3 MB agent output leaves a log of about 0.5 MiB with its first and last lines', async () => {
      const total = 50_000; // 3.2 MB
      const script = `const line = ${line.toString()}; let i = 0; const more = () => { while (i < ${total}) { const ok = process.stdout.write(Array.from({ length: 100 }, (_, k) => line(i + k)).join('')); i += 100; if (!ok) return process.stdout.once('drain', more); } };
more();`;
      const r = await cli(s, ['--agent-log-max-mib', '0.5', 'spawn', 'US-036', '--agent-command', JSON.stringify([NODE, '-e', `const LINE = ${LINE}; ${script}`])]);
      assert.equal(r.exitCode, 0, r.stderr);
      const run = () => withStore(s, (store) => store.listRuns()[0]);
      await until(() => run().status === 'succeeded', 30_000);
      const text = fs.readFileSync(run().logPath, 'utf8');
      assert.ok(Buffer.byteLength(text) <= 512 * 1024 + 64 * 1024 + 300, `${Buffer.byteLength(text)} bytes`);
      const { numbers, cuts } = parse(text);
      assert.equal(cuts.length, 1, 'one marker');
      assert.equal(numbers[0], 0, 'the first line is kept');
      assert.equal(numbers[numbers.length - 1], total - 1, 'the last line is kept');
      assert.equal(cuts[0].bytes, (total - numbers.length) * LINE, 'the marker counts exactly the bytes cut');
      assert.match(text.split('\n')[0], /^\[orchestrator\] \S+ starting: /, 'the start is kept');
      assert.match(text, /\[orchestrator\] \S+ ended: exit code 0\n$/, 'the end is kept');
    });

    it('--agent-log-max-mib 0: no cap, every line kept', async () => {
      const total = 20_000; // 1.28 MB
      const script = `const LINE = ${LINE}; const line = ${line.toString()}; for (let i = 0; i < ${total}; i++) require('fs').writeSync(1, line(i));`;
      const r = await cli(s, ['--agent-log-max-mib', '0', 'spawn', 'US-036', '--agent-command', JSON.stringify([NODE, '-e', script])]);
      assert.equal(r.exitCode, 0, r.stderr);
      const run = () => withStore(s, (store) => store.listRuns()[0]);
      await until(() => run().status === 'succeeded', 30_000);
      const { numbers, cuts } = parse(fs.readFileSync(run().logPath, 'utf8'));
      assert.equal(cuts.length, 0);
      assert.deepEqual(numbers, numbers.map((_, i) => i));
      assert.equal(numbers.length, total);
    });

    it('refuses a bad --agent-log-max-mib before anything is written', async () => {
      const r = await cli(s, ['--agent-log-max-mib', 'lots', 'spawn', 'US-036', '--agent-command', JSON.stringify([NODE, '-e', ''])]);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /--agent-log-max-mib must be a number of MiB, at least 0 \(0: no cap\), got "lots"/);
      assert.equal(fs.existsSync(path.join(s.state, 'state.db')), false, 'nothing was written');
    });
  });
});
