// Shared pieces of the chaos suite: scale and seed, real orchestrator processes with their
// output timed, samplers of live agents, the commit ledger, and the summary table that is
// printed once when the suite ends (and written to test-output/chaos-summary.md).
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ReconcileReport } from '../../src/core/leader/orchestrator';
import { isAlive } from '../../src/core/agent/processInfo';
import { Store } from '../../src/core/db/store';
import { CLI, NODE, ROOT, Sandbox, TraceEntry, cli, traces } from '../support/sandbox';
import { sleep } from '../support/wait';
import { RunEvent } from '../../src/core/model/run';

export const CHAOS_AGENT = path.join(__dirname, 'chaosAgent.mjs');
export const ARGV_AGENT = path.join(__dirname, 'argvAgent.mjs');

/** CHAOS_SCALE multiplies every count and duration of the suite (default 1: the figures where they fit). */
export const SCALE = Math.max(0.05, Number(process.env.CHAOS_SCALE ?? 1) || 1);
/** CHAOS_SEED replays the random choices of a run (timing still varies). */
export const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
export const scaled = (n: number, min = 1): number => Math.max(min, Math.round(n * SCALE));

/** Small deterministic PRNG (mulberry32), one stream per scenario. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}
export const rngFor = (scenario: string): Rng => new Rng(SEED ^ [...scenario].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));

// --- The summary table ---------------------------------------------------------------------

export interface Row {
  scenario: string;
  runs: number | string;
  faults: number | string;
  duplicates: number;
  orphans: number;
  lostCommits: number | string;
  /** Longest time without a leader, in ms (null: not measured in this scenario). */
  maxLeaderlessMs: number | null;
  notes?: string;
  /** Counts of the hostile-fault promises, e.g. "0 unfenced acts", "0 processes left" (issue 12's rows). */
  breaks?: string;
  /** Set by the test after its assertions; a row of a failed test says FAIL. */
  ok?: boolean;
}

const rows: Row[] = [];
const suiteStart = Date.now();

/** Records a scenario's figures before its assertions run, so a failing scenario still shows them. Returns the row to mark ok. */
export function record(row: Row): Row {
  rows.push(row);
  return row;
}

export function renderTable(): string {
  const head = ['scenario', 'runs', 'faults injected', 'duplicates', 'orphans', 'lost commits', 'max leaderless', 'broken promises', 'result', 'notes'];
  const body = rows.map((r) => [
    r.scenario,
    String(r.runs),
    String(r.faults),
    String(r.duplicates),
    String(r.orphans),
    String(r.lostCommits),
    r.maxLeaderlessMs === null ? '-' : `${r.maxLeaderlessMs} ms`,
    r.breaks ?? '-',
    r.ok ? 'ok' : 'FAIL',
    r.notes ?? '',
  ]);
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}

// Root-level hook: mocha registers it once, when the first chaos file loads this module.
after(function () {
  if (!rows.length) return;
  const seconds = ((Date.now() - suiteStart) / 1000).toFixed(0);
  const text = [
    `# Chaos summary`,
    '',
    `CHAOS_SCALE=${SCALE} CHAOS_SEED=${SEED}, ${seconds} s, node ${process.version}, ${new Date().toISOString()}`,
    '',
    renderTable(),
    '',
  ].join('\n');
  process.stdout.write(`\n${text}\n`);
  const out = path.join(ROOT, 'test-output');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'chaos-summary.md'), text);
});

/** Prints a figure line under the test (the suite's figures are reported, not only asserted). */
export function report(message: string): void {
  process.stdout.write(`      ${message}\n`);
}

// --- Processes -----------------------------------------------------------------------------

export interface Proc {
  child: ChildProcess;
  pid: number;
  lines: Array<{ at: number; line: string }>;
  stderr: string[];
  startedAt: number;
  /** Set when the test killed it; undefined when it died on its own (a crash point). */
  killedAt?: number;
  exit?: { at: number; code: number | null; signal: NodeJS.Signals | null };
  exited: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL to its whole process group (needs `group`): git children die mid-command. */
  killGroup(): Promise<void>;
  waitFor(re: RegExp, timeoutMs?: number): Promise<{ at: number; line: string } | undefined>;
  /** Whether it believed it led at time t: its last leader/standby line before t, unless dead. */
  leadsAt(t: number): boolean;
}

