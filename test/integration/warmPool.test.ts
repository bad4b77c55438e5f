import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, cli, makeSandbox, Sandbox, startOrchestrator, StartedOrchestrator, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { git } from '../support/git';

describe('warm worktree pool', function () {
  this.timeout(60_000);
  let s: Sandbox;
  let orch: StartedOrchestrator | undefined;
  beforeEach(() => (s = makeSandbox()));
  afterEach(async () => {
    await orch?.kill('SIGKILL');
    s.cleanup();
  });

  const pools = () =>
    git(s.repo, 'worktree', 'list', '--porcelain')
      .split('\n\n')
      .filter((b) => b.includes('/.pool-') && b.includes('pool ready'))
      .map((b) => ({ path: b.split('\n')[0].slice(9), head: /HEAD (\w+)/.exec(b)![1] }));
  const events = (kind: string) => withStore(s, (store) => store.events().filter((e) => e.kind === kind));
  const runOf = (p: string) => withStore(s, (store) => store.listRuns().find((r) => r.priority === p)!);

  it('a spawn takes a ready pool worktree, on its own branch at the base; the pool refills; work in a pool worktree is never used or touched', async () => {
    orch = startOrchestrator(s, ['--warm-pool', '1', '--max-parallel', '5']);
    await orch.waitFor(/^leader/);
    const cmd = agentCommand('sleep:60000');
    assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', cmd])).exitCode, 0);
    await until(() => pools().length === 1, 20_000);
    const pooled = pools()[0].path;

    // The base moves: the next spawn still starts from the new base.
    fs.writeFileSync(path.join(s.repo, 'base.txt'), 'moved\n');
    git(s.repo, 'add', 'base.txt');
    git(s.repo, 'commit', '-qm', 'base moves');
    const base = git(s.repo, 'rev-parse', 'main');

    assert.equal((await cli(s, ['spawn', 'US-037', '--wait', '--agent-command', cmd])).exitCode, 0);
    const run = runOf('US-037');
    assert.equal(run.status, 'running');
    assert.ok(!fs.existsSync(pooled), 'the pool worktree was moved into place');
    assert.equal(git(run.worktree, 'rev-parse', '--abbrev-ref', 'HEAD'), 'code-developer/us-037');
    assert.equal(git(run.worktree, 'rev-parse', 'HEAD'), base);
    assert.ok(fs.existsSync(path.join(run.worktree, 'base.txt')));
    assert.equal(events('take-pool-worktree').length, 1);
    await until(() => pools().length === 1 && pools()[0].head === base, 20_000);

    // Someone edits the pool worktree: it is left alone, and the spawn adds a fresh worktree instead.
    const touched = pools()[0].path;
    fs.writeFileSync(path.join(touched, 'user-notes.txt'), 'mine\n');
    assert.equal((await cli(s, ['spawn', 'US-038', '--wait', '--agent-command', cmd])).exitCode, 0);
    assert.equal(events('take-pool-worktree').length, 1, 'not taken');
    assert.equal(fs.readFileSync(path.join(touched, 'user-notes.txt'), 'utf8'), 'mine\n');
    assert.equal(git(runOf('US-038').worktree, 'rev-parse', '--abbrev-ref', 'HEAD'), 'code-developer/us-038');
  });

  it('gc and reconcile leave pool worktrees alone', async () => {
    orch = startOrchestrator(s, ['--warm-pool', '2']);
    await orch.waitFor(/^leader/);
    assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', agentCommand('exit:0')])).exitCode, 0);
    await until(() => pools().length === 2, 20_000);
    await orch.kill('SIGTERM');
    orch = undefined;
    const rec = JSON.parse((await cli(s, ['reconcile'])).stdout);
    assert.deepEqual(rec.orphanWorktrees, []);
    const gc = await cli(s, ['gc']);
    assert.doesNotMatch(gc.stdout, /\.pool-/);
    assert.equal(pools().length, 2);
  });
});
