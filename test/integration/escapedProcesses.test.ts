import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, cli, makeSandbox, NODE, ROOT, Sandbox, withStore } from '../support/sandbox';
import { stopGroup } from '../../src/core/agent/agents';
import { currentIdentity, endProcesses } from '../../src/core/agent/processInfo';
import { FencedError } from '../../src/core/db/store';
import { alive, carriersOf, recordedPids } from '../support/procScan';
import { until } from '../support/wait';

// Issue 12 #2-#4: processes an agent leaves behind end with its run; a worktree a live process
// still uses is not removed; a state dir whose path is not ASCII still finds its processes.
const ESCAPING_AGENT = path.join(ROOT, 'test', 'fixtures', 'escapingAgent.mjs');
const linux = process.platform === 'linux';

describe('processes an agent leaves behind (issue 12 #2)', function () {
  this.timeout(60_000);
  let s: Sandbox;
  let pidsFile: string;
  beforeEach(function () {
    if (!linux) this.skip(); // the scan reads /proc
    s = makeSandbox();
    pidsFile = path.join(s.dir, 'pids.jsonl');
  });
  afterEach(() => {
    for (const p of recordedPids(pidsFile)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    s?.cleanup();
  });
  const escaping = (mode: 'exit' | 'wait') => JSON.stringify([NODE, ESCAPING_AGENT, pidsFile, mode]);
  const theRun = () => withStore(s, (store) => store.listRuns()[0]);

  it('an agent that exits 0: the supervisor ends its setsid grandchild and background child before the run ends', async () => {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', escaping('exit')]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => recordedPids(pidsFile).length === 4);
    await until(() => theRun().status === 'succeeded', 20_000);
    const run = theRun();
    const left = recordedPids(pidsFile).filter((p) => alive(p.pid));
    assert.deepEqual(left, [], 'no process the agent started outlives its run');
    await until(() => !carriersOf(run.id).length, 3000).catch(() => undefined); // the supervisor itself exits right after recording
    assert.deepEqual(carriersOf(run.id), [], 'no process carries the run id');
    const exit = JSON.parse(fs.readFileSync(path.join(s.state, 'runs', run.id, 'exit.json'), 'utf8'));
    assert.equal(exit.code, 0);
    assert.deepEqual(exit.leftovers ?? [], []);
    // In its pseudo-terminal (issue 16) the background child, in the agent's foreground group,
    // gets the terminal's SIGHUP when the agent exits; the supervisor ends the other two.
    assert.match(fs.readFileSync(run.logPath, 'utf8'), /ended 2 processes the agent left behind/);
  });

  it('stop of a live run ends the setsid grandchild and the env-less child too', async () => {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', escaping('wait')]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => recordedPids(pidsFile).length === 4);
    const stopped = await cli(s, ['--stop-grace-seconds', '3', 'stop', 'US-036']);
    assert.equal(stopped.exitCode, 0, stopped.stderr);
    assert.ok(['stopped', 'succeeded'].includes(theRun().status), theRun().status);
    await until(() => recordedPids(pidsFile).every((p) => !alive(p.pid)), 5_000).catch(() => undefined);
    assert.deepEqual(recordedPids(pidsFile).filter((p) => alive(p.pid)), []);
    assert.deepEqual(carriersOf(theRun().id), []);
  });

  it('stop ends the stragglers itself when the supervisor is gone (killed -9)', async () => {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', escaping('wait')]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => recordedPids(pidsFile).length === 4);
    process.kill(theRun().supervisorPid!, 'SIGKILL');
    const stopped = await cli(s, ['--stop-grace-seconds', '1', 'stop', 'US-036']);
    assert.equal(stopped.exitCode, 0, stopped.stderr);
    assert.equal(isActiveStatus(theRun().status), false, theRun().status);
    assert.deepEqual(recordedPids(pidsFile).filter((p) => alive(p.pid)), [], 'stop ended every process of the run');
    assert.deepEqual(carriersOf(theRun().id), []);
  });

  it('supervisor and agent both killed -9: the leader that records the run lost ends what they left behind', async () => {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', escaping('wait')]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => recordedPids(pidsFile).length === 4);
    process.kill(theRun().supervisorPid!, 'SIGKILL');
    process.kill(recordedPids(pidsFile).find((p) => p.who === 'agent')!.pid, 'SIGKILL');
    const reconciled = await cli(s, ['reconcile']);
    assert.equal(reconciled.exitCode, 0, reconciled.stderr);
    assert.equal(theRun().status, 'lost');
    await until(() => recordedPids(pidsFile).every((p) => !alive(p.pid)), 8_000).catch(() => undefined);
    assert.deepEqual(recordedPids(pidsFile).filter((p) => alive(p.pid)), [], 'the leftovers ended with the run');
    assert.deepEqual(carriersOf(theRun().id), []);
    assert.match(reconciled.stderr, /ended 2 processes? (that )?the run left behind|ended \d+ process/);
  });
});

const isActiveStatus = (status: string) => ['requested', 'provisioning', 'running', 'stopping'].includes(status);

describe('orphan processes under a state dir whose path is not ASCII (issue 12 #4)', function () {
  this.timeout(60_000);
  let s: Sandbox;
  const children: number[] = [];
  beforeEach(function () {
    if (!linux) this.skip();
    s = makeSandbox();
    s.state = path.join(s.dir, 'état-状態');
  });
  afterEach(() => {
    for (const pid of children.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    s?.cleanup();
  });

  it('reconcile reports a live process of a run that is not active', async () => {
    assert.equal((await cli(s, ['status'])).exitCode, 0); // creates the database
    const orphan = spawn(NODE, ['-e', 'setInterval(() => {}, 1 << 30)'], {
      stdio: 'ignore',
      env: { ...process.env, WTO_RUN_ID: 'r-gone-long-ago', WTO_STATE_DIR: s.state },
    });
    children.push(orphan.pid!);
    await until(() => carriersOf('r-gone-long-ago').includes(orphan.pid!));
    const r = await cli(s, ['reconcile']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).orphanProcesses, [{ pid: orphan.pid, runId: 'r-gone-long-ago' }]);
  });
});

describe('remove and gc of a worktree a live process still uses (issue 12 #3)', function () {
  this.timeout(60_000);
  let s: Sandbox;
  const children: number[] = [];
  beforeEach(function () {
    if (!linux) this.skip();
    s = makeSandbox();
  });
  afterEach(() => {
    for (const pid of children.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    s?.cleanup();
  });
  async function endedRun(priority = 'US-036') {
    const r = await cli(s, ['spawn', priority, '--agent-command', agentCommand()]);
    assert.equal(r.exitCode, 0, r.stderr);
    const mine = () => withStore(s, (store) => store.listRuns().find((x) => x.priority === priority)!);
    await until(() => mine().status === 'succeeded');
    return mine();
  }
  const startIn = (cwd: string, env: Record<string, string> = {}) => {
    const child = spawn(NODE, ['-e', 'setInterval(() => {}, 1 << 30)'], { cwd, stdio: 'ignore', env: { ...process.env, ...env } });
    children.push(child.pid!);
    return child.pid!;
  };

  it('remove refuses, naming the pid of a process working in the worktree; --force removes it', async () => {
    const run = await endedRun();
    const pid = startIn(path.join(run.worktree, 'docs'));
    const refused = await cli(s, ['remove', 'US-036']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, new RegExp(`in use by process ${pid}\\b`));
    assert.ok(fs.existsSync(run.worktree), 'nothing was removed');
    const forced = await cli(s, ['remove', 'US-036', '--force']);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.ok(!fs.existsSync(run.worktree));
  });

  it('remove refuses while a process elsewhere carries the run id', async () => {
    const run = await endedRun();
    const pid = startIn(s.dir, { WTO_RUN_ID: run.id, WTO_STATE_DIR: s.state });
    const refused = await cli(s, ['remove', 'US-036']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, new RegExp(`in use by process ${pid}\\b`));
    assert.ok(fs.existsSync(run.worktree));
  });

  it('gc keeps a worktree in use, says why, and goes on with the others', async () => {
    const run = await endedRun();
    const other = await endedRun('US-037');
    const pid = startIn(run.worktree);
    const r = await cli(s, ['gc']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`kept +${run.worktree.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +\\(in use by process ${pid}\\b`));
    assert.ok(fs.existsSync(run.worktree));
    assert.match(r.stdout, new RegExp(`removed +${other.worktree.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.ok(!fs.existsSync(other.worktree));
  });
});

describe('ending a run\'s processes: what cannot be ended, and a deposed leader', function () {
  this.timeout(30_000);
  const started: number[] = [];
  before(function () {
    if (!linux) this.skip();
  });
  afterEach(() => {
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  const straggler = (env: Record<string, string>) => {
    const child = spawn(NODE, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore', detached: true, env: { ...process.env, ...env } });
    child.unref();
    started.push(child.pid!);
    return child.pid!;
  };

  it('endProcesses returns the processes a signal could not reach (EPERM), and ends the others', async () => {
    const a = straggler({});
    const b = straggler({});
    await until(() => currentIdentity(a).start !== null && currentIdentity(b).start !== null);
    const sent: string[] = [];
    const left = await endProcesses(() => [currentIdentity(a), currentIdentity(b)].filter((p) => p.start !== null && alive(p.pid)), 300, (p, sig) => {
      sent.push(`${sig} ${p.pid}`);
      if (p.pid === b) throw Object.assign(new Error('not permitted'), { code: 'EPERM' });
      process.kill(p.pid, sig);
    });
    assert.deepEqual(left.map((p) => p.pid), [b], 'b is reported, not silently dropped');
    assert.equal(alive(a), false);
    assert.ok(sent.includes(`SIGTERM ${a}`) && sent.includes(`SIGKILL ${b}`), sent.join(', '));
  });

  it('stopGroup sends nothing to the stragglers once the leader is deposed (each signal through acts)', async () => {
    const state = path.join(ROOT, 'no-such-state-dir-for-this-test');
    const pid = straggler({ WTO_RUN_ID: 'r-deposed', WTO_STATE_DIR: state });
    await until(() => carriersOf('r-deposed').includes(pid));
    const asked: string[] = [];
    const deposed = {
      act<T>(what: string): T {
        asked.push(what);
        throw new FencedError(7);
      },
    };
    // The group is long gone (pids that do not exist): only the straggler is left.
    await assert.rejects(stopGroup({ pid: 2 ** 22 + 11, start: null, supervisorPid: 2 ** 22 + 12 }, 200, deposed, { stateDir: state, runId: 'r-deposed' }), FencedError);
    assert.deepEqual(asked, [`SIGTERM to pid ${pid}, left behind by run r-deposed`]);
    assert.equal(alive(pid), true, 'the deposed leader sent nothing');
  });
});
