import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, makeSandbox, NODE, ROOT, Sandbox, withStore } from '../support/sandbox';
import { sleep, until } from '../support/wait';
import { git } from '../support/git';
import { isActive } from '../../src/core/model/runStatus';

const RECORDER = path.join(ROOT, 'test', 'fixtures', 'recordingAgent.mjs');

interface Started {
  name: string;
  argv: string[];
  cwd: string;
  runId: string;
  branch: string;
  pid: number;
}

// Follow-up: the next run of a priority in the same worktree and branch, told a message,
// resuming the agent's session where its CLI can; one active run per priority still holds.
describe('follow-up: the next run in the same worktree and branch', function () {
  this.timeout(90_000);
  let s: Sandbox;
  let bin: string;
  let log: string;
  beforeEach(() => {
    s = makeSandbox();
    log = path.join(s.dir, 'agents.jsonl');
    // The presets run `claude` and `codex` from PATH: here they are the recording agent.
    bin = path.join(s.dir, 'bin');
    fs.mkdirSync(bin);
    for (const name of ['claude', 'codex']) fs.symlinkSync(RECORDER, path.join(bin, name));
  });
  afterEach(() => {
    for (const a of started()) {
      try {
        process.kill(a.pid, 'SIGKILL');
      } catch {
        // ended
      }
    }
    s.cleanup();
  });

  const started = (): Started[] => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Started) : []);
  const env = (todo: string) => ({ PATH: `${bin}${path.delimiter}${process.env.PATH}`, RECORDING_AGENT_LOG: log, RECORDING_AGENT_DO: todo });
  const custom = JSON.stringify([NODE, RECORDER, '${prompt}']);
  const runs = () => withStore(s, (store) => store.listRuns({ repo: s.repo }).filter((r) => r.priority === 'US-036'));
  const latest = () => runs().sort((a, b) => b.attempt - a.attempt)[0];
  const allEnded = () => until(() => runs().every((r) => !isActive(r.status)), 20_000, 50, 'US-036 ended');
  async function ok(args: string[], todo = '', flags: string[] = ['--agent-command', custom]) {
    const r = await cli(s, [...flags, ...args], env(todo));
    assert.equal(r.exitCode, 0, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    await allEnded();
    return latest();
  }

  it('reuses the worktree and branch (its commits still there), and the message reaches the agent', async () => {
    const first = await ok(['spawn', 'US-036'], 'commit:first.txt');
    assert.equal(first.status, 'succeeded');
    const worktreesBefore = git(s.repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).length;
    const second = await ok(['follow-up', 'US-036', 'Now add tests for the login form'], 'commit:second.txt');
    assert.equal(second.attempt, 2);
    assert.equal(second.status, 'succeeded');
    assert.equal(second.worktree, first.worktree, 'the same worktree');
    assert.equal(second.branch, first.branch, 'the same branch');
    assert.equal(git(s.repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).length, worktreesBefore, 'no worktree was added');
    assert.deepEqual(git(s.repo, 'log', '--format=%s', `main..${first.branch}`).split('\n'), ['agent: second.txt', 'agent: first.txt'], "the first run's commit is under the second's");
    const [a, b] = started();
    assert.equal(b.cwd, first.worktree);
    assert.equal(b.branch, first.branch);
    assert.equal(b.runId, second.id);
    assert.deepEqual(b.argv, ['Now add tests for the login form'], 'a custom agent starts fresh, the message as its ${prompt}');
    assert.match(a.argv[0], /^Implement US-036: Add login/);
    const event = withStore(s, (store) => store.events(second.id).find((e) => e.kind === 'follow-up'));
    assert.match(event!.detail!, new RegExp(`of run ${first.id} \\(#1\\) in .*us-036, a fresh start`));
    assert.equal(withStore(s, (store) => store.followUpOf(second.id))?.previousRunId, first.id);
  });

  it('claude: resumes the session it started with (--resume <id>, not a new --session-id), the message as the prompt', async () => {
    await ok(['spawn', 'US-036'], 'commit:a.txt', ['--agent', 'claude']);
    const [first] = started();
    assert.equal(first.name, 'claude');
    const session = first.argv[first.argv.indexOf('--session-id') + 1];
    assert.match(session, /^[0-9a-f-]{36}$/);
    await ok(['follow-up', 'US-036', 'The build fails: fix it'], '', ['--agent', 'claude']);
    await ok(['follow-up', 'US-036', 'And update the README'], '', ['--agent', 'claude']);
    const [, second, third] = started();
    for (const [again, message] of [[second, 'The build fails: fix it'], [third, 'And update the README']] as const) {
      assert.deepEqual(again.argv.slice(0, 2), ['-p', message]);
      assert.equal(again.argv[again.argv.indexOf('--resume') + 1], session, 'the same session, resumed');
      assert.ok(!again.argv.includes('--session-id'), JSON.stringify(again.argv));
      assert.ok(again.argv.includes('--permission-mode') && again.argv.includes('stream-json'), 'the rest of the preset is kept');
      assert.equal(again.cwd, fs.realpathSync(latest().worktree));
    }
  });

  it('codex: a fresh exec while its session is unknown; exec … resume -- <id> <message> once it is', async () => {
    await ok(['spawn', 'US-036'], '', ['--agent', 'codex']);
    const second = await ok(['follow-up', 'US-036', 'Continue'], '', ['--agent', 'codex']);
    const fresh = started()[1];
    assert.deepEqual(fresh.argv.slice(0, 2), ['exec', '--json']);
    assert.ok(!fresh.argv.includes('resume'), JSON.stringify(fresh.argv));
    assert.deepEqual(fresh.argv.slice(-2), ['--', 'Continue']);
    // Codex names its session itself (thread.started in its --json events); the id as the
    // event reader records it.
    withStore(s, (store) => store.recordSessionId(second.id, '0199a213-81c0-7800-8aa1-bbab2a035a53'));
    await ok(['follow-up', 'US-036', '--', '-n is not an option here'], '', ['--agent', 'codex']);
    const resumed = started()[2];
    const at = resumed.argv.indexOf('resume');
    assert.deepEqual(resumed.argv.slice(at), ['resume', '--', '0199a213-81c0-7800-8aa1-bbab2a035a53', '-n is not an option here']);
    assert.deepEqual(resumed.argv.slice(0, 4), ['exec', '--json', '--sandbox', 'workspace-write'], "exec's own options stay before resume");
    assert.ok(resumed.argv.slice(0, at).filter((x) => x === '--add-dir').length === 4);
  });

  it('refuses, changing nothing: while a run is active, with no run, no message, the worktree gone or on another branch', async () => {
    const r0 = await cli(s, ['follow-up', 'US-036', 'hello', '--agent-command', custom], env(''));
    assert.equal(r0.exitCode, 1);
    assert.match(r0.stderr, /No run matches "US-036"/);

    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', custom], env('sleep:30000'))).exitCode, 0);
    await until(() => latest().status === 'running');
    const busy = await cli(s, ['follow-up', 'US-036', 'hello', '--agent-command', custom], env(''));
    assert.equal(busy.exitCode, 3, busy.stderr);
    assert.match(busy.stderr, /US-036 already has an active run \(#1, running/);
    assert.equal((await cli(s, ['stop', 'US-036'])).exitCode, 0);
    await allEnded();

    const empty = await cli(s, ['follow-up', 'US-036', '  ', '--agent-command', custom], env(''));
    assert.equal(empty.exitCode, 1);
    assert.match(empty.stderr, /needs a message/);

    const wt = latest().worktree;
    git(wt, 'switch', '-q', '-c', 'elsewhere');
    const moved = await cli(s, ['follow-up', 'US-036', 'hello', '--agent-command', custom], env(''));
    assert.equal(moved.exitCode, 1);
    assert.match(moved.stderr, /has branch elsewhere checked out, not its branch code-developer\/us-036.*Nothing was changed/);
    git(wt, 'switch', '-q', 'code-developer/us-036');

    assert.equal((await cli(s, ['remove', 'US-036', '--force'])).exitCode, 0);
    const gone = await cli(s, ['follow-up', 'US-036', 'hello', '--agent-command', custom], env(''));
    assert.equal(gone.exitCode, 1);
    assert.match(gone.stderr, /The worktree of US-036 #1 \(.*us-036\) is gone.*New Attempt.*nothing was changed/);
    assert.equal(runs().length, 1, 'no run was recorded by any refusal');
    assert.equal(started().length, 1);
  });

  it("the previous run's worktree is the follow-up's while it runs: not removed under it, even with --force", async () => {
    const first = await ok(['spawn', 'US-036'], 'commit:first.txt');
    assert.equal((await cli(s, ['follow-up', 'US-036', 'more', '--agent-command', custom], env('sleep:30000'))).exitCode, 0);
    await until(() => latest().status === 'running');
    const remove = await cli(s, ['remove', first.id, '--force']);
    assert.equal(remove.exitCode, 1, remove.stdout);
    assert.match(remove.stderr, /is the worktree of US-036 #2 now \(running, a follow-up\)/);
    assert.ok(fs.existsSync(path.join(first.worktree, 'first.txt')));
    assert.equal((await cli(s, ['stop', 'US-036'])).exitCode, 0);
  });

  for (const step of ['after-claim', 'after-worktree-add', 'after-spawn']) {
    it(`a leader killed at ${step} of a follow-up: the next one resumes it in the same worktree, one agent, the lock its own`, async () => {
      const first = await ok(['spawn', 'US-036'], 'commit:first.txt');
      const crashed = await cli(s, ['follow-up', 'US-036', 'after the crash', '--agent-command', custom], { ...env('sleep:30000'), WTO_CRASH_AT: step });
      assert.notEqual(crashed.exitCode, 0, 'the orchestrator died at the step');
      const reconciled = await cli(s, ['reconcile'], env('sleep:30000'));
      assert.equal(reconciled.exitCode, 0, reconciled.stderr);
      await until(() => latest().status === 'running', 15_000, 50, 'the follow-up running');
      const run = latest();
      assert.equal(run.worktree, first.worktree);
      // 'running' once the agent's pid is known, which can be before its first line ran.
      await until(() => started().some((a) => a.runId === run.id), 15_000, 50, 'the agent recorded its start');
      await sleep(300);
      assert.equal(started().filter((a) => a.runId === run.id).length, 1, 'its agent started once');
      assert.deepEqual(started().at(-1)!.argv, ['after the crash']);
      const listed = git(s.repo, 'worktree', 'list', '--porcelain').split('\n\n').find((b) => b.includes(`worktree ${first.worktree}`))!;
      assert.match(listed, new RegExp(`locked worktree-orchestrator run ${run.id}`));
      assert.equal(withStore(s, (store) => store.getRun(first.id)!.worktreeLocked), false, 'the first run holds the lock no more');
      assert.equal((await cli(s, ['stop', 'US-036'])).exitCode, 0);
    });
  }

  it('a race of follow-ups and new attempts: exactly one active run; the rest are told it is already active', async () => {
    await ok(['spawn', 'US-036'], 'commit:first.txt');
    const racers = [
      ...[1, 2, 3].map((i) => ['follow-up', 'US-036', `follow-up ${i}`]),
      ...[1, 2, 3].map(() => ['spawn', 'US-036', '--new-attempt']),
    ];
    const results = await Promise.all(racers.map((args) => cli(s, [...args, '--agent-command', custom], env('sleep:30000'))));
    const winners = results.filter((r) => r.exitCode === 0);
    assert.equal(winners.length, 1, results.map((r) => `${r.exitCode}: ${r.stdout} ${r.stderr}`).join('\n'));
    for (const r of results.filter((x) => x.exitCode !== 0)) {
      assert.equal(r.exitCode, 3, r.stderr);
      assert.match(r.stderr, /US-036 already has an active run \(#2/);
    }
    const active = runs().filter((r) => isActive(r.status));
    assert.equal(active.length, 1);
    assert.equal(runs().length, 2, 'the losers recorded nothing');
    await until(() => started().length === 2, 15_000, 50, 'the winner started');
    assert.equal(started().filter((a) => a.runId === active[0].id).length, 1, 'one agent, the winner\'s');
    assert.equal((await cli(s, ['stop', 'US-036'])).exitCode, 0);
  });
});
