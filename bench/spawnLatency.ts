// 1. Spawn latency: from the spawn call to the agent running in its ready worktree (the
// fake agent's first trace line), against doing the same by hand: `git worktree add -b`
// then spawning the agent. Interleaved baseline / ours / CLI so drift hits all three.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { runDir } from '../src/core/agents';
import { GitRepo } from '../src/core/git';
import { LeaderLease } from '../src/core/leaderLease';
import { Orchestrator } from '../src/core/orchestrator';
import { requestSpawn } from '../src/core/spawnRequest';
import { isActive, Store } from '../src/core/store';
import { CLI, FAKE_AGENT, NODE, generateRepo, git, killPid, median, now, priorityId, rmrf, tempDir, until, waitTrace } from './lib';

const execFileP = promisify(execFile);

/** The agent sleeps, so it is surely running when its trace is read; the bench kills it. */
const AGENT = [NODE, FAKE_AGENT, 'sleep:120000'];

export interface SpawnBenchOptions {
  sizes: number[];
  reps: number;
  /** One untimed round before the first size (JIT, first loads of the bundle and of git). */
  warmup?: boolean;
  /** Also time `dist/cli.js spawn --wait` end to end. */
  cli?: boolean;
  log?: (line: string) => void;
}

/** Where the time goes in one in-process spawn, in ms. */
export interface OursPhases {
  /** requestSpawn: validation, roadmap, branch/path checks, the claim transaction. */
  request: number;
  /** tick up to the worktree intent: fence, GitRepo.open, base commit. */
  preWorktree: number;
  /** worktree list, branch check, `git worktree add`, `git worktree lock`, 'spawn' intent. */
  worktree: number;
  /** launch of the supervisor (node + dist/cli.js) until it has claimed the run. */
  supervisor: number;
  /** the supervisor spawning the agent, until the agent's first line. */
  agent: number;
  /** Sum of git child processes (count in gitCalls). */
  git: number;
  gitCalls: number;
  /** Sum of SQLite write transactions. */
  db: number;
  dbTx: number;
}

export interface SpawnSizeResult {
  files: number;
  baseline: number[];
  ours: number[];
  cli: number[];
  /** ours / baseline of each interleaved pair. */
  pairRatios: number[];
  /** ours - baseline of each interleaved pair, ms: the orchestrator's own overhead. */
  pairOverheads: number[];
  cliRatios: number[];
  baselineAdd: number[];
  baselineAgent: number[];
  phases: OursPhases[];
  gitCommands: string[];
  errors: string[];
}

interface Recorder {
  git: number;
  gitCalls: number;
  gitCommands: string[];
  db: number;
  dbTx: number;
  marks: Array<{ at: number; to: string; step: string | null | undefined; baseCommit: boolean }>;
}

const fresh = (): Recorder => ({ git: 0, gitCalls: 0, gitCommands: [], db: 0, dbTx: 0, marks: [] });

/**
 * Counts time in git child processes and SQLite write transactions without touching
 * src/core: wraps GitRepo's process-running methods and this Store instance's
 * transactions. Returns the undo.
 */
function instrument(store: Store, rec: () => Recorder): () => void {
  const undo: Array<() => void> = [];
  const wrapAsync = (owner: Record<string, unknown>, name: string) => {
    const orig = owner[name];
    if (typeof orig !== 'function') return;
    owner[name] = async function (this: unknown, ...args: unknown[]) {
      const t0 = now();
      try {
        return await (orig as (...a: unknown[]) => Promise<unknown>).apply(this, args);
      } finally {
        const r = rec();
        r.git += now() - t0;
        r.gitCalls++;
        const argv = Array.isArray(args[0]) ? (args[0] as string[]) : name === 'open' ? ['rev-parse'] : [];
        r.gitCommands.push(argv.slice(0, argv[0] === 'worktree' ? 2 : 1).join(' '));
      }
    };
    undo.push(() => {
      owner[name] = orig;
    });
  };
  const proto = GitRepo.prototype as unknown as Record<string, unknown>;
  for (const name of ['raw', 'run', 'withLockRetry']) wrapAsync(proto, name);
  wrapAsync(GitRepo as unknown as Record<string, unknown>, 'open');

  const s = store as unknown as Record<string, unknown>;
  const immediate = store.immediate.bind(store);
  s.immediate = <T>(fn: () => T): T => {
    const t0 = now();
    try {
      return immediate(fn);
    } finally {
      const r = rec();
      r.db += now() - t0;
      r.dbTx++;
    }
  };
  const fenced = store.fencedTransition.bind(store);
  s.fencedTransition = (...args: Parameters<Store['fencedTransition']>) => {
    const out = fenced(...args);
    const patch = args[4] ?? {};
    rec().marks.push({ at: now(), to: args[3], step: patch.step, baseCommit: !!patch.baseCommit });
    return out;
  };
  return () => {
    for (const u of undo.reverse()) u();
    delete s.immediate;
    delete s.fencedTransition;
  };
}

