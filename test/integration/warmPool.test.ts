import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, cli, makeSandbox, NODE, Sandbox, startOrchestrator, StartedOrchestrator, withStore } from '../support/sandbox';
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
      .map((b) => ({ path: b.split('\n')[0].slice(9), head: /HEAD (\w+)/.exec(b)![1], reason: /locked (.*)/.exec(b)?.[1] ?? '' }));
  const poolsLocked = (word: string) =>
    git(s.repo, 'worktree', 'list', '--porcelain')
      .split('\n\n')
      .filter((b) => b.includes('/.pool-') && b.includes(word))
      .map((b) => b.split('\n')[0].slice(9));
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

  /** A setup command that appends "<cwd> <pool|run>" to .setup-marker (an untracked file), exiting `poolExit` in the pool. */
  const markerSetup = (poolExit = 0) =>
    JSON.stringify([NODE, '-e', `require('fs').appendFileSync('.setup-marker', process.cwd() + ' ' + (process.env.WTO_POOL ? 'pool' : 'run') + String.fromCharCode(10)); process.exit(process.env.WTO_POOL ? ${poolExit} : 0)`]);
  const marker = (dir: string) => (fs.existsSync(path.join(dir, '.setup-marker')) ? fs.readFileSync(path.join(dir, '.setup-marker'), 'utf8').split('\n').filter(Boolean) : []);
  const sleeper = agentCommand('sleep:60000');

  it('a ready pool worktree\'s index is written after the second of its checkout, so git trusts its file stats', async () => {
    // Else every `git status` there (the take's, the agent's) re-reads every file: git's
    // racy-entry rule, whole seconds.
    orch = startOrchestrator(s, ['--warm-pool', '1']);
    await orch.waitFor(/^leader/);
    assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', agentCommand('sleep:60000')])).exitCode, 0);
    await until(() => pools().length === 1, 20_000);
    const pooled = pools()[0].path;
    const index = fs.statSync(git(pooled, 'rev-parse', '--path-format=absolute', '--git-path', 'index')).mtimeMs;
    const files = git(pooled, 'ls-files', '-z').split('\0').filter(Boolean).map((f) => fs.statSync(path.join(pooled, f)).mtimeMs);
    assert.ok(files.length > 0);
    assert.ok(Math.floor(index / 1000) > Math.floor(Math.max(...files) / 1000), `index ${index}, newest file ${Math.max(...files)}`);
  });

  it('pool worktrees run the setup command ahead of time: a spawn takes one already set up and does not run it again', async () => {
    orch = startOrchestrator(s, ['--warm-pool', '1', '--max-parallel', '3']);
    await orch.waitFor(/^leader/);
    const setup = markerSetup();
    const first = await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', sleeper, '--setup-command', setup]);
    assert.equal(first.exitCode, 0, first.stdout + first.stderr);
    await until(() => pools().length === 1 && / setup /.test(pools()[0].reason), 20_000);
    const pooled = pools()[0].path;
    assert.deepEqual(marker(pooled), [`${pooled} pool`], 'the setup ran in the pool worktree before any run asked for it');

    assert.equal((await cli(s, ['spawn', 'US-037', '--wait', '--agent-command', sleeper, '--setup-command', setup])).exitCode, 0);
    const run = runOf('US-037');
    assert.equal(run.status, 'running');
    assert.deepEqual(marker(run.worktree), [`${pooled} pool`], 'taken set up: the setup did not run again in the run');
    assert.match(events('take-pool-worktree')[0].detail!, /\(set up\)/);
    assert.ok(withStore(s, (store) => store.events().some((e) => e.runId === run.id && /setup done ahead in the warm pool/.test(e.detail ?? ''))));
    // The untracked file the setup left is the pool's own: not taken for user work.
    assert.ok(!orch.stderr().includes('has changes'), orch.stderr());
  });

  it('a pool worktree whose setup failed is never handed out, and the failure is logged', async () => {
    orch = startOrchestrator(s, ['--warm-pool', '1', '--max-parallel', '3']);
    await orch.waitFor(/^leader/);
    const setup = markerSetup(7);
    assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', sleeper, '--setup-command', setup])).exitCode, 0);
    await until(() => poolsLocked('pool setup-failed').length === 1, 20_000);
    const failed = poolsLocked('pool setup-failed')[0];
    await until(() => /warm pool: setup failed in .*exit code 7/.test(orch!.stderr()), 5_000);
    const log = path.join(s.state, 'pool-setup', `${path.basename(failed)}.log`);
    assert.match(fs.readFileSync(log, 'utf8'), /setup: /);

    assert.equal((await cli(s, ['spawn', 'US-037', '--wait', '--agent-command', sleeper, '--setup-command', setup])).exitCode, 0);
    const run = runOf('US-037');
    assert.equal(run.status, 'running');
    assert.equal(events('take-pool-worktree').length, 0, 'not handed out');
    assert.deepEqual(marker(run.worktree), [`${run.worktree} run`], 'a fresh worktree, set up for the run');
    assert.ok(fs.existsSync(failed), 'the failed pool worktree is kept (not retried until the base or the lockfile changes)');
    assert.equal(events('pool-setup').length, 1, 'its setup is not retried at the same base and lockfile');
  });

  it('the setup is run again in a pool worktree when the base moves with a changed lockfile', async () => {
    orch = startOrchestrator(s, ['--warm-pool', '2', '--max-parallel', '3']);
    await orch.waitFor(/^leader/);
    const setup = markerSetup();
    assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', sleeper, '--setup-command', setup])).exitCode, 0);
    await until(() => pools().filter((p) => / setup /.test(p.reason)).length === 2, 30_000);
    const before = new Map(pools().map((p) => [p.path, p.reason]));

    fs.writeFileSync(path.join(s.repo, 'package-lock.json'), JSON.stringify({ name: 'demo', lockfileVersion: 3, packages: {} }) + '\n');
    git(s.repo, 'add', 'package-lock.json');
    git(s.repo, 'commit', '-qm', 'lockfile changes');
    const base = git(s.repo, 'rev-parse', 'main');

    assert.equal((await cli(s, ['spawn', 'US-037', '--wait', '--agent-command', sleeper, '--setup-command', setup])).exitCode, 0);
    const run = runOf('US-037');
    // The pool worktree it took was set up at the old base: the run set itself up.
    assert.equal(marker(run.worktree).length, 2);
    assert.equal(marker(run.worktree)[1], `${run.worktree} run`);
    await until(() => pools().length === 2 && pools().every((p) => p.head === base && / setup /.test(p.reason)), 30_000);
    const kept = pools().find((p) => before.has(p.path))!;
    assert.ok(kept, 'the pool worktree that was not taken was brought forward');
    assert.notEqual(kept.reason, before.get(kept.path), 'with a new setup key');
    assert.deepEqual(marker(kept.path), [`${kept.path} pool`, `${kept.path} pool`], 'its setup ran again');
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
