import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { agentCommand, cli, liveAgents, makeSandbox, Sandbox, startOrchestrator, traces, withStore } from '../support/sandbox';
import { sleep, until } from '../support/wait';
import { git } from '../support/git';

// The three failures of the system this replaces (its BUG-070), each as a test on real
// processes, a real git repository and a real SQLite file.
describe('BUG-070: duplicates, shared checkouts, several orchestrators', function () {
  this.timeout(120_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  const activeRows = (priority: string) => withStore(s, (store) => store.listRuns({ statuses: ['requested', 'provisioning', 'running', 'stopping'] }).filter((r) => r.priority === priority));

  it('#1: kill -9 and restart the orchestrator 5 times while US-036 runs: one live agent, one active row', async () => {
    let orch = startOrchestrator(s, ['--agent-command', agentCommand('sleep:600000')]);
    await orch.waitFor(/^leader/);
    const spawned = await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', agentCommand('sleep:600000')]);
    assert.equal(spawned.exitCode, 0, spawned.stderr);
    await until(() => liveAgents(s, 'US-036').length === 1);
    for (let i = 0; i < 5; i++) {
      await orch.kill('SIGKILL');
      orch = startOrchestrator(s, ['--agent-command', agentCommand('sleep:600000')]);
      await orch.waitFor(/^reconciled/);
      // Ask for it again, as the old system's loop did after every restart.
      const again = await cli(s, ['spawn', 'US-036', '--agent-command', agentCommand('sleep:600000')]);
      assert.equal(again.exitCode, 3, `restart ${i + 1}: ${again.stdout} ${again.stderr}`);
      assert.match(again.stderr, /already has an active run/);
      assert.equal(liveAgents(s, 'US-036').length, 1, `restart ${i + 1}: live agents`);
      const rows = activeRows('US-036');
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 'running');
    }
    assert.equal(traces(s).length, 1, 'the agent was started exactly once');
    await orch.kill('SIGTERM');
  });

  it('#2: sequential spawns of three priorities get three worktrees and branches; no agent runs in the main checkout', async () => {
    const cmd = agentCommand('write:work.txt', 'sleep:60000');
    for (const p of ['US-036', 'US-037', 'PRIORITY-20']) {
      const r = await cli(s, ['spawn', p, '--max-parallel', '3', '--agent-command', cmd]);
      assert.equal(r.exitCode, 0, r.stderr);
    }
    await until(() => traces(s).length === 3);
    const cwds = traces(s).map((t) => fs.realpathSync(t.cwd));
    assert.equal(new Set(cwds).size, 3, 'three distinct working directories');
    for (const cwd of cwds) {
      assert.notEqual(cwd, s.repo, 'never the main checkout');
      assert.equal(path.dirname(cwd), `${s.repo}.worktrees`, 'inside the worktree root');
    }
    const branches = git(s.repo, 'branch', '--format=%(refname:short)').split('\n').sort();
    assert.deepEqual(branches, ['code-developer/priority-20', 'code-developer/us-036', 'code-developer/us-037', 'main']);
    const worktrees = git(s.repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '));
    assert.equal(worktrees.length, 4);
    assert.ok(!fs.existsSync(path.join(s.repo, 'work.txt')), 'the main checkout is untouched');
  });

  it('#2b: maxParallel queues the rest instead of sharing a directory', async () => {
    const cmd = agentCommand('sleep:800');
    const orch = startOrchestrator(s, ['--max-parallel', '1']);
    await orch.waitFor(/^leader/);
    for (const p of ['US-036', 'US-037']) assert.equal((await cli(s, ['spawn', p, '--agent-command', cmd])).exitCode, 0);
    const store = Store.open(s.state);
    try {
      let maxConcurrent = 0;
      await until(() => {
        maxConcurrent = Math.max(maxConcurrent, liveAgents(s).length);
        const runs = store.listRuns();
        return runs.length === 2 && runs.every((r) => r.status === 'succeeded');
      }, 20_000, 20);
      assert.equal(maxConcurrent, 1);
      const [a, b] = traces(s);
      assert.notEqual(a.cwd, b.cwd);
    } finally {
      store.close();
      await orch.kill('SIGTERM');
    }
  });

  it('#3: three orchestrators on one state dir: one leader at every instant; kill -9 the leader: another leads within 2 s, higher epoch', async () => {
    const procs = [startOrchestrator(s), startOrchestrator(s), startOrchestrator(s)];
    await until(() => procs.some((p) => p.lines.some((l) => /^leader/.test(l.line))));
    await sleep(800);
    const killedAt: Array<number | undefined> = [undefined, undefined, undefined];
    // Belief of each process at time t: its last leader/standby line before t, unless killed.
    const leadsAt = (i: number, t: number) => {
      if (killedAt[i] !== undefined && killedAt[i]! <= t) return false;
      const last = procs[i].lines.filter((l) => l.at <= t && /^(leader|standby)/.test(l.line)).pop();
      return !!last && last.line.startsWith('leader');
    };
    const failovers: number[] = [];
    const epochs: number[] = [];
    for (let round = 0; round < 2; round++) {
      const now = Date.now();
      const leaderIdx = procs.findIndex((_, i) => leadsAt(i, now));
      assert.ok(leaderIdx >= 0, 'someone leads');
      epochs.push(Number(/epoch (\d+)/.exec(procs[leaderIdx].lines.filter((l) => /^leader/.test(l.line)).pop()!.line)![1]));
      const t0 = Date.now();
      killedAt[leaderIdx] = t0;
      await procs[leaderIdx].kill('SIGKILL');
      await until(() => procs.some((p, i) => i !== leaderIdx && p.lines.some((l) => l.at >= t0 && /^leader/.test(l.line))), 5000, 10);
      const next = procs.flatMap((p) => p.lines).filter((l) => l.at >= t0 && /^leader/.test(l.line)).sort((a, b) => a.at - b.at)[0];
      failovers.push(next.at - t0);
      epochs.push(Number(/epoch (\d+)/.exec(next.line)![1]));
      await sleep(500);
    }
    const start = Math.min(...procs.flatMap((p) => p.lines.map((l) => l.at)));
    for (let t = start; t < Date.now(); t += 10) {
      const leaders = procs.filter((_, i) => leadsAt(i, t)).length;
      assert.ok(leaders <= 1, `two leaders at ${t - start} ms`);
    }
    console.log(`      failover: ${failovers.map((f) => `${f} ms`).join(', ')}; epochs ${epochs.join(' -> ')}`);
    for (const f of failovers) assert.ok(f < 2000, `failover took ${f} ms`);
    for (let i = 1; i < epochs.length; i++) assert.ok(epochs[i] >= epochs[i - 1]);
    assert.ok(epochs[epochs.length - 1] > epochs[0]);
    for (const p of procs) await p.kill('SIGTERM');
  });

  it('#3b: a standby never spawns, kills or touches git: every side effect is recorded under the epoch of the leader that did it', async () => {
    const procs = [startOrchestrator(s), startOrchestrator(s)];
    await until(() => procs.some((p) => p.lines.some((l) => /^leader/.test(l.line))));
    const leader = procs.find((p) => p.lines.some((l) => /^leader/.test(l.line)))!;
    const standby = procs.find((p) => p !== leader)!;
    const cmd = agentCommand('sleep:60000');
    assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', cmd])).exitCode, 0);
    assert.equal((await cli(s, ['stop', 'US-036'])).exitCode, 0);
    const store = Store.open(s.state);
    try {
      const leaderPid = leader.child.pid!;
      const leaderEpoch = Number(/epoch (\d+)/.exec(leader.lines.find((l) => /^leader/.test(l.line))!.line)![1]);
      const sideEffects = store.events().filter((e) => e.epoch !== null && e.runId);
      assert.ok(sideEffects.length >= 4, 'provisioning, worktree, spawn, stopping were all fenced');
      const leadership = () => JSON.stringify(store.events().filter((e) => e.kind.startsWith('leader')).map((e) => `${e.kind} ${e.epoch} ${e.detail}`));
      for (const e of sideEffects) assert.equal(e.epoch, leaderEpoch, `${e.kind} ${e.detail}; leader pid ${leaderPid}, standby pid ${standby.child.pid}; ${leadership()}`);
      const acquired = store.events().filter((e) => e.kind === 'leader-acquired');
      assert.ok(acquired.every((e) => e.detail!.startsWith(`pid ${leaderPid}`)), 'the standby never became leader');
      assert.ok(!standby.lines.some((l) => /^leader/.test(l.line)));
    } finally {
      store.close();
      for (const p of procs) await p.kill('SIGTERM');
    }
  });

  it('#4: five processes race `spawn US-036`: one run, four clear "already active" answers', async () => {
    const cmd = agentCommand('sleep:60000');
    const results = await Promise.all(Array.from({ length: 5 }, () => cli(s, ['spawn', 'US-036', '--agent-command', cmd])));
    const won = results.filter((r) => r.exitCode === 0);
    const refused = results.filter((r) => r.exitCode === 3);
    assert.equal(won.length, 1, results.map((r) => r.stderr).join('\n'));
    assert.equal(refused.length, 4, results.map((r) => `${r.exitCode}: ${r.stdout} ${r.stderr}`).join("\n"));
    for (const r of refused) assert.match(r.stderr, /US-036 already has an active run/);
    await until(() => traces(s).length >= 1);
    await sleep(500);
    assert.equal(traces(s).length, 1);
    assert.equal(activeRows('US-036').length, 1);
  });
});
