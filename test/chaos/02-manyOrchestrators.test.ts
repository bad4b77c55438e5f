import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { LeaderLease } from '../../src/core/leader/leaderLease';
import { Orchestrator } from '../../src/core/leader/orchestrator';
import { requestSpawn } from '../../src/core/requests';
import { cli, CLI, makeSandbox, NODE, Sandbox } from '../support/sandbox';
import { AgentSampler, chaosAgent, epochOf, extraStartsPerRun, fencingViolations, finalReconcile, killAgents, launch, ledger, lostCommits, ms, overlappingClaims, pct, Proc, record, report, rngFor, roadmapOf, scaled } from './lib';
import { sleep, waitUntil } from '../support/wait';
import { isActive } from '../../src/core/model/runStatus';

// Scenario 2: five orchestrators on one state dir. Every few seconds the leader is killed
// -9 and a fresh process joins, so there are always five. Leadership is sampled from what
// each process says (every 'leader' / 'standby' line, timed on arrival), and fencing is
// checked in the event log: no event of an epoch after the next epoch took over.
describe('chaos 2: many orchestrators, the leader killed every few seconds', function () {
  const seconds = scaled(60, 5);
  this.timeout((seconds + 180) * 1000);
  let s: Sandbox;
  let store: Store;
  const procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs) await p.kill('SIGKILL');
    store?.close();
    killAgents(s);
    s.cleanup();
  });

  it(`5 orchestrators for ${seconds} s, leader killed every 1.5-4 s: one leader at every instant, epochs increase, no fenced-off side effect`, async () => {
    const rng = rngFor('many orchestrators');
    let next = 201;
    const ids: string[] = [];
    const add = (n: number) => {
      for (let i = 0; i < n; i++) ids.push(`US-${next++}`);
    };
    add(6);
    s = makeSandbox(roadmapOf(ids));
    store = Store.open(s.state);
    const roadmapFile = path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md');
    const agent = chaosAgent('sleep:50-400', 'commit:a', 'sleep:500-2500', 'exit:0');
    const args = ['--loop', '--agent-command', JSON.stringify(agent), '--max-parallel', '2', '--max-retries', '3', '--retry-delay-ms', '200'];
    const sampler = new AgentSampler(s).start(50);

    for (let i = 0; i < 5; i++) procs.push(launch(s, args));
    const firstLeader = await waitUntil(() => procs.some((p) => p.lines.some((l) => l.line.startsWith('leader'))), 30_000, 10);
    assert.ok(firstLeader, 'one of five leads');
    const begin = Date.now();
    const failovers: number[] = [];
    let kills = 0;
    let noLeaderToKill = 0;
    while (Date.now() - begin < seconds * 1000) {
      await sleep(rng.int(1500, 4000));
      const now = Date.now();
      const leader = procs.find((p) => p.leadsAt(now));
      // Keep planned work ahead of the loop, as a roadmap edit would.
      const started = new Set(store.listRuns().map((r) => r.priority));
      if (ids.filter((id) => !started.has(id)).length < 2) {
        add(2);
        fs.writeFileSync(`${roadmapFile}.tmp`, roadmapOf(ids));
        fs.renameSync(`${roadmapFile}.tmp`, roadmapFile);
      }
      if (!leader) {
        noLeaderToKill++;
        continue;
      }
      const t0 = Date.now();
      await leader.kill('SIGKILL');
      kills++;
      procs.push(launch(s, args));
      const took = await waitUntil(() => procs.some((p) => p !== leader && p.lines.some((l) => l.at >= t0 && l.line.startsWith('leader'))), 15_000, 5);
      if (took) failovers.push(Math.min(...procs.flatMap((p) => p.lines.filter((l) => l.at >= t0 && l.line.startsWith('leader')).map((l) => l.at))) - t0);
      sampler.check();
    }
    const end = Date.now();

    // Let the survivors finish the loop's work, then stop them cleanly.
    await waitUntil(() => !store.listRuns().some((r) => isActive(r.status)), 60_000, 250);
    for (const p of procs) await p.kill('SIGTERM');
    sampler.stop();
    const rec = await finalReconcile(s);

    // Leadership as the processes saw it, on a 5 ms grid from the first leader line to the end.
    const firstAt = Math.min(...procs.flatMap((p) => p.lines.filter((l) => l.line.startsWith('leader')).map((l) => l.at)));
    let twoLeaderInstants = 0;
    let gridPoints = 0;
    let leaderless = 0;
    let longestLeaderless = 0;
    let gapStart: number | undefined;
    for (let t = firstAt; t <= end; t += 5) {
      gridPoints++;
      const n = procs.filter((p) => p.leadsAt(t)).length;
      if (n > 1) twoLeaderInstants++;
      if (n === 0) {
        leaderless++;
        gapStart ??= t;
        longestLeaderless = Math.max(longestLeaderless, t - gapStart);
      } else gapStart = undefined;
    }
    // Epochs each new leader announced, in the order they announced them.
    const announced = procs
      .flatMap((p) => p.lines.filter((l) => l.line.startsWith('leader')).map((l) => ({ at: l.at, epoch: epochOf(l.line), pid: p.pid })))
      .sort((a, b) => a.at - b.at);
    const notIncreasing = announced.filter((a, i) => i > 0 && !(a.epoch > announced[i - 1].epoch)).length;
    const fencing = fencingViolations(store.events());
    const sideEffects = store.events().filter((e) => e.epoch !== null && e.runId).length;
    const runs = store.listRuns();
    const overlaps = overlappingClaims(store);
    const extraStarts = extraStartsPerRun(s);
    const lost = lostCommits(s);
    const row = record({
      scenario: '2. five orchestrators, leader kill -9 every 1.5-4 s',
      runs: runs.length,
      faults: `${kills} kill -9`,
      duplicates: sampler.violations.length + extraStarts + overlaps,
      orphans: rec.orphanProcesses.length + rec.orphanWorktrees.length,
      lostCommits: `${lost.length} of ${ledger(s).length}`,
      maxLeaderlessMs: longestLeaderless,
      notes: `${seconds} s; two-leader instants ${twoLeaderInstants} of ${gridPoints} (5 ms grid); failover median ${ms(pct(failovers, 50))}, max ${ms(Math.max(...failovers))}; ${announced.length} epochs, ${notIncreasing} not increasing; fenced-off side effects ${fencing.violations.length} of ${sideEffects}`,
    });
    report(`${seconds} s, ${kills} leader kills (${noLeaderToKill} times nobody led at the chosen moment), ${procs.length} processes in all`);
    report(`leadership on a 5 ms grid: ${gridPoints} instants, two leaders at ${twoLeaderInstants}, none at ${leaderless} (${ms(leaderless * 5)} in all), longest gap ${ms(longestLeaderless)}`);
    report(`failover kill -> next 'leader' line: median ${ms(pct(failovers, 50))}, p95 ${ms(pct(failovers, 95))}, max ${ms(Math.max(...failovers))} (${failovers.length} of ${kills})`);
    report(`epochs announced ${announced.map((a) => a.epoch).join(' ')}; leader events in the log ${fencing.epochs.length}`);
    report(`events stamped with an epoch: ${sideEffects} run side effects; written outside their epoch: ${fencing.violations.length} ${JSON.stringify(fencing.violations.slice(0, 3))}`);
    report(`runs ${runs.length}; agent starts ${extraStarts} extra; overlapping claims ${overlaps}; max live agents per priority ${sampler.maxPerPriority}; commits ${ledger(s).length}, lost ${lost.length}`);

    assert.equal(twoLeaderInstants, 0, 'never two leaders at once');
    assert.equal(notIncreasing, 0, `epochs strictly increase: ${announced.map((a) => a.epoch).join(' ')}`);
    assert.deepEqual(fencing.violations, [], 'no side effect recorded under an epoch that was no longer current');
    assert.deepEqual(sampler.violations, [], 'never two live agents of one priority');
    assert.equal(extraStarts, 0);
    assert.equal(overlaps, 0);
    assert.deepEqual(rec.orphanProcesses, []);
    assert.deepEqual(rec.orphanWorktrees, []);
    assert.deepEqual(lost, []);
    assert.ok(kills >= Math.floor(seconds / 4) - 1, `the leader was killed ${kills} times`);
    assert.equal(failovers.length, kills, 'a standby took over after every kill');
    // Design: a standby takes over within 2 s. On a loaded 2-core machine the figure is
    // reported above; only a failover that needed the 10 s lease expiry fails here.
    assert.ok(Math.max(...failovers) < 8000, `failover took ${Math.max(...failovers)} ms`);
    assert.ok(sideEffects > 0, 'leaders did act during the storm');
    row.ok = true;
  });

  // A leader that is not dead but frozen (SIGSTOP: a suspended laptop, a debugger, a swapped
  // out process) keeps believing it leads. Once its lease expires a standby takes over; when
  // the old one wakes up in the middle of provisioning, fencing must stop it before its next
  // side effect. Only a paused process can test that: a killed one never wakes up.
  it('a leader frozen (SIGSTOP) mid-provisioning past its lease: the standby takes over, the woken leader does nothing', async () => {
    s = makeSandbox(roadmapOf(['US-301']));
    store = Store.open(s.state);
    const sampler = new AgentSampler(s).start(50);
    const setup = JSON.stringify([process.execPath, '-e', 'setTimeout(() => {}, 2500)']);
    const args = ['--agent-command', JSON.stringify(chaosAgent('commit:a', 'sleep:600000')), '--setup-command', setup];
    const a = launch(s, args);
    procs.push(a);
    assert.ok(await a.waitFor(/^leader/), 'A leads');
    const b = launch(s, args);
    procs.push(b);
    assert.ok(await b.waitFor(/^standby/), 'B stands by');
    const spawned = await cli(s, ['spawn', 'US-301', ...args]);
    assert.equal(spawned.exitCode, 0, spawned.stderr);
    assert.ok(await waitUntil(() => store.listRuns()[0]?.step === 'setup', 20_000, 5), 'A is running the setup command');
    const epochA = store.leader().epoch;
    a.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const tookOver = await b.waitFor(/^leader/, 30_000);
    assert.ok(tookOver, 'B takes over once the frozen leader lease expires');
    const takeover = tookOver.at - stoppedAt;
    assert.ok(await waitUntil(() => store.listRuns()[0]?.status === 'running', 30_000, 20), `B provisions the run: ${JSON.stringify(store.listRuns()[0])}`);
    const resumedAt = Date.now();
    a.child.kill('SIGCONT');
    const steppedDown = await waitUntil(() => a.lines.some((l) => l.at >= resumedAt && l.line.startsWith('standby')), 15_000, 5);
    const staleBelief = (a.lines.find((l) => l.at >= resumedAt && l.line.startsWith('standby'))?.at ?? Date.now()) - resumedAt;
    await sleep(3000); // time for the woken leader to do whatever it still would
    sampler.stop();
    const events = store.events();
    const afterTakeover = events.slice(events.findIndex((e) => e.kind === 'leader-acquired' && e.epoch === epochA + 1));
    const staleEvents = afterTakeover.filter((e) => e.epoch === epochA);
    const fencing = fencingViolations(events);
    const starts = agentTracesOf(s);
    for (const p of procs) await p.kill('SIGTERM');
    killAgents(s);
    const rec = await finalReconcile(s);
    const lost = lostCommits(s);
    const row = record({
      scenario: '2b. leader frozen (SIGSTOP) past its lease, mid-provisioning',
      runs: store.listRuns().length,
      faults: '1 SIGSTOP + SIGCONT',
      duplicates: sampler.violations.length + Math.max(0, starts - 1),
      orphans: rec.orphanProcesses.length + rec.orphanWorktrees.length,
      lostCommits: `${lost.length} of ${ledger(s).length}`,
      maxLeaderlessMs: takeover,
      notes: `takeover after ${ms(takeover)} (lease 10 s); woken leader believed it led for ${ms(staleBelief)} and recorded ${staleEvents.length} events under its old epoch; fencing violations ${fencing.violations.length}`,
    });
    report(`frozen leader: takeover ${ms(takeover)} after SIGSTOP; after SIGCONT it said 'standby' within ${ms(staleBelief)}; events under its epoch after the takeover: ${staleEvents.length}`);
    report(`woken leader's log: ${a.stderr.join('').split('\n').filter((l) => /leader|fenc|epoch/i.test(l)).slice(-3).join(' | ') || '(nothing about leadership)'}`);
    assert.ok(steppedDown, 'the woken leader steps down');
    assert.deepEqual(staleEvents, [], 'the woken leader recorded nothing under its old epoch');
    assert.deepEqual(fencing.violations, []);
    assert.equal(starts, 1, 'the agent was started once, by the new leader');
    assert.deepEqual(sampler.violations, []);
    assert.deepEqual(rec.orphanProcesses, []);
    assert.deepEqual(rec.orphanWorktrees, []);
    assert.deepEqual(lost, []);
    row.ok = true;
  });
});

