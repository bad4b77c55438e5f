import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, cli, makeSandbox, NODE, Sandbox, traces, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { git } from '../support/git';

describe('handing results back: merge, remove, worktree setup', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  const run = (priority = 'US-036') => withStore(s, (store) => store.listRuns().filter((r) => r.priority === priority).pop()!);
  // Without commit on exit: these are about what removal does with work left uncommitted.
  async function finished(steps: string[], priority = 'US-036') {
    const r = await cli(s, ['spawn', priority, '--no-commit-on-exit', '--agent-command', agentCommand(...steps)]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => ['succeeded', 'failed'].includes(run(priority).status));
    return run(priority);
  }
  const state = () => [git(s.repo, 'rev-parse', 'HEAD'), git(s.repo, 'status', '--porcelain'), fs.existsSync(path.join(s.repo, '.git', 'MERGE_HEAD'))].join('|');

  it('merge of a clean run lands its commits on the base with a merge commit', async () => {
    await finished(['write:feature.txt', 'commit:add feature']);
    const r = await cli(s, ['merge', 'US-036']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /Merged code-developer\/us-036 into main/);
    assert.ok(fs.existsSync(path.join(s.repo, 'feature.txt')));
    assert.match(git(s.repo, 'log', '--format=%s', 'main'), /add feature/);
    assert.equal(git(s.repo, 'rev-list', '--parents', '-n', '1', 'HEAD').split(' ').length, 3, 'a --no-ff merge commit');
  });

  it('merge with a conflict changes nothing and names the file', async () => {
    await finished(['write:README.md', 'commit:agent edits README']);
    fs.writeFileSync(path.join(s.repo, 'README.md'), 'main edits README too\n');
    git(s.repo, 'commit', '-qam', 'main edit');
    const before = state();
    const r = await cli(s, ['merge', 'US-036']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /conflicts in README\.md\. The merge was aborted; nothing was changed/);
    assert.equal(state(), before);
  });

  it('merge into a dirty main checkout changes nothing', async () => {
    await finished(['write:feature.txt', 'commit:add feature']);
    fs.writeFileSync(path.join(s.repo, 'README.md'), 'uncommitted user work\n');
    const before = state();
    const r = await cli(s, ['merge', 'US-036']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /uncommitted changes \(README\.md\)/);
    assert.equal(state(), before);
    assert.equal(fs.readFileSync(path.join(s.repo, 'README.md'), 'utf8'), 'uncommitted user work\n');
  });

  it('remove refuses a worktree holding work unless forced, and keeps the unmerged branch', async () => {
    const r0 = await finished(['write:feature.txt', 'commit:add feature', 'write:scratch.txt']);
    const refused = await cli(s, ['remove', 'US-036']);
    assert.equal(refused.exitCode, 1);
    // What is lost (the untracked file) and what the branch keeps (the commit) are told apart.
    assert.match(refused.stderr, /holds 1 untracked file; removing it would lose it \(its 1 commit not in main stays on code-developer\/us-036\)/);
    assert.ok(fs.existsSync(path.join(r0.worktree, 'scratch.txt')));
    const forced = await cli(s, ['remove', 'US-036', '--force']);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.ok(!fs.existsSync(r0.worktree));
    assert.match(forced.stdout, /branch code-developer\/us-036 kept \(not merged\)/);
    assert.match(git(s.repo, 'log', '--format=%s', 'code-developer/us-036'), /add feature/, 'the commit is still reachable');
    const removal = withStore(s, (st) => st.events(r0.id).find((e) => e.kind === 'remove-worktree'))!;
    assert.match(removal.detail!, /\(forced, losing 1 untracked file; code-developer\/us-036 keeps 1 commit not in main\)$/, 'the event log says what was lost, and only that');
  });

  it('remove of a clean worktree whose branch holds commits asks for confirmation, and the log says nothing was lost', async () => {
    const r0 = await finished(['write:feature.txt', 'commit:add feature']);
    const refused = await cli(s, ['remove', 'US-036']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /holds 1 commit not in main; it stays on code-developer\/us-036, which is kept\. Confirm removing the worktree \(CLI: --force\)/);
    assert.ok(fs.existsSync(r0.worktree));
    assert.equal((await cli(s, ['remove', 'US-036', '--force'])).exitCode, 0);
    const removal = withStore(s, (st) => st.events(r0.id).find((e) => e.kind === 'remove-worktree'))!;
    assert.doesNotMatch(removal.detail!, /losing/, 'nothing was lost');
    assert.match(removal.detail!, /\(confirmed; code-developer\/us-036 keeps 1 commit not in main\)$/);
  });

  it('remove of a merged, clean run deletes the worktree and its branch', async () => {
    await finished(['write:feature.txt', 'commit:add feature']);
    assert.equal((await cli(s, ['merge', 'US-036'])).exitCode, 0);
    const r = await cli(s, ['remove', 'US-036']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /and its merged branch code-developer\/us-036/);
    assert.equal(git(s.repo, 'branch', '--list', 'code-developer/us-036'), '');
  });

  it('copies .worktreeinclude files that git ignores, and runs the setup command before the agent', async () => {
    fs.writeFileSync(path.join(s.repo, '.gitignore'), '.env\nlocal/\n');
    fs.writeFileSync(path.join(s.repo, '.worktreeinclude'), '.env\nlocal/\nREADME.md\n');
    git(s.repo, 'add', '.gitignore', '.worktreeinclude');
    git(s.repo, 'commit', '-qm', 'include');
    fs.writeFileSync(path.join(s.repo, '.env'), 'SECRET=1\n');
    fs.mkdirSync(path.join(s.repo, 'local'));
    fs.writeFileSync(path.join(s.repo, 'local', 'settings.json'), '{}');
    fs.writeFileSync(path.join(s.repo, 'README.md'), 'uncommitted edit: must not be copied\n');
    const setup = JSON.stringify([NODE, '-e', "require('fs').writeFileSync('setup-ran', process.env.WTO_PRIORITY); console.log('setup output')"]);
    const r = await cli(s, ['spawn', 'US-036', '--setup-command', setup, '--agent-command', agentCommand('sleep:100')]);
    assert.equal(r.exitCode, 0, r.stderr);
    const wt = run().worktree;
    assert.equal(fs.readFileSync(path.join(wt, '.env'), 'utf8'), 'SECRET=1\n');
    assert.ok(fs.existsSync(path.join(wt, 'local', 'settings.json')));
    assert.equal(fs.readFileSync(path.join(wt, 'README.md'), 'utf8'), '# demo\n', 'tracked files come from git, not the main checkout');
    assert.equal(fs.readFileSync(path.join(wt, 'setup-ran'), 'utf8'), 'US-036');
    await until(() => run().status === 'succeeded');
    const log = fs.readFileSync(run().logPath, 'utf8');
    assert.ok(log.indexOf('setup output') < log.indexOf('fake agent'), log);
  });

  it('a failing setup command fails the run before any agent starts', async () => {
    const setup = JSON.stringify([NODE, '-e', 'process.exit(4)']);
    const r = await cli(s, ['spawn', 'US-036', '--setup-command', setup, '--agent-command', agentCommand('sleep:100')]);
    assert.equal(r.exitCode, 1);
    assert.equal(run().status, 'failed');
    assert.match(run().error!, /setup command .* failed with exit code 4/);
    assert.equal(traces(s).length, 0);
  });
});
