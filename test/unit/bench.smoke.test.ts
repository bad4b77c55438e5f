import * as assert from 'node:assert/strict';
import { measureClaims } from '../../bench/claimRace';
import { measureFailover } from '../../bench/failover';
import { median } from '../../bench/lib';
import { measureSpawn } from '../../bench/spawnLatency';
import { measureTree } from '../../bench/treeScale';

// The bench's own functions on their smallest sizes: they must measure the right thing.
// Only correctness facts are asserted here, never a time (the machines are noisy).
describe('bench smoke (correctness only, no timing)', function () {
  this.timeout(120_000);

  it('claim race: racing processes never hold two active runs of a priority', async () => {
    // Few priorities, so that the racers really collide and the index really refuses.
    const r = await measureClaims({ workers: 4, attemptsPerWorker: 150, priorities: 4 });
    assert.equal(r.duplicates.total, 0, JSON.stringify(r.duplicates));
    assert.deepEqual(r.integrity, { attemptAnomalies: 0, rowMismatch: 0 });
    assert.deepEqual(r.otherErrors, []);
    assert.equal(r.claims + r.refused + r.busy, 600);
    assert.ok(r.claims > 0);
    assert.equal(r.inserts, 600);
    assert.ok(Number.isFinite(r.ratio) && r.ratio > 0, `ratio ${r.ratio}`);
  });

  it('spawn latency: the agent runs in its own worktree, and the ratios are numbers', async () => {
    const [r] = await measureSpawn({ sizes: [30], reps: [1], cliSizes: [30], poolSizes: [30] });
    assert.deepEqual(r.errors, []);
    assert.equal(r.ours.length, 1);
    assert.equal(r.cli.length, 1);
    assert.equal(r.poolMisses, 0, 'the warm-pool spawn took a pool worktree');
    assert.equal(r.pool.length, 1);
    for (const x of [...r.pairRatios, ...r.cliRatios, ...r.poolRatios]) assert.ok(Number.isFinite(x) && x > 0, `ratio ${x}`);
    assert.deepEqual(
      r.gitCommands.filter((c) => c.startsWith('worktree')),
      ['worktree add'], // one call: created and locked together (--lock --reason)
    );
  });

  it('tree scale: the trees build and the ChangeWatcher of another process sees each write', async () => {
    const t = await measureTree({ runs: [100], worktrees: 3, reps: 2, watchSamples: 3, uiWorktreeReps: 1, worktreesAt: 100 });
    const [s] = t.sizes;
    assert.equal(s.watch.missed, 0);
    assert.equal(s.watch.ours.length, 3);
    assert.ok(Number.isFinite(median(s.watch.ours)));
    assert.ok(Number.isFinite(s.coreAgents) && Number.isFinite(s.rawSelect));
    assert.ok(Number.isFinite(t.worktrees.core));
    if (t.uiMissing === undefined) {
      assert.equal(s.uiAgentNodes, 20 + 2 * 2, 'roots plus, under each expanded (active) priority, its latest run and "Older runs"');
      assert.equal(t.worktrees.uiNodes, 4, 'three worktrees and the main checkout');
    }
  });

  it('failover: the standby leads after the leader is killed', async () => {
    const f = await measureFailover({ rounds: 1, settleMs: 100 });
    assert.equal(f.missed, 0);
    assert.equal(f.takeovers.length, 1);
  });
});
