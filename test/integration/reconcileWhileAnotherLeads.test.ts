import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { cli, makeSandbox, Sandbox, startOrchestrator, StartedOrchestrator } from '../support/sandbox';
import { git } from '../support/git';
import { rawDb } from '../support/rawDb';

// Every CLI verb that changes something works whether or not another orchestrator leads:
// `reconcile` asks the leader through a request row, as gc, merge and remove do.
describe('reconcile while another orchestrator leads', function () {
  this.timeout(60_000);
  let s: Sandbox;
  let leader: StartedOrchestrator | undefined;
  beforeEach(() => (s = makeSandbox()));
  afterEach(async () => {
    await leader?.kill();
    leader = undefined;
    s.cleanup();
  });

  it('is carried out by the leader, which keeps leading, and its report comes back', async () => {
    // A worktree of an earlier run, so the leader knows the worktree root; then one nobody recorded.
    assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', JSON.stringify([process.execPath, '-e', '0'])])).exitCode, 0);
    const root = fs.readdirSync(path.dirname(s.repo)).find((n) => n.endsWith('.worktrees'))!;
    const orphan = path.join(path.dirname(s.repo), root, 'made-by-hand');
    git(s.repo, 'worktree', 'add', '-q', '-b', 'by-hand', orphan);
    leader = startOrchestrator(s);
    const led = await leader.waitFor(/^leader \(pid/);
    const r = await cli(s, ['reconcile']);
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { orphanWorktrees: string[] };
    assert.deepEqual(report.orphanWorktrees.map((w) => fs.realpathSync(w)), [fs.realpathSync(orphan)]);
    const store = Store.open(s.state);
    try {
      assert.equal(store.leader().pid, leader.child.pid, 'the leader still leads');
      const epoch = Number(/epoch (\d+)/.exec(led)![1]);
      const reconciles = store.events().filter((e) => e.kind === 'reconcile');
      assert.equal(reconciles[reconciles.length - 1].epoch, epoch, 'recorded by the leader, under its epoch');
      const rows = rawDb(store).prepare("SELECT status, requested_by FROM repo_requests WHERE kind = 'reconcile'").all() as Array<{ status: string; requested_by: string }>;
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 'done');
      assert.match(rows[0].requested_by, /^cli pid \d+$/);
    } finally {
      store.close();
    }
  });

  it('with nobody leading, reconciles itself and leaves no request behind', async () => {
    const r = await cli(s, ['reconcile']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).orphanWorktrees, []);
    const store = Store.open(s.state);
    try {
      assert.equal((rawDb(store).prepare('SELECT count(*) AS n FROM repo_requests').get() as { n: number }).n, 0);
    } finally {
      store.close();
    }
  });
});
