import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { branchName } from '../../src/core/roadmap/priorityId';
import { Store } from '../../src/core/db/store';
import { cli, makeSandbox, Sandbox, startOrchestrator } from '../support/sandbox';
import { agentTraces, chaosAgent, killAgents, record, report } from './lib';
import { until } from '../support/wait';
import { git } from '../support/git';

// Scenario 5b: ids that once collided when turned into names. The naming is '<slug>' for a
// first attempt and '<slug>-<n>' for attempt n; '.' used to become '-' in a slug, so a
// decimal id and a later attempt of the id without it got the same branch and folder, and
// the second run adopted the first one's worktree — its branch, its commits — as if it were
// its own crash leftover. Slugs now keep the '.', and provisioning still refuses a
// worktree another run recorded (defence in depth).
describe('chaos 5b: colliding names', function () {
  this.timeout(120_000);
  let s: Sandbox;
  let collisions: string[] = [];
  afterEach(function () {
    killAgents(s);
    s.cleanup();
    record({
      scenario: '5b. colliding names (US-1 #2 vs US-1.2 #1)',
      runs: 4,
      faults: `${collisions.length} name collisions`,
      duplicates: 0,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      notes: this.currentTest?.state === 'passed' ? 'names are distinct; each run has its own worktree' : 'FAILED: names collide or a worktree was shared',
      ok: this.currentTest?.state === 'passed',
    });
  });

  // branchName(US-1, 2) once equalled branchName(US-1.2, 1).
  it('names of ids and attempts are distinct (US-1 attempt 2 vs US-1.2 attempt 1), and no run works in another\'s worktree', async () => {
    const pairs: string[] = [];
    const seen = new Map<string, string>();
    for (const id of ['US-1', 'US-1.2', 'US-12', 'PRIORITY-2', 'PRIORITY-2.5', 'PRIORITY-2.5.1', 'US-1.20', 'US-1.02'].filter((x) => /^[A-Z]+-\d+(\.\d+)?$/.test(x))) {
      for (let attempt = 1; attempt <= 25; attempt++) {
        const b = branchName(id, attempt);
        if (seen.has(b)) pairs.push(`${seen.get(b)} = ${id} #${attempt} (${b})`);
        else seen.set(b, `${id} #${attempt}`);
      }
    }
    collisions = pairs;
    report(`name collisions among a few ids x 25 attempts: ${pairs.length}${pairs.length ? `, e.g. ${pairs.slice(0, 2).join('; ')}` : ''}`);
    assert.deepEqual(pairs, [], 'branch names are distinct across ids and attempts');

    s = makeSandbox('# R\n\n## US-1: one 📝 Planned\n\n## US-1.2: one point two 📝 Planned\n\n## US-9: blocker 📝 Planned\n');
    const env = { CHAOS_LEDGER: path.join(s.dir, 'ledger.jsonl') };
    assert.equal((await cli(s, ['spawn', 'US-1', '--wait', '--agent-command', JSON.stringify(chaosAgent('exit:1'))], env)).exitCode, 0);
    const orch = startOrchestrator(s, ['--max-parallel', '1'], env);
    try {
      await orch.waitFor(/^leader/);
      // US-9 holds the only slot while both colliding requests queue, so both pass the
      // request-time checks (neither branch exists yet) and are provisioned one after the other.
      assert.equal((await cli(s, ['spawn', 'US-9', '--agent-command', JSON.stringify(chaosAgent('sleep:2500'))], env)).exitCode, 0);
      assert.equal((await cli(s, ['spawn', 'US-1', '--new-attempt', '--agent-command', JSON.stringify(chaosAgent('commit:us-1-attempt-2', 'sleep:300'))], env)).exitCode, 0);
      assert.equal((await cli(s, ['spawn', 'US-1.2', '--agent-command', JSON.stringify(chaosAgent('commit:us-1.2', 'sleep:300'))], env)).exitCode, 0);
      const store = Store.open(s.state);
      try {
        await until(() => store.listRuns().length === 4 && store.listRuns().every((r) => !['requested', 'provisioning', 'running', 'stopping'].includes(r.status)), 40_000, 100);
        const runs = store.listRuns();
        const traces = agentTraces(s);
        for (const r of runs) report(`  ${r.priority} #${r.attempt} ${r.status} ${path.basename(r.worktree)} ${r.error ?? ''}`);
        const cwdOwners = new Map<string, Set<string>>();
        for (const t of traces) cwdOwners.set(fs.realpathSync(t.cwd), new Set([...(cwdOwners.get(fs.realpathSync(t.cwd)) ?? []), t.priority]));
        const shared = [...cwdOwners].filter(([, owners]) => owners.size > 1);
        assert.deepEqual(shared, [], 'no worktree was used by two priorities');
        const us12 = runs.find((r) => r.priority === 'US-1.2')!;
        assert.equal(us12.status, 'succeeded', us12.error ?? '');
        assert.equal(path.basename(us12.worktree), 'us-1.2');
        assert.doesNotMatch(git(s.repo, 'log', '--format=%s', 'code-developer/us-1-2'), /us-1\.2/, 'US-1 #2 branch holds only its own work');
        assert.match(git(s.repo, 'log', '--format=%s', 'code-developer/us-1.2'), /us-1\.2/, 'US-1.2 committed on its own branch');
      } finally {
        store.close();
      }
    } finally {
      await orch.kill('SIGTERM');
    }
  });
});