// The checks above see leaders from outside, and a deposed leader's own lease notices the
// takeover within 250 ms — before it acts again, in every timing those tests produced. So
// the database's fencing (the epoch confirmed in the transaction that records the act) is
// tested here directly: a leader whose lease is not watching (no ticks: as good as frozen
// between two of them) finishes a setup command after another leader has taken over.
describe('chaos 2c: fencing in the database, with the deposed leader unaware', function () {
  this.timeout(60_000);
  let s: Sandbox;
  let store: Store;
  afterEach(() => {
    delete process.env.FAKE_AGENT_TRACE;
    store?.close();
    killAgents(s);
    s.cleanup();
  });

  it('a deposed leader that has not noticed finishes its step: the database refuses its next side effect', async () => {
    s = makeSandbox(roadmapOf(['US-311']));
    store = Store.open(s.state);
    // In-process orchestrators hand their own environment to the agents they start.
    process.env.FAKE_AGENT_TRACE = s.trace;
    const leaseA = new LeaderLease(store, { label: 'A (not watching)' });
    assert.ok(leaseA.tryAcquire(), 'A leads');
    const epochA = leaseA.currentFence().epoch;
    const logs: string[] = [];
    const a = new Orchestrator({ store, lease: leaseA, stateDir: s.state, nodePath: NODE, cliPath: CLI, log: (_l, m) => logs.push(m) });
    const setup = [process.execPath, '-e', 'setTimeout(() => {}, 1500)'];
    const run = await requestSpawn(store, s.state, s.repo, 'US-311', { agentCommand: chaosAgent('commit:a', 'sleep:60000'), setupCommand: setup });
    const passA = a.tick();
    assert.ok(await waitUntil(() => store.getRun(run.id)!.step === 'setup', 20_000, 5), 'A runs the setup command');
    const leaseB = new LeaderLease(store, { label: 'B' });
    assert.ok(leaseB.tryAcquire(true), 'B takes over (as "Take Over Leadership" does)');
    assert.ok(leaseA.isLeader, 'A has not noticed: its lease is not watching');
    await passA; // A's setup ends; its next step must be refused by the database
    await sleep(500); // an agent A might have started has written its trace by now
    const afterA = store.getRun(run.id)!;
    const starts = agentTracesOf(s);
    const events = store.events();
    const stale = events.slice(events.findIndex((e) => e.kind === 'leader-takeover')).filter((e) => e.epoch === epochA);
    const row = record({
      scenario: '2c. deposed leader unaware of the takeover (DB fencing)',
      runs: 1,
      faults: '1 forced takeover mid-provisioning',
      duplicates: starts,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      notes: `A: ${logs.filter((l) => /leader|fenc/i.test(l)).join(' ') || 'no message'}; run left ${afterA.status}/${afterA.step}; ${stale.length} events under A's epoch after the takeover`,
    });
    report(`after the takeover A logged: ${logs.slice(-2).join(' | ')}; run ${afterA.status} at step ${afterA.step}; agents started by A: ${starts}`);
    assert.equal(starts, 0, 'A started no agent');
    assert.deepEqual(stale, [], 'A recorded nothing after the takeover');
    assert.equal(afterA.step, 'setup', 'the run stays where B will resume it');
    assert.deepEqual(fencingViolations(events).violations, []);
    // B resumes it: one agent, started once.
    const b = new Orchestrator({ store, lease: leaseB, stateDir: s.state, nodePath: NODE, cliPath: CLI, log: (_l, m) => logs.push(`B: ${m}`) });
    await b.tick();
    assert.ok(await waitUntil(() => agentTracesOf(s) === 1 && store.getRun(run.id)!.status === 'running', 20_000), `B provisions it: ${logs.join(' | ')} ${JSON.stringify(store.getRun(run.id))}`);
    a.dispose();
    b.dispose();
    leaseA.dispose();
    leaseB.dispose();
    row.ok = true;
  });
});

function agentTracesOf(s: Sandbox): number {
  return fs.existsSync(s.trace) ? fs.readFileSync(s.trace, 'utf8').split('\n').filter(Boolean).length : 0;
}
