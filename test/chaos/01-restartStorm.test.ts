import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { makeSandbox, Sandbox } from '../support/sandbox';
import { AgentSampler, agentTraces, chaosAgent, extraStartsPerRun, finalReconcile, killAgents, launch, ledger, lostCommits, ms, overlappingClaims, pct, Proc, record, report, rngFor, roadmapOf, scaled, selfCrashed } from './lib';
import { waitUntil } from '../support/wait';
import { isActive } from '../../src/core/model/runStatus';
import { Run } from '../../src/core/model/run';

// Scenario 1: the continuous loop runs agents that commit, while the only orchestrator is
// killed -9 and restarted again and again at random moments — right after it becomes
// leader (mid-reconcile), while it provisions, while agents run. Some kills take its whole
// process group (its git children die half-way), and some restarts carry a WTO_CRASH_AT
// step so the process also dies exactly inside a provisioning step.
const SPAWN_STEPS = ['after-claim', 'after-worktree-add', 'after-spawn', 'before-status-update'];
const MAX_RETRIES = 3;

describe('chaos 1: restart storm', function () {
  const restarts = scaled(50);
  this.timeout(180_000 + restarts * 8_000);
  let s: Sandbox;
  let store: Store;
  const procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs) await p.kill('SIGKILL');
    store?.close();
    killAgents(s);
    s.cleanup();
  });

  it(`kill -9 and restart the leader ${restarts} times with the loop on: never two live agents per priority, no orphans, no lost commit`, async () => {
    const rng = rngFor('restart storm');
    let next = 101;
    const ids: string[] = [];
    const addPriorities = (n: number) => {
      for (let i = 0; i < n; i++) ids.push(`US-${next++}`);
    };
    addPriorities(6);
    s = makeSandbox(roadmapOf(ids));
    store = Store.open(s.state);
    const roadmapFile = path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md');
    const writeRoadmap = () => {
      fs.writeFileSync(`${roadmapFile}.tmp`, roadmapOf(ids));
      fs.renameSync(`${roadmapFile}.tmp`, roadmapFile);
    };
    const agent = chaosAgent('sleep:50-600', 'commit:a', 'sleep:300-2500', 'commit:b', 'sleep:100-1200', 'exit:0');
    const args = ['--loop', '--agent-command', JSON.stringify(agent), '--max-parallel', '2', '--max-retries', String(MAX_RETRIES), '--retry-delay-ms', '200'];
    const sampler = new AgentSampler(s).start(50);
    const leaderless: number[] = [];
    const moments: Record<string, number> = {};
    const crashPointsFired: string[] = [];
    let kills = 0;
    let groupKills = 0;
    let provisioningHits = 0;
    const t0 = Date.now();

    // Keeps a backlog of planned priorities nobody has started, as a roadmap edit would.
    const feed = () => {
      const started = new Set(store.listRuns().map((r) => r.priority));
      if (ids.filter((id) => !started.has(id)).length < 2) {
        addPriorities(2);
        writeRoadmap();
      }
    };

    let lastDeath = Date.now();
    for (let i = 0; i < restarts; i++) {
      const crashAt = rng.chance(0.3) ? rng.pick(SPAWN_STEPS) : undefined;
      const p = launch(s, args, crashAt ? { WTO_CRASH_AT: crashAt } : {}, { group: true });
      procs.push(p);
      const led = await p.waitFor(/^leader/, 30_000);
      assert.ok(led, `restart ${i + 1}: no leader line (${p.stderr.join('').slice(-500)})`);
      leaderless.push(led.at - lastDeath);
      const moment = rng.pick(['reconciling', 'early', 'running', 'late', 'provisioning'] as const);
      moments[moment] = (moments[moment] ?? 0) + 1;
      if (moment === 'reconciling') await waitUntil(() => !!p.exit, rng.int(0, 60), 5);
      else if (moment === 'early') await waitUntil(() => !!p.exit, rng.int(60, 400), 10);
      else if (moment === 'running') await waitUntil(() => !!p.exit, rng.int(400, 1500), 20);
      else if (moment === 'late') await waitUntil(() => !!p.exit, rng.int(1500, 3000), 20);
      else {
        // Kill while a run is being provisioned (worktree add, setup, supervisor launch).
        const hit = await waitUntil(() => !!p.exit || store.listRuns({ statuses: ['provisioning'] }).length > 0, 4000, 5);
        if (hit && !p.exit) {
          provisioningHits++;
          await waitUntil(() => !!p.exit, rng.int(0, 120), 5);
        }
      }
      if (!p.exit) {
        // Sometimes the whole process group, so that a git command dies half-way too.
        if (rng.chance(0.4)) {
          groupKills++;
          await p.killGroup();
        } else {
          kills++;
          await p.kill('SIGKILL');
        }
      } else if (selfCrashed(p)) crashPointsFired.push(crashAt!);
      lastDeath = p.killedAt ?? p.exit!.at;
      sampler.check();
      feed();
    }
    const stormMs = Date.now() - t0;

    // The last leader is left alone to finish what the loop started.
    const final = launch(s, args);
    procs.push(final);
    const led = await final.waitFor(/^leader/, 30_000);
    assert.ok(led, 'the final orchestrator leads');
    leaderless.push(led.at - lastDeath);
    const settled = (runs: Run[]) =>
      !runs.some((r) => isActive(r.status)) &&
      ids.every((id) => {
        const mine = runs.filter((r) => r.priority === id);
        const last = mine[mine.length - 1];
        return last && (last.status === 'succeeded' || last.status === 'stopped' || mine.filter((r) => r.status === 'failed' || r.status === 'lost').length > MAX_RETRIES);
      });
    const done = await waitUntil(() => settled(store.listRuns()), 120_000, 250);
    await final.kill('SIGTERM');
    sampler.stop();
    const rec = await finalReconcile(s);

    const runs = store.listRuns();
    const overlaps = overlappingClaims(store);
    const traces = agentTraces(s);
    const worktreeRoot = `${s.repo}.worktrees`;
    const misplaced = traces.filter((t) => path.dirname(fs.realpathSync(t.cwd)) !== worktreeRoot).length;
    const cwdByRun = new Map<string, string>();
    for (const t of traces) cwdByRun.set(t.runId, t.cwd);
    const sharedDirs = cwdByRun.size - new Set(cwdByRun.values()).size;
    const lost = lostCommits(s);
    const extraStarts = extraStartsPerRun(s);
    const stillAlive = sampler.violations.length;
    const orphans = rec.orphanProcesses.length + rec.orphanWorktrees.length;
    const count = (status: string) => runs.filter((r) => r.status === status).length;
    const row = record({
      scenario: '1. restart storm (loop on, kill -9 + restart)',
      runs: runs.length,
      faults: `${kills + groupKills + crashPointsFired.length} (${kills} kill -9, ${groupKills} group kill -9, ${crashPointsFired.length} crash points)`,
      duplicates: stillAlive + extraStarts + overlaps,
      orphans,
      lostCommits: `${lost.length} of ${ledger(s).length}`,
      maxLeaderlessMs: Math.max(...leaderless),
      notes: `${restarts} restarts in ${(stormMs / 1000).toFixed(0)} s; ${provisioningHits} kills mid-provisioning; runs ${count('succeeded')} succeeded, ${count('failed')} failed, ${count('lost')} lost`,
    });
    report(`restarts ${restarts} in ${ms(stormMs)}; kills ${kills}, group kills ${groupKills}; crash points fired ${crashPointsFired.length} (${[...new Set(crashPointsFired)].join(', ') || 'none'}); kill moments ${JSON.stringify(moments)}; ${provisioningHits} mid-provisioning`);
    report(`restart -> leader: median ${ms(pct(leaderless, 50))}, p95 ${ms(pct(leaderless, 95))}, max ${ms(Math.max(...leaderless))}`);
    report(`runs ${runs.length} (${count('succeeded')} succeeded, ${count('failed')} failed, ${count('lost')} lost, ${count('stopped')} stopped) over ${ids.length} priorities; agent starts ${traces.length}; commits ${ledger(s).length}`);
    report(`live-agent samples ${sampler.samples}, max live per priority ${sampler.maxPerPriority}; overlapping claims ${overlaps}; extra starts per run ${extraStarts}`);
    report(`final reconcile: ${JSON.stringify({ orphanWorktrees: rec.orphanWorktrees, orphanProcesses: rec.orphanProcesses })}`);
    for (const r of runs.filter((x) => x.status !== 'succeeded')) report(`  ${r.priority} #${r.attempt} ${r.status}: ${r.error ?? ''}`);

    assert.deepEqual(sampler.violations, [], 'never two live agents of one priority');
    assert.equal(extraStarts, 0, 'no run started its agent twice');
    assert.equal(overlaps, 0, 'never two active runs of one priority in the event log');
    assert.equal(misplaced, 0, 'every agent ran in a worktree under the root');
    assert.equal(sharedDirs, 0, 'no two runs shared a worktree');
    assert.deepEqual(rec.orphanProcesses, []);
    assert.deepEqual(rec.orphanWorktrees, []);
    assert.deepEqual(lost, [], 'every commit an agent made is still reachable');
    assert.ok(ledger(s).length > 0, 'agents made commits');
    assert.ok(done, `the loop settled after the storm: ${runs.filter((r) => isActive(r.status)).map((r) => `${r.priority} ${r.status}`).join(', ')}`);
    assert.equal(count('lost'), 0, 'no run lost: agents outlive every orchestrator');
    row.ok = true;
  });
});
