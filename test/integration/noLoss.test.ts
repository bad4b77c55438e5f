import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitRepo } from '../../src/core/git/git';
import { agentCommand, cli, makeSandbox, Sandbox, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { git } from '../support/git';

// Invariant 5: work in a worktree — uncommitted, untracked or unmerged — survives stop,
// gc and removal unless the user explicitly forces it.
describe('nothing is lost: stop, gc and remove keep unmerged and uncommitted work', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  const runOf = (priority: string) => withStore(s, (store) => store.listRuns().find((r) => r.priority === priority)!);

  it('keeps a stopped worktree with a commit, an edit and an untracked file through stop, gc and plain removal', async () => {
    const cmd = agentCommand('write:feature.txt', 'commit:feature', 'write:README.md', 'write:notes.txt', 'trap', 'sleep:60000');
    // Without commit on exit, which would commit the edit and the file when the agent stops.
    assert.equal((await cli(s, ['spawn', 'US-036', '--no-commit-on-exit', '--agent-command', cmd])).exitCode, 0);
    await until(() => fs.existsSync(path.join(`${s.repo}.worktrees`, 'us-036', 'notes.txt')));
    const stop = await cli(s, ['stop', 'US-036']);
    assert.equal(stop.exitCode, 0, stop.stderr);
    const run = runOf('US-036');
    assert.equal(run.status, 'stopped');
    assert.ok(fs.existsSync(path.join(run.worktree, 'notes.txt')), 'stop keeps the worktree');

    const gc = await cli(s, ['gc']);
    assert.equal(gc.exitCode, 0, gc.stderr);
    assert.match(gc.stdout, /kept .*us-036 +\(holds 1 changed file, 1 untracked file, 1 unmerged commit\)/);
    assert.ok(fs.existsSync(path.join(run.worktree, 'notes.txt')), 'gc keeps it');

    const repo = await GitRepo.open(s.repo);
    const result = await repo.removeWorktree(run.worktree, 'main');
    assert.equal(result.removed, false, 'removal without force refuses');
    assert.deepEqual(result.holdings.untracked, ['notes.txt']);
    assert.deepEqual(result.holdings.changed, ['README.md']);
    assert.equal(result.holdings.unmerged.length, 1);
    assert.ok(fs.existsSync(path.join(run.worktree, 'feature.txt')));
    assert.match(git(s.repo, 'branch', '--list', run.branch), /code-developer\/us-036/);
  });

  it('gc removes a worktree that holds nothing, and keeps its branch unless merged', async () => {
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('exit:0')])).exitCode, 0);
    await until(() => runOf('US-036').status === 'succeeded'); // maxParallel 1: the next would queue
    assert.equal((await cli(s, ['spawn', 'US-037', '--agent-command', agentCommand('write:x.txt', 'commit:unmerged', 'exit:0')])).exitCode, 0);
    await until(() => ['US-036', 'US-037'].every((p) => runOf(p).status === 'succeeded'));
    const gc = await cli(s, ['gc']);
    assert.equal(gc.exitCode, 0, gc.stderr);
    assert.match(gc.stdout, /removed +\S+us-036 +\(branch code-developer\/us-036 merged and deleted\)/);
    assert.match(gc.stdout, /kept +\S+us-037 +\(holds 1 unmerged commit\)/);
    assert.ok(!fs.existsSync(runOf('US-036').worktree));
    assert.ok(fs.existsSync(path.join(runOf('US-037').worktree, 'x.txt')));
    assert.equal(git(s.repo, 'branch', '--list', 'code-developer/us-036'), '');
  });

  it('gc --dry-run changes nothing', async () => {
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('exit:0')])).exitCode, 0);
    await until(() => runOf('US-036').status === 'succeeded');
    const before = git(s.repo, 'worktree', 'list', '--porcelain');
    const gc = await cli(s, ['gc', '--dry-run']);
    assert.match(gc.stdout, /would-remove/);
    assert.equal(git(s.repo, 'worktree', 'list', '--porcelain').replace(/\nlocked.*/g, ''), before.replace(/\nlocked.*/g, ''));
  });
});
