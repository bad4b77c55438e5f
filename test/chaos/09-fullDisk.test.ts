import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive } from '../../src/core/agent/processInfo';
import { CliResult, FAKE_AGENT, NODE, Sandbox, cli, makeSandbox } from '../support/sandbox';
import { STACK_LINE, SmallDisk, mountSmallDisk, signalIfAlive, supervisorPids } from '../support/stateDirMount';
import { Proc, Rng, extraStartsPerRun, killAgents, launch, record, report, rngFor, roadmapOf, scaled, withStore } from './lib';
import { sleep, waitUntil } from '../support/wait';
import { Run } from '../../src/core/model/run';

// Scenario 9 (issue 12, items 5 and 6): the state folder on a real 2 MiB tmpfs that fills up
// at random moments (a few KiB left, or none) while a leader runs agents and the CLI keeps
// asking, or that is read-only when the commands run. Counted: exit codes lost (a run that
// ended 'lost' or with another code than its agent's), stack traces in any output, runs still
// waiting in requested/provisioning once space has returned, and database bytes a read-only
// command changed.

const IDS = ['US-101', 'US-102', 'US-103', 'US-104', 'US-105', 'US-106'];
/** Each priority's agent exits with its own code: US-101 1, US-102 2, US-103 3, US-104 0, … */
const expectedCode = (priority: string) => Number(priority.slice(-1)) % 4;
const agentArgs = (sleepMs: number) => JSON.stringify([NODE, FAKE_AGENT, `sleep:${sleepMs}`, ...IDS.map((id) => `exitif:${id}=${expectedCode(id)}`), 'exit:0']);
const ENDED = ['succeeded', 'failed', 'stopped', 'lost'];

interface Tally {
  rounds: number;
  runs: number;
  fills: number;
  commands: number;
  lost: number;
  stacks: number;
  stuck: number;
  badExits: number;
  duplicates: number;
  problems: string[];
}
const tally = (): Tally => ({ rounds: 0, runs: 0, fills: 0, commands: 0, lost: 0, stacks: 0, stuck: 0, badExits: 0, duplicates: 0, problems: [] });

