import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Store } from '../../src/core/db/store';
import { agentCommand, cli, liveAgents, makeSandbox, Sandbox, traces } from '../support/sandbox';
import { sleep, until } from '../support/wait';
import { git } from '../support/git';

// Invariant 4 and 5: every provisioning step writes its intent first, so a crash at any
// step is resumed by the next leader — never duplicated, never orphaned, nothing lost.
describe('crash at each provisioning step, then reconcile', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  for (const step of ['after-claim', 'after-worktree-add', 'after-spawn', 'before-status-update']) {
    it(`${step}: the run resumes to exactly one running agent, no orphans, no lost commit`, async () => {
      const cmd = agentCommand('write:a.txt', 'commit:agent work', 'sleep:60000');
      const crashed = await cli(s, ['spawn', 'US-036', '--agent-command', cmd], { WTO_CRASH_AT: step });
      assert.notEqual(crashed.exitCode, 0, 'the orchestrator died at the step');
      const reconciled = await cli(s, ['reconcile']);
      assert.equal(reconciled.exitCode, 0, reconciled.stderr);
      const report = JSON.parse(reconciled.stdout);
      assert.deepEqual(report.orphanWorktrees, []);
      assert.deepEqual(report.orphanProcesses, []);
      await until(() => liveAgents(s, 'US-036').length === 1);
      await sleep(300);
      assert.equal(traces(s).length, 1, 'the agent was started once');
      const store = Store.open(s.state);
      try {
        const runs = store.listRuns();
        assert.equal(runs.length, 1);
        const run = runs[0];
        assert.equal(run.status, 'running');
        assert.equal(run.pid, traces(s)[0].pid, 'the row names the live agent');
        assert.ok(run.worktreeLocked);
        const worktrees = git(s.repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '));
        assert.equal(worktrees.length, 2);
        await until(() => git(s.repo, 'log', '--format=%s', run.branch).includes('agent work'));
        // Intent first: each step appears in the event log before the next one.
        const details = store.events(run.id).map((e) => e.detail ?? e.toStatus);
        assert.ok(details.indexOf('provisioning') < details.findIndex((d) => d?.startsWith('worktree ')));
      } finally {
        store.close();
      }
    });
  }

  it('records the exit code of an agent that ends while no orchestrator runs', async () => {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('sleep:1000', 'exit:7')]);
    assert.equal(r.exitCode, 0, r.stderr);
    // The CLI that spawned it has exited; only the supervisor is left to see the end.
    const store = Store.open(s.state);
    try {
      await until(() => store.listRuns()[0].status === 'failed', 10_000);
      assert.equal(store.listRuns()[0].exitCode, 7);
    } finally {
      store.close();
    }
  });

  it('marks a run lost when its agent and supervisor were killed -9, and says so', async () => {
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('sleep:60000')])).exitCode, 0);
    await until(() => liveAgents(s).length === 1);
    const store = Store.open(s.state);
    try {
      const run = store.listRuns()[0];
      process.kill(-run.supervisorPid!, 'SIGKILL');
      await until(() => liveAgents(s).length === 0);
      const rec = JSON.parse((await cli(s, ['reconcile'])).stdout);
      assert.deepEqual(rec.ended, [run.id]);
      assert.equal(store.getRun(run.id)!.status, 'lost');
      assert.ok(fs.existsSync(run.worktree), 'the worktree stays');
    } finally {
      store.close();
    }
  });
});
