import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commitAll } from '../../src/core/git/git';
import { cli, makeSandbox, NODE, Sandbox, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { git } from '../support/git';
import { isActive } from '../../src/core/model/runStatus';

// Nothing left uncommitted: what an agent leaves in its worktree when it exits is committed
// on the run's branch by its supervisor, before the run is recorded as ended — never in the
// main checkout, never past a failing hook.
describe('commit on exit: what an agent leaves uncommitted is committed on its branch', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => {
    s = makeSandbox();
    fs.writeFileSync(path.join(s.repo, '.gitignore'), '*.tmp\n');
    git(s.repo, 'add', '.gitignore');
    git(s.repo, 'commit', '-q', '-m', 'ignore *.tmp');
  });
  afterEach(() => s.cleanup());

  const runOf = (priority = 'US-036') => withStore(s, (store) => store.latestRun(s.repo, priority)!);
  const ended = (priority = 'US-036') => until(() => !isActive(runOf(priority).status), 20_000, 50, `${priority} ended`);
  const eventsOf = (runId: string) => withStore(s, (store) => store.events(runId));
  /** An agent that runs a few lines of Node in its worktree. */
  const script = (body: string) => JSON.stringify([NODE, '-e', `const fs = require('fs'); const { execFileSync: x } = require('child_process'); ${body}`]);
  const leaveChanges = script(`
    fs.writeFileSync('README.md', 'edited by the agent\\n');
    fs.writeFileSync('new.txt', 'untracked\\n');
    fs.writeFileSync('staged.txt', 'staged\\n'); x('git', ['add', 'staged.txt']);
    fs.writeFileSync('scratch.tmp', 'ignored\\n');`);
  const hook = (body: string) => {
    const file = path.join(s.repo, '.git', 'hooks', 'pre-commit');
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };

  it('commits modified, staged and untracked files, leaves ignored ones, and records it before the end', async () => {
    const base = git(s.repo, 'rev-parse', 'HEAD');
    const spawn = await cli(s, ['spawn', 'US-036', '--agent-command', leaveChanges]);
    assert.equal(spawn.exitCode, 0, spawn.stderr);
    await ended();
    const run = runOf();
    assert.equal(run.status, 'succeeded');
    assert.equal(git(run.worktree, 'log', '-1', '--format=%s'), `wto: changes left by US-036 run #1 (${run.id})`);
    assert.equal(git(run.worktree, 'rev-parse', 'HEAD~1'), base, 'one commit on top of the base');
    assert.equal(git(run.worktree, 'rev-parse', '--abbrev-ref', 'HEAD'), run.branch);
    assert.deepEqual(git(run.worktree, 'show', '--name-only', '--format=', 'HEAD').split('\n').sort(), ['README.md', 'new.txt', 'staged.txt']);
    assert.equal(git(run.worktree, 'status', '--porcelain'), '', 'nothing left uncommitted');
    assert.equal(fs.readFileSync(path.join(run.worktree, 'scratch.tmp'), 'utf8'), 'ignored\n', 'the ignored file stays, uncommitted');
    assert.equal(git(s.repo, 'status', '--porcelain'), '', 'the main checkout is untouched');
    const events = eventsOf(run.id);
    const committed = events.findIndex((e) => e.kind === 'committed-on-exit');
    const end = events.findIndex((e) => e.toStatus === 'succeeded');
    assert.ok(committed >= 0 && committed < end, `the commit is recorded before the end: ${events.map((e) => e.kind).join(', ')}`);
    assert.match(events[committed].detail!, /^[0-9a-f]{12}: 3 files/);
    assert.match(fs.readFileSync(run.logPath, 'utf8'), /commit on exit: committed [0-9a-f]{12}: 3 files/);
    assert.ok(fs.existsSync(path.join(s.state, 'runs', run.id, 'exit.json')));
  });

  it('keeps the run active while the commit runs: no new attempt can claim the priority meanwhile', async () => {
    const started = path.join(s.dir, 'hook-started');
    const release = path.join(s.dir, 'hook-release');
    hook(`touch '${started}'; while [ ! -e '${release}' ]; do sleep 0.05; done; exit 0`);
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', leaveChanges])).exitCode, 0);
    await until(() => fs.existsSync(started), 20_000, 50, 'the hook started');
    const run = runOf();
    assert.ok(fs.existsSync(path.join(s.state, 'runs', run.id, 'exit.json')), 'exit.json is written before the commit');
    assert.equal(run.status, 'running', 'still active while its changes are being committed');
    const again = await cli(s, ['spawn', 'US-036', '--new-attempt', '--agent-command', leaveChanges]);
    assert.equal(again.exitCode, 3, again.stdout + again.stderr);
    assert.match(again.stderr, /already has an active run/);
    fs.writeFileSync(release, '');
    await ended();
    assert.equal(runOf().status, 'succeeded');
    assert.match(git(run.worktree, 'log', '-1', '--format=%s'), /^wto: changes left by US-036 run #1/);
  });

  it('a failing pre-commit hook is reported, and the changes stay uncommitted', async () => {
    hook(`echo "lint says no: trailing whitespace" >&2; exit 1`);
    const base = git(s.repo, 'rev-parse', 'HEAD');
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', leaveChanges])).exitCode, 0);
    await ended();
    const run = runOf();
    assert.equal(run.status, 'succeeded', 'the run ends as the agent did');
    assert.equal(git(run.worktree, 'rev-parse', 'HEAD'), base, 'nothing committed');
    for (const f of ['README.md', 'new.txt', 'staged.txt', 'scratch.tmp']) assert.ok(fs.existsSync(path.join(run.worktree, f)), `${f} is still there`);
    assert.equal(fs.readFileSync(path.join(run.worktree, 'README.md'), 'utf8'), 'edited by the agent\n');
    assert.match(git(run.worktree, 'status', '--porcelain'), /README\.md/);
    const failed = eventsOf(run.id).find((e) => e.kind === 'commit-on-exit-failed');
    assert.ok(failed, 'an event says so');
    assert.match(failed.detail!, /lint says no/);
    assert.match(fs.readFileSync(run.logPath, 'utf8'), /commit on exit failed, the changes stay[\s\S]*lint says no: trailing whitespace/);
  });

  it('refuses the main checkout, a folder inside it, and a worktree on another branch, changing nothing', async () => {
    fs.writeFileSync(path.join(s.repo, 'README.md'), 'dirty main\n');
    fs.mkdirSync(path.join(s.repo, 'sub'));
    fs.writeFileSync(path.join(s.repo, 'sub', 'x.txt'), 'x\n');
    const head = git(s.repo, 'rev-parse', 'HEAD');
    const main = await commitAll(s.repo, s.repo, 'main', 'nope');
    assert.equal(main.outcome, 'refused');
    assert.match(main.output, /main checkout/);
    const inside = await commitAll(s.repo, path.join(s.repo, 'sub'), 'main', 'nope');
    assert.equal(inside.outcome, 'refused');
    assert.match(inside.output, /main checkout/);
    const wt = path.join(s.dir, 'other-wt');
    git(s.repo, 'worktree', 'add', '-q', '-b', 'someone-else', wt);
    fs.writeFileSync(path.join(wt, 'y.txt'), 'y\n');
    const otherBranch = await commitAll(s.repo, wt, 'code-developer/us-036', 'nope');
    assert.equal(otherBranch.outcome, 'refused');
    assert.match(otherBranch.output, /branch someone-else checked out, not the run's branch code-developer\/us-036/);
    assert.equal(git(s.repo, 'rev-parse', 'HEAD'), head);
    assert.equal(git(wt, 'rev-parse', 'HEAD'), head);
    assert.match(git(s.repo, 'status', '--porcelain'), /M README\.md/);
    assert.equal(git(s.repo, 'diff', '--cached', '--name-only'), '', 'nothing staged either');
  });

  it('an agent that switched its worktree to another branch: refused and reported, nothing committed', async () => {
    const base = git(s.repo, 'rev-parse', 'HEAD');
    const agent = script(`x('git', ['switch', '-q', '-c', 'elsewhere']); fs.writeFileSync('left.txt', 'x\\n');`);
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', agent])).exitCode, 0);
    await ended();
    const run = runOf();
    const refused = eventsOf(run.id).find((e) => e.kind === 'commit-on-exit-refused');
    assert.ok(refused, eventsOf(run.id).map((e) => e.kind).join(', '));
    assert.match(refused.detail!, /branch elsewhere checked out, not the run's branch/);
    assert.equal(git(s.repo, 'rev-parse', 'refs/heads/elsewhere'), base);
    assert.equal(git(s.repo, 'rev-parse', `refs/heads/${run.branch}`), base);
    assert.ok(fs.existsSync(path.join(run.worktree, 'left.txt')));
  });

  it('--no-commit-on-exit leaves the changes as they are', async () => {
    const base = git(s.repo, 'rev-parse', 'HEAD');
    assert.equal((await cli(s, ['spawn', 'US-036', '--no-commit-on-exit', '--agent-command', leaveChanges])).exitCode, 0);
    await ended();
    const run = runOf();
    assert.equal(git(run.worktree, 'rev-parse', 'HEAD'), base);
    assert.deepEqual(git(run.worktree, 'status', '--porcelain').split('\n').map((l) => l.trim()).sort(), ['?? new.txt', 'A  staged.txt', 'M README.md']);
    assert.ok(!eventsOf(run.id).some((e) => /commit/.test(e.kind)));
  });
});
