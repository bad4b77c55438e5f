import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, NODE, makeSandbox, Sandbox } from '../support/sandbox';
import { stopped } from '../support/procScan';
import { chaosAgent, extraStartsPerRun, fencingViolations, killAgents, launch, liveAgentTraces, Proc, record, report, roadmapOf, withStore } from './lib';
import { waitUntil } from '../support/wait';

// Scenario 7: a leader frozen (SIGSTOP: a debugger, a suspended laptop, a starved VM) for
// longer than its lease, while a standby takes over, then woken (SIGCONT). It wakes with
// its leadership in memory and its timers due at once. It must not act: not send the
// SIGKILL its stop's grace period had scheduled, not run a setup command or a `git worktree
// add` the new leader already ran. Each case fails if any act of the woken leader happens.
const P = 'US-701';
/** The lease a standby waits out before taking over a live but silent leader. */
const LEASE_MS = 10_000;


/** `git <command>` lines of a GIT_TRACE file written after `since` (git stamps time of day). */
function gitCommandsSince(traceFile: string, since: number, command: RegExp): string[] {
  if (!fs.existsSync(traceFile)) return [];
  const day = new Date(since);
  const sinceOfDay = ((day.getHours() * 60 + day.getMinutes()) * 60 + day.getSeconds()) * 1000 + day.getMilliseconds();
  return fs
    .readFileSync(traceFile, 'utf8')
    .split('\n')
    .filter((l) => / trace: (built-in|exec): git /.test(l) && command.test(l))
    .filter((l) => {
      const m = /^(\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(l);
      return !!m && ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) >= sinceOfDay;
    });
}