/**
 * A `start` process (leader or standby) on the sandbox's state dir, its output timed line by
 * line. `group`: in its own process group, so that killGroup() takes its git children with
 * it, as Ctrl-C in a terminal, a stopped container or a killed process tree does.
 */
export function launch(s: Sandbox, args: string[], env: Record<string, string> = {}, o: { group?: boolean } = {}): Proc {
  const child = spawn(NODE, [CLI, '--repo', s.repo, '--state-dir', s.state, ...args, 'start'], {
    env: { ...process.env, FAKE_AGENT_TRACE: s.trace, CHAOS_LEDGER: ledgerPath(s), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: !!o.group,
  });
  const p: Proc = {
    child,
    pid: child.pid!,
    lines: [],
    stderr: [],
    startedAt: Date.now(),
    exited: undefined as unknown as Promise<void>,
    kill: async (signal = 'SIGKILL') => {
      if (!p.exit) {
        p.killedAt ??= Date.now();
        child.kill(signal);
      }
      await p.exited;
    },
    killGroup: async () => {
      if (!p.exit) {
        p.killedAt ??= Date.now();
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
      await p.exited;
    },
    waitFor: async (re, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = p.lines.find((l) => re.test(l.line));
        if (hit) return hit;
        if (p.exit || Date.now() > deadline) return undefined;
        await sleep(10);
      }
    },
    leadsAt: (t) => {
      const dead = p.killedAt ?? p.exit?.at;
      if (dead !== undefined && dead <= t) return false;
      let leads = false;
      for (const l of p.lines) {
        if (l.at > t) break;
        if (l.line.startsWith('leader')) leads = true;
        else if (l.line.startsWith('standby')) leads = false;
      }
      return leads;
    },
  };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      p.lines.push({ at: Date.now(), line: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    p.stderr.push(d.toString());
    if (p.stderr.length > 400) p.stderr.splice(0, 100);
  });
  p.exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      p.exit = { at: Date.now(), code, signal };
      resolve();
    }),
  );
  return p;
}

/** Died of its own SIGKILL: a WTO_CRASH_AT crash point fired. */
export const selfCrashed = (p: Proc): boolean => !!p.exit && p.killedAt === undefined && p.exit.signal === 'SIGKILL';

export function epochOf(line: string): number {
  return Number(/epoch (\d+)/.exec(line)?.[1] ?? NaN);
}

// --- Agents, commits, git ------------------------------------------------------------------

/** The chaos agent's trace lines also carry its start time (it writes to the same file). */
export interface AgentTrace extends TraceEntry {
  start: string | null;
}

export const agentTraces = (s: Sandbox): AgentTrace[] => traces(s) as AgentTrace[];

/** Live agent processes of the sandbox (pid and start time both match: a reused pid does not count). */
export function liveAgentTraces(s: Sandbox): AgentTrace[] {
  return agentTraces(s).filter((t) => isAlive({ pid: t.pid, start: t.start ?? null }));
}

export function chaosAgent(...steps: string[]): string[] {
  return [NODE, CHAOS_AGENT, ...steps];
}

export const ledgerPath = (s: Sandbox): string => path.join(s.dir, 'ledger.jsonl');

export interface LedgerEntry {
  token: string;
  hash: string;
  runId: string;
  priority: string;
  pid: number;
}

export function ledger(s: Sandbox): LedgerEntry[] {
  const file = ledgerPath(s);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LedgerEntry);
}

/**
 * Whether `git rev-list --all` works in the repository: it fails when a worktree's HEAD
 * is damaged (an interrupted `git worktree add`), and with it `git log --all` and `git gc`.
 */
