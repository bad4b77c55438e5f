import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LeaderLease } from '../../src/core/leader/leaderLease';
import { Store } from '../../src/core/db/store';
import { NODE, ROOT } from '../support/sandbox';
import { sleep, until } from '../support/wait';

// Issue 17: a standby learns of the leader's death from the kernel (the leader's socket
// closes when its process dies), not from polling the database. Every lease here polls once
// a minute: a takeover within a second can only have come through the socket.
describe('leader socket: a standby takes over at once when the leader dies, without polling', function () {
  this.timeout(30_000);
  let dir: string;
  let store: Store;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wto-sock-')));
    store = Store.open(dir);
  });
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function holder(): { child: ChildProcess; lines: string[] } {
    const child = spawn(NODE, ['-r', path.join(ROOT, 'test', 'register.cjs'), path.join(ROOT, 'test', 'fixtures', 'leaseHolder.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const lines: string[] = [];
    child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
    return { child, lines };
  }

  it('kill -9 of the leader process: the standby leads within a second (its poll is a minute)', async () => {
    const a = holder();
    await until(() => a.lines.includes('leader 1'), 10_000);
    assert.equal(fs.statSync(path.join(dir, 'leader.sock')).mode & 0o077, 0, 'only the user may connect');
    const b = new LeaderLease(store, { label: 'b', checkMs: 60_000 }).start();
    try {
      assert.equal(b.isLeader, false);
      await sleep(200); // connected
      const killedAt = Date.now();
      a.child.kill('SIGKILL');
      await until(() => b.isLeader, 1000);
      const ms = Date.now() - killedAt;
      process.stdout.write(`      standby led ${ms} ms after kill -9\n`);
      assert.equal(store.leader().epoch, 2);
    } finally {
      b.dispose();
    }
  });

  it('a chain of deaths: each new leader listens, and the remaining standby follows it', async () => {
    const a = holder();
    await until(() => a.lines.includes('leader 1'), 10_000);
    const b = holder();
    await until(() => b.lines.includes('standby'), 10_000);
    const c = new LeaderLease(store, { label: 'c', checkMs: 60_000 }).start();
    try {
      await sleep(300);
      a.child.kill('SIGKILL');
      await until(() => c.isLeader || b.lines.includes('leader 2'), 1000);
      if (!c.isLeader) {
        await sleep(300); // c reconnects to b
        b.child.kill('SIGKILL');
        await until(() => c.isLeader, 1000);
      }
      assert.ok(c.isLeader);
    } finally {
      c.dispose();
    }
  });

  it('a released lease wakes its standbys too (a closing window hands over at once)', async () => {
    const a = new LeaderLease(store, { label: 'a', checkMs: 60_000 }).start();
    const other = Store.open(dir);
    const b = new LeaderLease(other, { label: 'b', checkMs: 60_000 }).start();
    try {
      assert.ok(a.isLeader);
      await sleep(200);
      a.dispose();
      await until(() => b.isLeader, 1000);
    } finally {
      b.dispose();
      other.close();
    }
  });
});
