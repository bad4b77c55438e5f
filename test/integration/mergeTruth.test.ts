import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, CLI, cli, makeSandbox, NODE, Sandbox, withStore } from '../support/sandbox';
import { sleep, until } from '../support/wait';
import { git } from '../support/git';

// A merge the leader started can outlive the leader: killed while git runs a slow
// pre-merge-commit hook, its git either goes on and completes the merge (the leader alone
// was killed) or dies with it, leaving the merged result staged (the whole process group
// was killed). The next leader must say what happened, not "the main checkout is dirty,
// nothing was changed" (issue 12, item 10).
describe('merge reports the truth after its leader was killed mid-merge', function () {
  this.timeout(120_000);
  let s: Sandbox;
  const leaders: ChildProcess[] = [];
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => {
    for (const l of leaders.splice(0)) {
      try {
        process.kill(-l.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    s.cleanup();
  });

  /** A leader in its own process group, as a terminal or the extension host starts it. */
  async function leader(): Promise<ChildProcess> {
    const child = spawn(NODE, [CLI, '--repo', s.repo, '--state-dir', s.state, 'start'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, FAKE_AGENT_TRACE: s.trace } });
    leaders.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => /^leader /m.test(out), 20_000);
    return child;
  }
  const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  const runOf = () => withStore(s, (store) => store.listRuns().filter((r) => r.priority === 'US-036').pop()!);

  async function finishedRunWithSlowHook(hookSeconds: number) {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('write:feature.txt', 'commit:add feature')]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => runOf().status === 'succeeded');
    const started = path.join(s.dir, 'hook-started');
    fs.writeFileSync(path.join(s.repo, '.git', 'hooks', 'pre-merge-commit'), `#!/bin/sh\ntouch '${started}'\nsleep ${hookSeconds}\n`, { mode: 0o755 });
    return { run: runOf(), started, head: git(s.repo, 'rev-parse', 'HEAD') };
  }
  const request = (runId: string) => withStore(s, (store) => store.requestAction('merge', runId, { force: false, requestedBy: 'test' }).id);
  const answer = (id: number) => withStore(s, (store) => store.getAction(id)!);
  const merges = (from: string) => Number(git(s.repo, 'rev-list', '--merges', '--count', `${from}..HEAD`));

  it('the leader killed during a slow pre-merge-commit hook, its git completes the merge: the next leader reports it merged (done)', async () => {
    const { run, started, head } = await finishedRunWithSlowHook(4);
    const first = await leader();
    const action = request(run.id);
    await until(() => fs.existsSync(started), 20_000);
    process.kill(first.pid!, 'SIGKILL'); // the leader only: its git and the hook go on
    await exited(first);
    await leader(); // takes over while the orphaned git still waits for its hook
    await until(() => answer(action).status !== 'pending', 40_000);
    const done = answer(action);
    assert.equal(done.status, 'done', `answered: ${done.result}`);
    assert.match(done.result!, /code-developer\/us-036 is already merged into main/);
    assert.equal(merges(head), 1, 'merged exactly once');
    assert.ok(fs.existsSync(path.join(s.repo, 'feature.txt')));
    assert.ok(withStore(s, (store) => store.events(run.id).some((e) => e.kind === 'merged')), 'the merge is on record');
    // git prints its summary after committing and clears MERGE_HEAD after that: with its
    // leader gone, the print kills it (SIGPIPE) and MERGE_HEAD stays. Said, not hidden.
    if (fs.existsSync(path.join(s.repo, '.git', 'MERGE_HEAD'))) assert.match(done.result!, /"git merge --quit" clears it/);
    console.log(`      answer: ${done.result}`);
  });

  it('the leader\'s process group killed mid-hook (git dies too): the next leader says the merge was interrupted, and touches nothing', async () => {
    const { run, started, head } = await finishedRunWithSlowHook(30);
    const first = await leader();
    const action = request(run.id);
    await until(() => fs.existsSync(started), 20_000);
    process.kill(-first.pid!, 'SIGKILL'); // the whole group: leader, git, hook
    await exited(first);
    await sleep(200);
    const staged = git(s.repo, 'status', '--porcelain');
    assert.match(staged, /^A {2}feature\.txt$/m, 'git died with the merged result staged');
    await leader();
    await until(() => answer(action).status !== 'pending', 40_000);
    const done = answer(action);
    assert.equal(done.status, 'failed');
    assert.doesNotMatch(done.result!, /Nothing was changed/, 'the merge did change the main checkout');
    assert.match(done.result!, /The merge of code-developer\/us-036 into main begun at .* was interrupted before it committed/);
    assert.match(done.result!, /feature\.txt/);
    assert.equal(git(s.repo, 'rev-parse', 'HEAD'), head, 'not merged');
    assert.equal(git(s.repo, 'status', '--porcelain'), staged, 'left as it was');
  });

  it('a merge in progress in the main checkout (MERGE_HEAD): says so, and by whom, and does nothing', async () => {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('write:feature.txt', 'commit:add feature')]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => runOf().status === 'succeeded');
    git(s.repo, 'checkout', '-qb', 'topic');
    fs.writeFileSync(path.join(s.repo, 'topic.txt'), 'topic\n');
    git(s.repo, 'add', 'topic.txt');
    git(s.repo, 'commit', '-qm', 'topic');
    git(s.repo, 'checkout', '-q', 'main');
    git(s.repo, 'merge', '--no-ff', '--no-commit', 'topic'); // the user's own merge, not yet committed
    const before = [git(s.repo, 'rev-parse', 'HEAD'), git(s.repo, 'status', '--porcelain'), fs.readFileSync(path.join(s.repo, '.git', 'MERGE_HEAD'), 'utf8')].join('|');
    const m = await cli(s, ['merge', 'US-036']);
    assert.equal(m.exitCode, 1);
    assert.match(m.stderr, /A merge is in progress in the main checkout .* \(merging topic\)/);
    assert.match(m.stderr, /Nothing was done/);
    assert.equal([git(s.repo, 'rev-parse', 'HEAD'), git(s.repo, 'status', '--porcelain'), fs.readFileSync(path.join(s.repo, '.git', 'MERGE_HEAD'), 'utf8')].join('|'), before);
  });
});
