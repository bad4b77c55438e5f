import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GitRepo } from '../../src/core/git/git';
import { agentCommand, cli, makeSandbox, Sandbox, startOrchestrator, traces, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { git } from '../support/git';

/** Every file and folder under `dir` (relative), for "nothing was created here" checks. */
function tree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

// Nothing a repository or a planted link holds makes the orchestrator write outside a run's
// worktree (issue 12, items 8 and 9).
describe('nothing escapes the worktree: planted symlinks, include escapes, hook output', function () {
  this.timeout(90_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());
  const runOf = (priority: string) => withStore(s, (store) => store.listRuns().filter((r) => r.priority === priority).pop()!);

  it('a symlink planted at a queued run\'s worktree path: the run fails with a message, nothing outside the root is created', async () => {
    const first = await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('sleep:1500')]);
    assert.equal(first.exitCode, 0, first.stderr);
    const queued = await cli(s, ['spawn', 'US-037', '--agent-command', agentCommand('write:agent-was-here.txt')]);
    assert.equal(queued.exitCode, 0, queued.stderr);
    const run = runOf('US-037');
    assert.equal(run.status, 'requested', 'queued behind US-036 (maxParallel 1)');
    const outside = path.join(s.dir, 'outside');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, run.worktree); // planted while the run waits in the queue

    const leader = startOrchestrator(s);
    try {
      await until(() => runOf('US-037').status === 'failed', 30_000);
    } finally {
      await leader.kill();
    }
    const failed = runOf('US-037');
    assert.match(failed.error ?? '', new RegExp(`${run.worktree.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is a symlink \\(to ${outside.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    assert.deepEqual(tree(outside), [], 'nothing was checked out through the link');
    assert.ok(!git(s.repo, 'worktree', 'list', '--porcelain').includes(outside), 'git registered nothing outside the root');
    assert.equal(git(s.repo, 'branch', '--list', run.branch), '', 'no branch was made either');
    assert.ok(fs.lstatSync(run.worktree).isSymbolicLink(), 'the planted link is left for the user to look at');
    assert.ok(!traces(s).some((t) => t.priority === 'US-037'), 'no agent started');
  });

  describe('GitRepo.addWorktree refuses what is not a fresh folder inside the root, before git runs', () => {
    let dir: string;
    let repo: GitRepo;
    let base: string;
    let root: string;
    beforeEach(async () => {
      dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wto-esc-')));
      fs.mkdirSync(path.join(dir, 'repo'));
      git(path.join(dir, 'repo'), 'init', '-q', '-b', 'main');
      fs.writeFileSync(path.join(dir, 'repo', 'a.txt'), 'a\n');
      git(path.join(dir, 'repo'), 'add', '-A');
      git(path.join(dir, 'repo'), 'commit', '-qm', 'init');
      repo = await GitRepo.open(path.join(dir, 'repo'));
      base = git(repo.root, 'rev-parse', 'HEAD');
      root = path.join(dir, 'repo.worktrees');
      fs.mkdirSync(root);
      fs.mkdirSync(path.join(dir, 'outside'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const reason = 'worktree-orchestrator run r1';
    const unchanged = () => {
      assert.deepEqual(tree(path.join(dir, 'outside')), [], 'nothing written outside');
      assert.equal(git(repo.root, 'worktree', 'list', '--porcelain').split('\n\n').filter(Boolean).length, 1, 'no worktree registered');
      assert.equal(git(repo.root, 'branch', '--list', 'code-developer/*'), '', 'no branch made');
    };

    it('a symlink to an empty folder outside, a dangling symlink, a symlink to a folder inside the root', async () => {
      const wt = path.join(root, 'us-1');
      for (const target of [path.join(dir, 'outside'), path.join(dir, 'nowhere'), root]) {
        fs.symlinkSync(target, wt);
        await assert.rejects(repo.addWorktree(wt, 'code-developer/us-1', base, reason), (e: Error) => {
          assert.match(e.message, new RegExp(`^${wt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is a symlink \\(to ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
          return true;
        });
        assert.ok(!fs.existsSync(path.join(dir, 'nowhere')));
        unchanged();
        fs.unlinkSync(wt);
      }
    });

    it('a root swapped for a symlink after the request: refused before anything is made through it', async () => {
      fs.rmdirSync(root);
      fs.symlinkSync(path.join(dir, 'outside'), root);
      await assert.rejects(repo.addWorktree(path.join(root, 'us-2'), 'code-developer/us-2', base, reason), /goes through a symlink/);
      unchanged();
    });

    it('a file, or a folder of someone else\'s with files in it: refused, untouched, no branch made', async () => {
      const file = path.join(root, 'us-3');
      fs.writeFileSync(file, 'mine');
      await assert.rejects(repo.addWorktree(file, 'code-developer/us-3', base, reason), /us-3 already exists and is not a folder/);
      assert.equal(fs.readFileSync(file, 'utf8'), 'mine');
      const folder = path.join(root, 'us-4');
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, 'notes.txt'), 'mine');
      fs.writeFileSync(path.join(folder, '.git'), 'gitdir: /somewhere/else/.git/worktrees/x\n');
      await assert.rejects(repo.addWorktree(folder, 'code-developer/us-4', base, reason), /already exists and is not a worktree of this run/);
      assert.deepEqual(fs.readdirSync(folder).sort(), ['.git', 'notes.txt']);
      unchanged();
    });

    it('a failing post-checkout hook: its output goes to the run\'s log, and the worktree is still complete', async () => {
      const hook = path.join(repo.root, '.git', 'hooks', 'post-checkout');
      fs.writeFileSync(hook, '#!/bin/sh\necho "post-checkout: cannot reach the artifact cache"\necho "post-checkout: giving up" >&2\nexit 3\n', { mode: 0o755 });
      const log = path.join(dir, 'state', 'runs', 'r1', 'agent.log');
      const wt = path.join(root, 'us-5');
      assert.equal(await repo.addWorktree(wt, 'code-developer/us-5', base, reason, { logPath: log }), 'existing');
      const text = fs.readFileSync(log, 'utf8');
      assert.match(text, /git worktree add exited with code 3/);
      assert.match(text, /post-checkout: cannot reach the artifact cache\npost-checkout: giving up/);
      assert.equal(fs.readFileSync(path.join(wt, 'a.txt'), 'utf8'), 'a\n');
      assert.equal(git(wt, 'status', '--porcelain'), '');
    });

    it('a hook that succeeds quietly writes nothing to the log; one that prints is logged', async () => {
      const log = path.join(dir, 'agent.log');
      await repo.addWorktree(path.join(root, 'us-6'), 'code-developer/us-6', base, reason, { logPath: log });
      assert.ok(!fs.existsSync(log) || fs.readFileSync(log, 'utf8') === '', 'git\'s own "Preparing worktree" lines are not logged');
      fs.writeFileSync(path.join(repo.root, '.git', 'hooks', 'post-checkout'), '#!/bin/sh\necho "warmed the cache"\n', { mode: 0o755 });
      await repo.addWorktree(path.join(root, 'us-7'), 'code-developer/us-7', base, 'worktree-orchestrator run r2', { logPath: log });
      assert.match(fs.readFileSync(log, 'utf8'), /git worktree add:\nwarmed the cache\n/);
    });
  });

  it('a spawn in a repository whose post-checkout hook fails: the hook\'s output is in the run\'s log, the agent runs in the complete worktree', async () => {
    fs.writeFileSync(path.join(s.repo, '.git', 'hooks', 'post-checkout'), '#!/bin/sh\necho "post-checkout: lint cache unreachable" >&2\nexit 2\n', { mode: 0o755 });
    const r = await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', agentCommand('exit:0')]);
    assert.equal(r.exitCode, 0, r.stderr);
    const run = runOf('US-036');
    await until(() => withStore(s, (st) => st.getRun(run.id)!.status) === 'succeeded', 20_000);
    const log = fs.readFileSync(run.logPath, 'utf8');
    assert.match(log, /git worktree add exited with code 2/);
    assert.match(log, /post-checkout: lint cache unreachable/);
    assert.equal(traces(s).length, 1, 'the agent ran');
    assert.ok(fs.existsSync(path.join(run.worktree, 'README.md')), 'the checkout is complete');
  });

  it('.worktreeinclude through a committed symlink that is a folder in the main checkout: refused and named in the log, the rest copied', async () => {
    const elsewhere = path.join(s.dir, 'elsewhere');
    const elsewhere2 = path.join(s.dir, 'elsewhere2');
    fs.mkdirSync(elsewhere);
    fs.mkdirSync(elsewhere2);
    // Committed: cfg -> an absolute folder, cfg2 -> a relative one (from a worktree at
    // <repo>.worktrees/<name>/cfg2, ../../elsewhere2 is <dir>/elsewhere2).
    fs.symlinkSync(elsewhere, path.join(s.repo, 'cfg'));
    fs.symlinkSync('../../elsewhere2', path.join(s.repo, 'cfg2'));
    fs.writeFileSync(path.join(s.repo, '.gitignore'), '.env\n');
    fs.writeFileSync(path.join(s.repo, '.worktreeinclude'), '.env\ncfg/.env\ncfg2/.env\nlocal/\n');
    git(s.repo, 'add', '-A');
    git(s.repo, 'commit', '-qm', 'links');
    // In the main checkout they are real folders holding ignored files.
    for (const link of ['cfg', 'cfg2']) {
      fs.unlinkSync(path.join(s.repo, link));
      fs.mkdirSync(path.join(s.repo, link));
      fs.writeFileSync(path.join(s.repo, link, '.env'), `${link} secret\n`);
    }
    fs.writeFileSync(path.join(s.repo, '.env'), 'TOP=1\n');
    fs.mkdirSync(path.join(s.repo, 'local', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(s.repo, 'local', 'deep', '.env'), 'DEEP=1\n');
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('sleep:100')]);
    assert.equal(r.exitCode, 0, r.stderr);
    const run = runOf('US-036');
    assert.deepEqual(tree(elsewhere), [], 'nothing written through the absolute link');
    assert.deepEqual(tree(elsewhere2), [], 'nothing written through the relative link');
    assert.equal(fs.readFileSync(path.join(run.worktree, '.env'), 'utf8'), 'TOP=1\n', 'the rest is copied');
    assert.equal(fs.readFileSync(path.join(run.worktree, 'local', 'deep', '.env'), 'utf8'), 'DEEP=1\n');
    await until(() => fs.existsSync(run.logPath) && /fake agent/.test(fs.readFileSync(run.logPath, 'utf8')));
    const log = fs.readFileSync(run.logPath, 'utf8');
    assert.match(log, new RegExp(`not copied cfg/\\.env: cfg is a symlink to ${elsewhere.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, outside the worktree`));
    assert.match(log, new RegExp(`not copied cfg2/\\.env: cfg2 is a symlink to ${elsewhere2.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, outside the worktree`));
  });
});
