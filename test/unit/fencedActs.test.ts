import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GitRepo } from '../../src/core/git/git';
import { LeaderLease } from '../../src/core/leader/leaderLease';
import { FencedError, Store } from '../../src/core/db/store';
import { makeSandbox, Sandbox } from '../support/sandbox';
import { git } from '../support/git';

// Issue 12 #1: every act confirms the epoch in the database at the moment it happens, not
// from the leadership a process remembers. A process frozen past its lease keeps its
// in-memory fence; these tests depose a lease without letting its timers run, as a frozen
// process experiences it, and check that nothing it then asks for happens.
describe('fenced acts: a deposed leader acts on nothing it remembers', () => {
  let dir: string;
  let store: Store;
  let other: Store;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-acts-'));
    store = Store.open(dir);
    other = Store.open(dir); // another process's connection
  });
  afterEach(() => {
    store.close();
    other.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('act() refuses once another leader took over, although this lease still believes it leads', () => {
    const a = new LeaderLease(store, { label: 'a' });
    assert.ok(a.tryAcquire());
    let ran = 0;
    a.act('first', () => ran++);
    assert.equal(ran, 1);
    const b = new LeaderLease(other, { label: 'b' });
    assert.ok(b.tryAcquire(true)); // a forced takeover; a's timers never ran
    assert.equal(a.isLeader, true, 'a has not noticed yet');
    assert.throws(() => a.act('SIGKILL to the agent', () => ran++), FencedError);
    assert.equal(ran, 1, 'the act did not run');
    assert.equal(a.isLeader, false, 'a stepped down on the refused act');
    b.dispose();
    a.dispose();
  });

  it('act() of a leader whose heartbeat is overdue renews it first, so an age-based takeover cannot slip in', () => {
    const a = new LeaderLease(store, { label: 'a', heartbeatMs: 20, leaseMs: 60 });
    assert.ok(a.tryAcquire());
    const before = store.leader().heartbeatAt!;
    const until = Date.now() + 80;
    while (Date.now() < until); // frozen: no timer ran, the lease is past its age
    a.act('resume', () => undefined);
    const after = store.leader().heartbeatAt!;
    assert.ok(after > before, `heartbeat renewed (${before} -> ${after})`);
    const b = new LeaderLease(other, { label: 'b', leaseMs: 60 });
    assert.equal(b.tryAcquire(), false, 'a standby sees a live lease right after the act');
    b.dispose();
    a.dispose();
  });

  describe('a fenced repository', () => {
    let s: Sandbox;
    beforeEach(() => {
      s = makeSandbox();
    });
    afterEach(() => s.cleanup());

    it('runs no changing git command for a deposed leader (the worktree stays unlocked, no branch is made)', async () => {
      const a = new LeaderLease(store, { label: 'a' });
      assert.ok(a.tryAcquire());
      const repo = (await GitRepo.open(s.repo)).fencedBy(a);
      const wt = path.join(s.dir, 'wt');
      await repo.addWorktree(wt, 'code-developer/x', git(s.repo, 'rev-parse', 'HEAD'), 'test');
      await repo.unlockWorktree(wt);
      new LeaderLease(other, { label: 'b' }).tryAcquire(true);
      await assert.rejects(repo.lockWorktree(wt, 'deposed'), FencedError);
      assert.doesNotMatch(git(s.repo, 'worktree', 'list', '--porcelain'), /locked/, 'git never ran');
      await assert.rejects(repo.addWorktree(path.join(s.dir, 'wt2'), 'code-developer/y', git(s.repo, 'rev-parse', 'HEAD'), 'test'), FencedError);
      assert.equal(git(s.repo, 'branch', '--list', 'code-developer/y'), '', 'no branch made');
      assert.ok(!fs.existsSync(path.join(s.dir, 'wt2', '.git')));
      // Reads need no leadership.
      assert.equal((await repo.worktrees()).length, 2);
      a.dispose();
    });
  });
});