describe('chaos 9: a full or read-only state folder (real tmpfs)', function () {
  this.timeout(600_000);
  let s: Sandbox | undefined;
  let disk: SmallDisk | undefined;
  let leader: Proc | undefined;

  before(function () {
    const probe = makeSandbox();
    const mounted = mountSmallDisk(path.join(probe.dir, 'probe'));
    if (typeof mounted === 'string') {
      console.log(`      skipped: ${mounted}`);
      probe.cleanup();
      this.skip();
    }
    (mounted as SmallDisk).unmount();
    probe.cleanup();
  });

  /** A fresh repository with the six priorities, its state folder a 2 MiB tmpfs. */
  function freshRound(): { s: Sandbox; disk: SmallDisk } {
    s = makeSandbox(roadmapOf(IDS));
    const mounted = mountSmallDisk(s.state);
    if (typeof mounted === 'string') throw new Error(mounted);
    disk = mounted;
    return { s, disk };
  }
  async function endRound(): Promise<void> {
    await leader?.kill('SIGKILL');
    leader = undefined;
    if (s) killAgents(s);
    if (disk) {
      try {
        disk.readWrite();
      } catch {
        // read-write already
      }
      disk.free();
      for (const pid of supervisorPids(disk.dir)) signal(pid, 'SIGKILL');
      disk.unmount();
    }
    s?.cleanup();
    s = disk = undefined;
  }
  afterEach(endRound);

  const signal = signalIfAlive;
  const runsOf = (sb: Sandbox): Run[] => withStore(sb, (store) => store.listRuns());

  /** Counts a command's breaks: a stack trace, an exit code outside `allowed`. */
  function judge(t: Tally, what: string, r: CliResult, allowed: number[]): void {
    t.commands++;
    if (STACK_LINE.test(`${r.stdout}\n${r.stderr}`)) {
      t.stacks++;
      t.problems.push(`${what}: stack trace: ${r.stderr.split('\n').slice(0, 3).join(' | ')}`);
    }
    if (!allowed.includes(r.exitCode)) {
      t.badExits++;
      t.problems.push(`${what}: exit ${r.exitCode}: ${r.stderr.split('\n')[0]}`);
    }
  }

  /** After space returns: every run ends, with its agent's code, and no agent ran twice. */
  async function settle(t: Tally, sb: Sandbox, lead: () => Promise<void>): Promise<void> {
    const done = await waitUntil(() => runsOf(sb).every((r) => ENDED.includes(r.status)), 60_000, 250).then(async (ok) => {
      if (ok) return true;
      await lead();
      return waitUntil(() => runsOf(sb).every((r) => ENDED.includes(r.status)), 30_000, 250);
    });
    const runs = runsOf(sb);
    t.runs += runs.length;
    if (!done) {
      const stuck = runs.filter((r) => !ENDED.includes(r.status));
      t.stuck += stuck.length;
      t.problems.push(...stuck.map((r) => `${r.priority} stuck in ${r.status} (${r.step})`));
    }
    for (const r of runs.filter((x) => ENDED.includes(x.status) && x.status !== 'stopped')) {
      const started = r.startedAt !== null || r.exitCode !== null || r.status === 'lost';
      if (!started && r.status === 'failed') continue; // refused before the agent ran: no code to lose
      if (r.status === 'lost' || r.exitCode !== expectedCode(r.priority)) {
        t.lost++;
        t.problems.push(`${r.priority}: ${r.status}, exit ${r.exitCode} (expected ${expectedCode(r.priority)}): ${r.error ?? ''}`);
      }
    }
    t.duplicates += extraStartsPerRun(sb);
  }

  const full = tally();
  it('a leader running agents while the state folder fills up at random moments: no exit code lost, no stack trace, nothing stuck', async () => {
    const rng = rngFor('full-with-leader');
    for (let round = 0; round < scaled(3, 1); round++) {
      full.rounds++;
      const { s: sb, disk: d } = freshRound();
      const agent = agentArgs(rng.int(300, 2500));
      leader = launch(sb, ['--agent-command', agent, '--max-parallel', '3'], {}, { group: true });
      assert.ok(await leader.waitFor(/^leader/), 'the leader started');
      const queued = rng.shuffle([...IDS]).slice(0, rng.int(3, 6));
      const asked = queued.slice(0, rng.int(1, queued.length));
      for (const id of asked) judge(full, `spawn ${id}`, await cli(sb, ['--agent-command', agent, 'spawn', id]), [0, 4]);
      await sleep(rng.int(0, 1500));
      d.fill(rng.int(0, 48) * 1024);
      full.fills++;
      for (const id of queued.slice(asked.length)) judge(full, `spawn ${id} (full)`, await cli(sb, ['--agent-command', agent, 'spawn', id]), [0, 4]);
      await randomCommands(full, sb, rng, agent, 3);
      await sleep(rng.int(500, 7000)); // sometimes longer than half the lease: the leader steps down
      d.free();
      await settle(full, sb, async () => void (await cli(sb, ['reconcile'])));
      // Only what it printed while leading: a pass still running when `start` closes the
      // database on SIGTERM fails with 'connection is not open' (a shutdown race, not a disk one).
      const out = leader.stderr.join('');
      await leader.kill('SIGTERM');
      if (STACK_LINE.test(out)) {
        full.stacks++;
        full.problems.push(`leader's log: ${out.split('\n').find((l) => /Error/.test(l)) ?? out.slice(0, 200)}`);
      }
      await endRound();
    }
    report(`${full.rounds} rounds, ${full.runs} runs, ${full.fills} fills, ${full.commands} commands: ${full.lost} exit codes lost, ${full.stacks} stack traces, ${full.stuck} stuck`);
    const row = record({
      scenario: '9a. state folder fills up under a leader',
      runs: full.runs,
      faults: `${full.fills} fills (0–48 KiB left, 0.5–7 s)`,
      duplicates: full.duplicates,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      breaks: `${full.lost} exit codes lost, ${full.stacks} stack traces, ${full.stuck} runs stuck, ${full.badExits} bad exit codes`,
      notes: full.problems.slice(0, 3).join('; '),
    });
    assert.deepEqual(full.problems, []);
    assert.equal(full.duplicates, 0);
    row.ok = true;
  });

  /** status / spawn / stop / loop, at random: each exits 0, 1, 3 or 4 and prints no stack. */
  async function randomCommands(t: Tally, sb: Sandbox, rng: Rng, agent: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const id = rng.pick(IDS);
      const args = rng.pick([['status'], ['status', '--json'], ['--agent-command', agent, 'spawn', id], ['stop', id], ['loop', 'off']]);
      judge(t, `${args.join(' ')} (full)`, await cli(sb, args), [0, 1, 3, 4]);
    }
  }

  const selfLed = tally();
  it('self-leading spawns (no orchestrator running) on a full state folder: exit 0 or 4, then the next leader finishes every run', async () => {
    const rng = rngFor('full-self-led');
    for (let round = 0; round < scaled(3, 1); round++) {
      selfLed.rounds++;
      const { s: sb, disk: d } = freshRound();
      const agent = agentArgs(rng.int(200, 1500));
      judge(selfLed, 'status', await cli(sb, ['status']), [0]);
      const ids = rng.shuffle([...IDS]).slice(0, rng.int(2, 4));
      for (const id of ids) {
        if (id === ids[0] || rng.chance(0.6)) {
          d.fill(rng.int(0, 256) * 1024); // from nothing left to enough for a claim but not its provisioning
          selfLed.fills++;
        }
        judge(selfLed, `spawn ${id}`, await cli(sb, ['--agent-command', agent, '--max-parallel', '4', 'spawn', id]), [0, 4]);
        d.free();
      }
      await settle(selfLed, sb, async () => void (await cli(sb, ['--agent-command', agent, '--max-parallel', '4', 'reconcile'])));
      await endRound();
    }
    report(`${selfLed.rounds} rounds, ${selfLed.runs} runs, ${selfLed.fills} fills, ${selfLed.commands} commands: ${selfLed.lost} exit codes lost, ${selfLed.stacks} stack traces, ${selfLed.stuck} stuck`);
    const row = record({
      scenario: '9b. full state folder, self-leading spawns',
      runs: selfLed.runs,
      faults: `${selfLed.fills} fills (0–256 KiB left)`,
      duplicates: selfLed.duplicates,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      breaks: `${selfLed.lost} exit codes lost, ${selfLed.stacks} stack traces, ${selfLed.stuck} runs stuck, ${selfLed.badExits} bad exit codes`,
      notes: selfLed.problems.slice(0, 3).join('; '),
    });
    assert.deepEqual(selfLed.problems, []);
    assert.equal(selfLed.duplicates, 0);
    row.ok = true;
  });

  const ro = tally();
  let unchanged = 0;
  it('a read-only state folder (clean, left by a killed writer, never used): readers read every exit code, writers say read-only, nothing changes', async () => {
    const rng = rngFor('read-only');
    const shapes = ['clean', 'killed writer', 'never used'] as const;
    for (let round = 0; round < scaled(3, 3); round++) {
      ro.rounds++;
      const shape = shapes[round % shapes.length];
      const { s: sb, disk: d } = freshRound();
      const ids = shape === 'never used' ? [] : rng.shuffle([...IDS]).slice(0, rng.int(1, 3));
      for (const id of ids) judge(ro, `spawn ${id}`, await cli(sb, ['--agent-command', agentArgs(0), 'spawn', id]), [0]);
      await waitUntil(() => runsOf(sb).every((r) => ENDED.includes(r.status)), 20_000);
      await waitUntil(() => supervisorPids(sb.state).every((pid) => !isAlive({ pid, start: null })), 10_000);
      if (shape === 'killed writer') await killedWriter(sb);
      const expected = runsOf(sb).map((r) => ({ priority: r.priority, exitCode: r.exitCode }));
      const files = fingerprint(sb.state);
      d.readOnly();
      const readers: string[][] = [['status'], ['status', '--json'], ['gc', '--dry-run'], ['roadmap'], ['agents']];
      for (const args of readers) {
        const r = await cli(sb, args);
        judge(ro, `${shape}: ${args.join(' ')}`, r, [0]);
        if (args.includes('--json') && r.exitCode === 0) {
          const seen = (JSON.parse(r.stdout) as { runs: Array<{ priority: string; exitCode: number | null }> }).runs;
          for (const e of expected) {
            if (!seen.some((x) => x.priority === e.priority && x.exitCode === e.exitCode)) {
              ro.lost++;
              ro.problems.push(`${shape}: status does not show ${e.priority} exit ${e.exitCode}`);
            }
          }
        }
      }
      const writers: string[][] = [['--agent-command', agentArgs(0), 'spawn', rng.pick(IDS)], ['stop', rng.pick(IDS)], ['loop', 'on'], ['loop', 'off'], ['reconcile'], ['gc'], ['merge', rng.pick(IDS)], ['remove', rng.pick(IDS)]];
      for (const args of rng.shuffle(writers)) {
        const r = await cli(sb, args);
        judge(ro, `${shape}: ${args.join(' ')}`, r, [4]);
        if (!/read-only/.test(r.stderr) || !r.stderr.includes(sb.state)) ro.problems.push(`${shape}: ${args.join(' ')} does not say the folder is read-only: ${r.stderr.split('\n')[0]}`);
      }
      const startProc = await cli(sb, ['start']);
      judge(ro, `${shape}: start`, startProc, [4]);
      d.readWrite();
      if (fingerprint(sb.state) === files) unchanged++;
      else ro.problems.push(`${shape}: the state folder changed`);
      ro.runs += expected.length;
      await endRound();
    }
    report(`${ro.rounds} folders, ${ro.runs} runs, ${ro.commands} commands: ${ro.lost} exit codes lost, ${ro.stacks} stack traces, ${ro.badExits} bad exit codes, ${unchanged}/${ro.rounds} folders unchanged`);
    const row = record({
      scenario: '9c. read-only state folder',
      runs: ro.runs,
      faults: `${ro.rounds} read-only folders (clean / killed writer / never used)`,
      duplicates: 0,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      breaks: `${ro.lost} exit codes lost, ${ro.stacks} stack traces, ${ro.badExits} bad exit codes`,
      notes: `${ro.commands} commands; ${unchanged}/${ro.rounds} folders byte for byte unchanged${ro.problems.length ? `; ${ro.problems.slice(0, 3).join('; ')}` : ''}`,
    });
    assert.deepEqual(ro.problems, []);
    row.ok = true;
  });

  /** A writer killed with -9 after a write: its -wal and -shm stay, the latest rows only there. */
  async function killedWriter(sb: Sandbox): Promise<void> {
    const script = `const {Store}=require(${JSON.stringify(path.resolve(__dirname, '../../src/core/db/store'))});const st=Store.open(process.argv[1]);st.setLoop(process.argv[2],false,{});process.stdout.write('ready\\n');setInterval(()=>{},1000);`;
    const child = spawn(NODE, ['-r', path.resolve(__dirname, '../register.cjs'), '-e', script, sb.state, sb.repo], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => child.stdout!.once('data', () => res()));
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
  }

  /** Names, sizes and contents of every file in the folder. */
  function fingerprint(dir: string): string {
    const h = crypto.createHash('sha256');
    const walk = (d: string) => {
      for (const name of fs.readdirSync(d).sort()) {
        const f = path.join(d, name);
        const st = fs.statSync(f);
        h.update(`${path.relative(dir, f)}\0${st.size}\0`);
        if (st.isDirectory()) walk(f);
        else h.update(fs.readFileSync(f));
      }
    };
    walk(dir);
    return h.digest('hex');
  }
});