const mtime = (file: string): number | undefined => {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
};

/** Removes a run's worktree (locked or not) and branch, outside any timing. */
async function removeWorktree(repo: string, worktree: string, branch: string): Promise<void> {
  await execFileP('git', ['worktree', 'remove', '--force', '--force', '--', worktree], { cwd: repo }).catch(() => rmrf(worktree));
  await execFileP('git', ['worktree', 'prune'], { cwd: repo }).catch(() => undefined);
  await execFileP('git', ['branch', '-D', '--', branch], { cwd: repo }).catch(() => undefined);
}

/**
 * After a measured spawn: kill the agent, let its supervisor record the exit, let a leader
 * unlock the worktree (so the next measured tick has nothing left over to do), remove it.
 */
async function settle(store: Store, runId: string, agentPid: number, leaderTick: () => Promise<void>): Promise<void> {
  killPid(agentPid);
  await until(() => {
    const r = store.getRun(runId);
    return !r || !isActive(r.status);
  }, 10_000);
  await leaderTick();
  const run = store.getRun(runId);
  if (run) await removeWorktree(run.repo, run.worktree, run.branch);
}

export async function measureSpawn(o: SpawnBenchOptions): Promise<SpawnSizeResult[]> {
  const results: SpawnSizeResult[] = [];
  for (const [i, files] of o.sizes.entries()) results.push(await measureSize(files, { ...o, warmup: o.warmup && i === 0 }));
  return results;
}