describe('chaos 7: a frozen leader, woken after a takeover, never acts', function () {
  this.timeout(120_000);
  let s: Sandbox;
  let procs: Proc[] = [];
  const outcomes: Array<{ name: string; unfenced: number; ok: boolean; pausedMs: number }> = [];
  afterEach(async () => {
    for (const p of procs) {
      try {
        process.kill(p.pid, 'SIGCONT');
      } catch {
        // gone
      }
      await p.kill('SIGKILL');
    }
    procs = [];
    killAgents(s);
    s.cleanup();
  });
  after(() => {
    const failed = outcomes.filter((o) => !o.ok).map((o) => o.name);
    record({
      scenario: '7. frozen leader (SIGSTOP past the lease during stop, provisioning, setup; then SIGCONT)',
      runs: outcomes.length,
      faults: `${outcomes.length} freezes of ${outcomes.map((o) => `${(o.pausedMs / 1000).toFixed(1)} s`).join(', ')}`,
      duplicates: 0,
      orphans: 0,
      lostCommits: 0,
      maxLeaderlessMs: null,
      breaks: `${outcomes.reduce((n, o) => n + o.unfenced, 0)} unfenced acts`,
      notes: failed.length ? `failed: ${failed.join(', ')}` : 'every woken leader stepped down without acting',
      ok: failed.length === 0 && outcomes.length === 3,
    });
  });

  const run = () => withStore(s, (st) => st.listRuns()[0]);
  const events = () => withStore(s, (st) => st.events());

  it('during a stop: the SIGKILL due after the grace period is never sent', async () => {
    const outcome = { name: 'stop', unfenced: 0, ok: false, pausedMs: 0 };
    outcomes.push(outcome);
    s = makeSandbox(roadmapOf([P]));
    const agent = JSON.stringify(chaosAgent('ignoreterm', 'sleep:600000'));
    // A kills 4 s after TERM; B, once it leads, would wait 120 s: a SIGKILL within the test is A's.
    const a = launch(s, ['--agent-command', agent, '--stop-grace-seconds', '4']);
    procs.push(a);
    assert.ok(await a.waitFor(/^leader/), 'A leads');
    const b = launch(s, ['--agent-command', agent, '--stop-grace-seconds', '120']);
    procs.push(b);
    assert.ok(await b.waitFor(/^standby/), 'B stands by');
    const spawned = await cli(s, ['spawn', P, '--agent-command', agent]);
    assert.equal(spawned.exitCode, 0, spawned.stderr);
    assert.ok(await waitUntil(() => run()?.status === 'running' && liveAgentTraces(s).length === 1, 20_000), `running: ${JSON.stringify(run())}`);

    withStore(s, (st) => st.requestStop(run().id));
    assert.ok(await waitUntil(() => events().some((e) => e.kind === 'transition' && e.toStatus === 'stopping'), 10_000), 'A began stopping');
    await new Promise((r) => setTimeout(r, 300)); // A has sent TERM and waits out its grace period
    const frozenAt = Date.now();
    process.kill(a.pid, 'SIGSTOP');
    assert.ok(await b.waitFor(/^leader/, LEASE_MS + 10_000), `B takes over: ${b.lines.map((l) => l.line).join(' | ')}`);
    // Past A's grace period: its SIGKILL is due the moment it wakes.
    await waitUntil(() => Date.now() - frozenAt > 5000, 10_000);
    outcome.pausedMs = Date.now() - frozenAt;
    process.kill(a.pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 3000));

    const alive = liveAgentTraces(s).length;
    const fencing = fencingViolations(events());
    outcome.unfenced = (alive === 1 ? 0 : 1) + fencing.violations.length;
    report(`A frozen ${outcome.pausedMs} ms; agent alive after A woke: ${alive === 1}; events of a deposed epoch: ${fencing.violations.length}; run ${run().status}`);
    assert.equal(alive, 1, `the woken A must not SIGKILL the agent (B, the leader, waits out its own grace period): ${a.stderr.join('')}`);
    assert.equal(run().status, 'stopping', 'the run is still being stopped by B; A recorded no exit');
    assert.deepEqual(fencing.violations, [], 'no event written under A\'s epoch after B took over');
    outcome.ok = true;
  });

  it('during provisioning: the woken leader does not run git worktree add after the new leader did', async () => {
    const outcome = { name: 'provisioning', unfenced: 0, ok: false, pausedMs: 0 };
    outcomes.push(outcome);
    s = makeSandbox(roadmapOf([P]));
    const agent = JSON.stringify(chaosAgent('sleep:600000'));
    const aTrace = path.join(s.dir, 'a.gittrace');
    const a = launch(s, ['--agent-command', agent], { WTO_PAUSE_AT: 'after-claim', GIT_TRACE: aTrace });
    procs.push(a);
    assert.ok(await a.waitFor(/^leader/), 'A leads');
    const b = launch(s, ['--agent-command', agent]);
    procs.push(b);
    assert.ok(await b.waitFor(/^standby/), 'B stands by');
    const spawned = await cli(s, ['spawn', P, '--agent-command', agent]);
    assert.equal(spawned.exitCode, 0, spawned.stderr);
    assert.ok(await waitUntil(() => stopped(a.pid), 10_000), 'A froze right after claiming the run');
    const frozenAt = Date.now();
    assert.ok(await b.waitFor(/^leader/, LEASE_MS + 10_000), 'B takes over');
    assert.ok(await waitUntil(() => run()?.status === 'running', 20_000), `B resumed the run: ${JSON.stringify(run())}`);
    outcome.pausedMs = Date.now() - frozenAt;
    const wokeAt = Date.now();
    process.kill(a.pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 3000));

    const adds = gitCommandsSince(aTrace, wokeAt - 5, /worktree (add|lock|unlock|remove|move)| reset | checkout | switch | merge | branch -D/);
    if (process.env.DEBUG_CHAOS7) console.log(fs.existsSync(aTrace) ? fs.readFileSync(aTrace, "utf8") : "no trace", a.stderr.join(""));
    const fencing = fencingViolations(events());
    outcome.unfenced = adds.length + fencing.violations.length + extraStartsPerRun(s);
    report(`A frozen ${outcome.pausedMs} ms; worktree-changing git commands by A after it woke: ${adds.length}; agent starts beyond one: ${extraStartsPerRun(s)}`);
    assert.deepEqual(adds, [], 'the woken A ran no worktree-changing git command');
    assert.deepEqual(fencing.violations, []);
    assert.equal(extraStartsPerRun(s), 0);
    assert.equal(liveAgentTraces(s).length, 1);
    outcome.ok = true;
  });

  it('during setup: the woken leader does not run the setup command a second time', async () => {
    const outcome = { name: 'setup', unfenced: 0, ok: false, pausedMs: 0 };
    outcomes.push(outcome);
    s = makeSandbox(roadmapOf([P]));
    const agent = JSON.stringify(chaosAgent('sleep:600000'));
    const setupTrace = path.join(s.dir, 'setup.trace');
    // A slow setup that says which orchestrator ran it (its parent).
    const setup = JSON.stringify([NODE, '-e', `require('fs').appendFileSync(${JSON.stringify(setupTrace)}, process.ppid + ' ' + Date.now() + '\\n'); setTimeout(() => {}, 6000)`]);
    const a = launch(s, ['--agent-command', agent, '--setup-command', setup], { WTO_PAUSE_AT: 'after-worktree-add' });
    procs.push(a);
    assert.ok(await a.waitFor(/^leader/), 'A leads');
    const b = launch(s, ['--agent-command', agent, '--setup-command', setup]);
    procs.push(b);
    assert.ok(await b.waitFor(/^standby/), 'B stands by');
    const spawned = await cli(s, ['spawn', P, '--agent-command', agent, '--setup-command', setup]);
    assert.equal(spawned.exitCode, 0, spawned.stderr);
    assert.ok(await waitUntil(() => stopped(a.pid), 20_000), 'A froze with the worktree made, before setup');
    const frozenAt = Date.now();
    assert.ok(await b.waitFor(/^leader/, LEASE_MS + 10_000), 'B takes over');
    const setups = () => (fs.existsSync(setupTrace) ? fs.readFileSync(setupTrace, 'utf8').split('\n').filter(Boolean) : []);
    assert.ok(await waitUntil(() => setups().length >= 1, 10_000), 'B runs the setup');
    outcome.pausedMs = Date.now() - frozenAt;
    process.kill(a.pid, 'SIGCONT'); // while B's setup runs
    assert.ok(await waitUntil(() => run()?.status === 'running', 20_000), `B started the agent: ${JSON.stringify(run())}`);
    await new Promise((r) => setTimeout(r, 1000));

    const byA = setups().filter((l) => l.startsWith(`${a.pid} `));
    const fencing = fencingViolations(events());
    outcome.unfenced = byA.length + fencing.violations.length + extraStartsPerRun(s);
    report(`A frozen ${outcome.pausedMs} ms; setup runs: ${setups().length} (by the woken A: ${byA.length})`);
    assert.deepEqual(byA, [], 'the woken A did not run the setup again');
    assert.equal(setups().length, 1, 'the setup ran once, by B');
    assert.deepEqual(fencing.violations, []);
    assert.equal(extraStartsPerRun(s), 0);
    outcome.ok = true;
  });
});
