import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { cli, makeSandbox, NODE, ROOT, Sandbox } from '../support/sandbox';
import { alive, carriersOf, recordedPids } from '../support/procScan';
import { killAgents, launch, Proc, record, report, rngFor, roadmapOf, scaled, withStore } from './lib';
import { waitUntil } from '../support/wait';

// Scenario 8: agents that leave processes behind — a background child deaf to SIGTERM, a
// grandchild that calls setsid (its own session and group, reparented to init), and its
// child with an empty environment — ended in random ways: the agent exits 0 on its own,
// it is stopped once it has forked everything, it is stopped while it is still forking,
// or its supervisor is killed -9 first and then it is stopped. Whatever the way, once the
// run has ended no process of it may be left (counted by the pids they wrote and by
// WTO_RUN_ID in /proc/*/environ).
const ESCAPING_AGENT = path.join(ROOT, 'test', 'fixtures', 'escapingAgent.mjs');
const WAYS = ['exits 0', 'stopped', 'stopped while forking', 'supervisor killed -9, then stopped'] as const;

describe('chaos 8: processes an agent leaves behind end with its run', function () {
  this.timeout(300_000);
  let s: Sandbox;
  let leader: Proc | undefined;
  const rounds: Array<{ way: (typeof WAYS)[number]; left: number; status: string }> = [];

  before(function () {
    if (process.platform !== 'linux') this.skip(); // the scan reads /proc
  });
  after(async () => {
    await leader?.kill('SIGTERM');
    for (const r of rounds) for (const p of recordedPids(pidsFile(rounds.indexOf(r)))) kill(p.pid);
    if (s) {
      killAgents(s);
      s.cleanup();
    }
    const left = rounds.reduce((n, r) => n + r.left, 0);
    record({
      scenario: '8. escaped processes (setsid grandchild, SIGTERM-deaf background child, env-less child; exit 0 / stop / stop mid-fork / supervisor kill -9)',
      runs: rounds.length,
      faults: WAYS.map((w) => `${rounds.filter((r) => r.way === w).length} ${w}`).join(', '),
      duplicates: 0,
      orphans: left,
      lostCommits: '-',
      maxLeaderlessMs: null,
      breaks: `${left} processes left after stop/exit`,
      notes: left ? `left: ${rounds.filter((r) => r.left).map((r) => `${r.left} after "${r.way}"`).join(', ')}` : 'every process of every run ended with it',
      ok: left === 0 && rounds.length > 0,
    });
  });
  const pidsFile = (i: number) => path.join(s.dir, `pids-${i}.jsonl`);
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  };

  it('no process of a run outlives it, whichever way it ends', async () => {
    const rng = rngFor('escaped-processes');
    const n = scaled(8, 4);
    const ids = Array.from({ length: n }, (_, i) => `US-${801 + i}`);
    s = makeSandbox(roadmapOf(ids));
    leader = launch(s, ['--stop-grace-seconds', '2', '--max-parallel', '2']);
    assert.ok(await leader.waitFor(/^leader/), 'the orchestrator leads');
    // Every way at least once, then at random.
    const ways = rng.shuffle([...WAYS, ...Array.from({ length: Math.max(0, n - WAYS.length) }, () => rng.pick(WAYS))]);
    for (const [i, way] of ways.entries()) {
      const file = pidsFile(i);
      const agent = JSON.stringify([NODE, ESCAPING_AGENT, file, way === 'exits 0' ? 'exit' : 'wait']);
      const spawned = await cli(s, ['spawn', ids[i], '--agent-command', agent]);
      assert.equal(spawned.exitCode, 0, `${ids[i]} ${way}: spawn ${JSON.stringify(spawned)}`);
      const run = () => withStore(s, (st) => st.listRuns().find((r) => r.priority === ids[i])!);
      assert.ok(await waitUntil(() => ['running', 'succeeded'].includes(run().status), 20_000), `${ids[i]} started: ${run().status}`);
      if (way === 'stopped while forking') {
        await new Promise((r) => setTimeout(r, rng.int(0, 150)));
      } else {
        await waitUntil(() => recordedPids(file).length === 4, 10_000);
      }
      if (way === 'supervisor killed -9, then stopped') kill(run().supervisorPid!);
      if (way !== 'exits 0') {
        const stopped = await cli(s, ['stop', ids[i]]);
        assert.equal(stopped.exitCode, 0, `${ids[i]} ${way}: stop ${JSON.stringify(stopped)}`);
      }
      await waitUntil(() => !['requested', 'provisioning', 'running', 'stopping'].includes(run().status), 20_000);
      // Ended: give the last signals a moment to land, then count.
      await waitUntil(() => recordedPids(file).every((p) => !alive(p.pid)) && !carriersOf(run().id).length, 3000);
      const left = new Set([...recordedPids(file).filter((p) => alive(p.pid)).map((p) => p.pid), ...carriersOf(run().id)]);
      rounds.push({ way, left: left.size, status: run().status });
      report(`${ids[i]} ${way}: ${run().status}, ${recordedPids(file).length} processes started, ${left.size} left${left.size ? ` (${[...left].join(', ')})` : ''}`);
    }
    assert.deepEqual(rounds.filter((r) => r.left), [], 'no process was left after its run ended');
  });
});