async function measureSize(files: number, o: SpawnBenchOptions): Promise<SpawnSizeResult> {
  const log = o.log ?? (() => undefined);
  const dir = tempDir(`spawn${files}`);
  const tGen = now();
  const repo = generateRepo(dir, files, 80);
  log(`  spawn: generated ${files} files in ${Math.round(now() - tGen)} ms`);
  const stateDir = path.join(dir, 'state');
  const cliState = path.join(dir, 'state-cli');
  const traces = path.join(dir, 'traces');
  fs.mkdirSync(traces);
  const store = Store.open(stateDir);
  const lease = new LeaderLease(store, { label: 'bench' });
  if (!lease.tryAcquire()) throw new Error('bench: could not lead a fresh state dir');
  const orchestrator = new Orchestrator({ store, lease, stateDir, nodePath: NODE, cliPath: CLI, maxParallel: 1000, log: () => undefined });
  const cliStore = Store.open(cliState);
  const cliTick = async () => {
    const l = new LeaderLease(cliStore, { label: 'bench cleanup' });
    if (!l.tryAcquire()) return;
    const orch = new Orchestrator({ store: cliStore, lease: l, stateDir: cliState, nodePath: NODE, cliPath: CLI, maxParallel: 1000 });
    try {
      await orch.tick();
    } finally {
      orch.dispose();
      l.dispose();
    }
  };
  let rec = fresh();
  const restore = instrument(store, () => rec);

  const result: SpawnSizeResult = { files, baseline: [], ours: [], cli: [], pairRatios: [], pairOverheads: [], cliRatios: [], baselineAdd: [], baselineAgent: [], phases: [], gitCommands: [], errors: [] };
  let n = 0;
  const tracePath = (kind: string) => path.join(traces, `${kind}-${++n}.jsonl`);

  let baselines = 0;
  const baseline = async (): Promise<{ total: number; add: number; agent: number }> => {
    const i = ++baselines;
    const trace = tracePath('baseline');
    const wt = path.join(dir, 'baseline-wt', `b${i}`);
    const branch = `bench/baseline-${i}`;
    fs.mkdirSync(path.dirname(wt), { recursive: true });
    const t0 = now();
    await execFileP('git', ['worktree', 'add', '-b', branch, wt, 'main'], { cwd: repo });
    const tAdd = now();
    const child = spawn(AGENT[0], AGENT.slice(1), { cwd: wt, env: { ...process.env, FAKE_AGENT_TRACE: trace }, stdio: 'ignore', detached: true });
    child.unref();
    const line = await waitTrace(trace);
    killPid(child.pid);
    await removeWorktree(repo, wt, branch);
    return { total: line.at - t0, add: tAdd - t0, agent: line.at - tAdd };
  };

  let oursPriority = 0;
  const ours = async (): Promise<{ total: number; phases: OursPhases }> => {
    const trace = tracePath('ours');
    const priority = priorityId(++oursPriority);
    // The supervisor inherits this process's environment: that is how the agent finds its trace file.
    process.env.FAKE_AGENT_TRACE = trace;
    rec = fresh();
    const t0 = now();
    const run = await requestSpawn(store, stateDir, repo, priority, { agentCommand: AGENT }, { requestedBy: 'bench' });
    const tReq = now();
    await orchestrator.tick();
    const line = await waitTrace(trace);
    delete process.env.FAKE_AGENT_TRACE;
    const r = rec;
    rec = fresh();
    const intent = r.marks.find((m) => m.baseCommit)?.at ?? tReq;
    const ready = r.marks.find((m) => m.step === 'spawn')?.at ?? intent;
    const supervisorUp = mtime(path.join(runDir(stateDir, run.id), 'supervisor.json')) ?? ready;
    const phases: OursPhases = {
      request: tReq - t0,
      preWorktree: intent - tReq,
      worktree: ready - intent,
      supervisor: supervisorUp - ready,
      agent: line.at - supervisorUp,
      git: r.git,
      gitCalls: r.gitCalls,
      db: r.db,
      dbTx: r.dbTx,
    };
    if (!result.gitCommands.length) result.gitCommands = r.gitCommands;
    const after = store.getRun(run.id);
    if (after?.status !== 'running') result.errors.push(`${priority}: run is ${after?.status} after the tick${after?.error ? ` (${after.error})` : ''}`);
    if (line.cwd !== run.worktree) result.errors.push(`${priority}: agent ran in ${line.cwd}, not ${run.worktree}`);
    await settle(store, run.id, line.pid, () => orchestrator.tick());
    return { total: line.at - t0, phases };
  };

  let cliPriority = 40;
  const viaCli = async (): Promise<number> => {
    const trace = tracePath('cli');
    const priority = priorityId(++cliPriority);
    const t0 = now();
    await execFileP(NODE, [CLI, '--repo', repo, '--state-dir', cliState, 'spawn', priority, '--agent-command', JSON.stringify(AGENT), '--max-parallel', '1000', '--wait'], {
      env: { ...process.env, FAKE_AGENT_TRACE: trace },
    }).catch((e: { stderr?: string; message: string }) => {
      throw new Error(`cli spawn failed: ${e.stderr || e.message}`);
    });
    const line = await waitTrace(trace);
    const run = cliStore.listRuns().find((x) => x.priority === priority);
    if (run) await settle(cliStore, run.id, line.pid, cliTick);
    else killPid(line.pid);
    return line.at - t0;
  };

  try {
    if (o.warmup) {
      await baseline();
      await ours();
      if (o.cli) await viaCli();
    }
    for (let rep = 0; rep < o.reps; rep++) {
      const b = await baseline();
      const u = await ours();
      result.baseline.push(b.total);
      result.baselineAdd.push(b.add);
      result.baselineAgent.push(b.agent);
      result.ours.push(u.total);
      result.phases.push(u.phases);
      result.pairRatios.push(u.total / b.total);
      result.pairOverheads.push(u.total - b.total);
      if (o.cli) {
        const c = await viaCli();
        result.cli.push(c);
        result.cliRatios.push(c / b.total);
      }
    }
    log(`  spawn ${files} files: baseline ${median(result.baseline).toFixed(0)} ms, ours ${median(result.ours).toFixed(0)} ms${o.cli ? `, cli ${median(result.cli).toFixed(0)} ms` : ''}`);
  } finally {
    restore();
    orchestrator.dispose();
    lease.dispose();
    store.close();
    cliStore.close();
    // Any agent still alive (an error mid-way) is ours to end: the traces name them.
    for (const f of fs.readdirSync(traces)) {
      for (const l of fs.readFileSync(path.join(traces, f), 'utf8').split('\n').filter(Boolean)) killPid((JSON.parse(l) as { pid: number }).pid);
    }
    try {
      git(repo, 'worktree', 'prune');
    } catch {
      // removed with the folder anyway
    }
    rmrf(dir);
  }
  return result;
}

/** Per-phase medians over the repetitions. */
export function medianPhases(phases: OursPhases[]): OursPhases {
  const keys = ['request', 'preWorktree', 'worktree', 'supervisor', 'agent', 'git', 'gitCalls', 'db', 'dbTx'] as const;
  const out = {} as OursPhases;
  for (const k of keys) out[k] = median(phases.map((p) => p[k]));
  return out;
}