export function repoDamage(s: Sandbox): string | undefined {
  try {
    execFileSync('git', ['rev-list', '--all', '--max-count=1'], { cwd: s.repo, stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? e).trim();
  }
}

/** Ledger commits no longer reachable from any ref or worktree HEAD (`git rev-list --all`; branches and tags if that fails). */
export function lostCommits(s: Sandbox): LedgerEntry[] {
  const refs = repoDamage(s) ? ['--branches', '--tags'] : ['--all'];
  const reachable = new Set(execFileSync('git', ['rev-list', ...refs], { cwd: s.repo, encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').filter(Boolean));
  const messages = execFileSync('git', ['log', ...refs, '--format=%s'], { cwd: s.repo, encoding: 'utf8', maxBuffer: 64 << 20 });
  return ledger(s).filter((e) => !reachable.has(e.hash) || !messages.includes(e.token));
}

/**
 * Samples live agents per priority every `everyMs`: the invariant "at most one live
 * code_developer per priority" checked continuously, not only at the end.
 */
export class AgentSampler {
  samples = 0;
  maxPerPriority = 0;
  /** Instants (samples) at which some priority had more than one live agent. */
  violations: Array<{ at: number; priority: string; pids: number[] }> = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly s: Sandbox) {}

  check(): void {
    this.samples++;
    const by = new Map<string, number[]>();
    for (const t of liveAgentTraces(this.s)) by.set(t.priority, [...(by.get(t.priority) ?? []), t.pid]);
    for (const [priority, pids] of by) {
      this.maxPerPriority = Math.max(this.maxPerPriority, pids.length);
      if (pids.length > 1) this.violations.push({ at: Date.now(), priority, pids });
    }
  }

  start(everyMs = 50): this {
    this.timer = setInterval(() => this.check(), everyMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.check();
  }
}

/** Agent starts beyond the first, per run: a run's agent started twice is a duplicate too. */
export function extraStartsPerRun(s: Sandbox): number {
  const byRun = new Map<string, number>();
  for (const t of agentTraces(s)) byRun.set(t.runId, (byRun.get(t.runId) ?? 0) + 1);
  return [...byRun.values()].reduce((n, c) => n + c - 1, 0);
}

/**
 * Replays the event log in id order (the order the database serialised the writes in)
 * and counts the claims made while the same priority already had an active run.
 */
export function overlappingClaims(store: Store): number {
  const runs = new Map(store.listRuns().map((r) => [r.id, r]));
  const active = new Map<string, string>(); // repo+priority -> run id
  let overlaps = 0;
  const key = (runId: string) => {
    const r = runs.get(runId)!;
    return `${r.repo}\0${r.agentType}\0${r.priority}`;
  };
  for (const e of store.events()) {
    if (!e.runId || !runs.has(e.runId)) continue;
    if (e.kind === 'claimed') {
      const holder = active.get(key(e.runId));
      if (holder && holder !== e.runId) overlaps++;
      active.set(key(e.runId), e.runId);
    } else if (e.toStatus && !['requested', 'provisioning', 'running', 'stopping'].includes(e.toStatus)) {
      if (active.get(key(e.runId)) === e.runId) active.delete(key(e.runId));
    }
  }
  return overlaps;
}

/**
 * Fencing, from the event log: leader epochs strictly increase in id order, and every
 * event stamped with an epoch was written while that epoch was the current one. An event
 * of epoch E after the takeover by E+1 would be a side effect of a fenced-off leader.
 */
export function fencingViolations(events: RunEvent[]): { violations: RunEvent[]; epochs: number[] } {
  let current = 0;
  const epochs: number[] = [];
  const violations: RunEvent[] = [];
  for (const e of events) {
    if (e.kind === 'leader-acquired' || e.kind === 'leader-takeover') {
      if (e.epoch === null || e.epoch <= current) violations.push(e);
      current = e.epoch ?? current;
      epochs.push(current);
    } else if (e.epoch !== null && e.epoch !== current) {
      violations.push(e);
    }
  }
  return { violations, epochs };
}

export function withStore<T>(s: Sandbox, fn: (store: Store) => T): T {
  const store = Store.open(s.state);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** `worktree-orchestrator reconcile` as a user runs it once every orchestrator is gone. */
export async function finalReconcile(s: Sandbox): Promise<ReconcileReport> {
  for (let attempt = 1; ; attempt++) {
    const r = await cli(s, ['reconcile']);
    if (r.exitCode === 0) return JSON.parse(r.stdout) as ReconcileReport;
    // A leader that was just stopped may still hold the lease for a moment.
    if (attempt >= 20) throw new Error(`reconcile failed: ${r.stderr}`);
    await sleep(250);
  }
}

export function roadmapOf(ids: string[], status = '📝 Planned'): string {
  return ['# Roadmap', '', ...ids.flatMap((id) => [`## ${id}: chaos work for ${id}`, '', `**Status**: ${status}`, ''])].join('\n');
}


/** Kills whatever agents of the sandbox still run (cleanup beyond the shared helpers). */
export function killAgents(s: Sandbox): void {
  for (const t of liveAgentTraces(s)) {
    try {
      process.kill(t.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export const ms = (n: number): string => `${Math.round(n)} ms`;
export const pct = (xs: number[], p: number): number => {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
