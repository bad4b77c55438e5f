// 1. Spawn latency: from the spawn call to the agent running in its ready worktree (the
// fake agent's first trace line), against doing the same by hand: `git worktree add -b`
// then spawning the agent. Interleaved baseline / ours (/ CLI / warm pool), in ABBA order,
// so drift hits them all alike.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { runDir } from '../src/core/agent/agents';
import { GitRepo } from '../src/core/git/git';
import { LeaderLease } from '../src/core/leader/leaderLease';
import { Orchestrator } from '../src/core/leader/orchestrator';
import { requestSpawn } from '../src/core/requests';
import { Store } from '../src/core/db/store';
import { CLI, FAKE_AGENT, NODE, generateRepo, killPid, median, now, priorityId, rmrf, tempDir, waitTrace } from './lib';
import { waitUntil } from '../test/support/wait';
import { git } from '../test/support/git';
import { isActive } from '../src/core/model/runStatus';

const execFileP = promisify(execFile);

/** The agent sleeps, so it is surely running when its trace is read; the bench kills it. */
const AGENT = [NODE, FAKE_AGENT, 'sleep:120000'];

export interface SpawnBenchOptions {
  sizes: number[];
  /** Repetitions at each size (same order as sizes): small sizes are cheap, and noisier. */
  reps: number[];
  /** One untimed round before the first size (JIT, first loads of the bundle and of git). */
  warmup?: boolean;
  /** Sizes at which `dist/cli.js spawn --wait` is also timed end to end. */
  cliSizes?: number[];
  /** Sizes at which a spawn from core's warm pool (warmPoolSize 1) is also timed. */
  poolSizes?: number[];
  log?: (line: string) => void;
}

/** Where the time goes in one in-process spawn, in ms. */
export interface OursPhases {
  /** requestSpawn: validation, roadmap, branch/path checks, the claim transaction. */
  request: number;
  /** tick up to the worktree intent: fence, GitRepo.open, base commit. */
  preWorktree: number;
  /** Making the worktree (`git worktree add`, with whatever checks core does), until recorded. */
  worktree: number;
  /** Worktree setup (included files, setup command) until the 'spawn' intent is recorded. */
  setup: number;
  /**
   * From the worktree intent until the supervisor has claimed the run (supervisor.json).
   * It is launched once git is busy, so this overlaps the checkout: it is not on the path
   * unless it exceeds the worktree phase.
   */
  supervisor: number;
  /** From the 'spawn' intent ('go') until the agent's first line: compare the baseline's agent start. */
  agent: number;
  /** Sum of git child processes (count in gitCalls). */
  git: number;
  gitCalls: number;
  /** The `git worktree add` call alone. */
  worktreeAdd: number;
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
  /** Spawns that took a warm pool worktree, and their ratios to the pair's baseline. */
  pool: number[];
  poolRatios: number[];
  /** Pool spawns that did not take a pool worktree (fell back to a cold add). */
  poolMisses: number;
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
  worktreeAdd: number;
  db: number;
  dbTx: number;
  marks: Array<{ at: number; to: string; step: string | null | undefined; baseCommit: boolean }>;
}

const fresh = (): Recorder => ({ git: 0, gitCalls: 0, gitCommands: [], worktreeAdd: 0, db: 0, dbTx: 0, marks: [] });

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
        const ms = now() - t0;
        r.git += ms;
        r.gitCalls++;
        const argv = (args.find(Array.isArray) as string[] | undefined) ?? (name === 'open' ? ['rev-parse'] : []);
        const command = argv.slice(0, argv[0] === 'worktree' ? 2 : 1).join(' ');
        if (command === 'worktree add') r.worktreeAdd += ms;
        r.gitCommands.push(command);
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
  // Deleting thousands of files leaves journal (and, with -o discard, trim) work behind
  // that would slow the next measured checkout: flush it here, outside the timing.
  await execFileP('sync').catch(() => undefined);
}

/**
 * After a measured spawn: kill the agent, let its supervisor record the exit, let a leader
 * unlock the worktree (so the next measured tick has nothing left over to do), remove it.
 */
export async function settle(store: Store, runId: string, agentPid: number, leaderTick: () => Promise<void>): Promise<void> {
  killPid(agentPid);
  await waitUntil(() => {
    const r = store.getRun(runId);
    return !r || !isActive(r.status);
  }, 10_000);
  await leaderTick();
  const run = store.getRun(runId);
  if (run) await removeWorktree(run.repo, run.worktree, run.branch);
}

export async function measureSpawn(o: SpawnBenchOptions): Promise<SpawnSizeResult[]> {
  const results: SpawnSizeResult[] = [];
  for (const [i, files] of o.sizes.entries()) results.push(await measureSize(files, o.reps[i] ?? o.reps[o.reps.length - 1], { ...o, warmup: o.warmup && i === 0 }));
  return results;
}

async function measureSize(files: number, reps: number, o: SpawnBenchOptions): Promise<SpawnSizeResult> {
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

  const result: SpawnSizeResult = {
    files,
    baseline: [],
    ours: [],
    cli: [],
    pairRatios: [],
    pairOverheads: [],
    cliRatios: [],
    pool: [],
    poolRatios: [],
    poolMisses: 0,
    baselineAdd: [],
    baselineAgent: [],
    phases: [],
    gitCommands: [],
    errors: [],
  };
  const withCli = !!o.cliSizes?.includes(files);
  const withPool = !!o.poolSizes?.includes(files);
  // The warm pool: a second leader on its own state dir, with one worktree kept ready.
  const poolState = path.join(dir, 'state-pool');
  const poolStore = withPool ? Store.open(poolState) : undefined;
  const poolLease = poolStore && new LeaderLease(poolStore, { label: 'bench pool' });
  if (poolLease && !poolLease.tryAcquire()) throw new Error('bench: could not lead the pool state dir');
  const poolOrchestrator =
    poolStore && poolLease && new Orchestrator({ store: poolStore, lease: poolLease, stateDir: poolState, nodePath: NODE, cliPath: CLI, maxParallel: 1000, warmPoolSize: 1, log: () => undefined });
  let n = 0;
  const tracePath = (kind: string) => path.join(traces, `${kind}-${++n}.jsonl`);

  let baselines = 0;
  const baseline = async (): Promise<{ total: number; add: number; agent: number }> => {
    const i = ++baselines;
    const trace = tracePath('baseline');
    // Beside the orchestrator's worktrees: file creation speed can depend on the folder.
    const wt = path.join(`${repo}.worktrees`, `baseline-${i}`);
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
    let run: Awaited<ReturnType<typeof requestSpawn>>;
    let tReq: number;
    try {
      run = await requestSpawn(store, stateDir, repo, priority, { agentCommand: AGENT }, { requestedBy: 'bench' });
      tReq = now();
      await orchestrator.tick();
    } finally {
      delete process.env.FAKE_AGENT_TRACE;
    }
    const line = await waitTrace(trace);
    const r = rec;
    rec = fresh();
    const intent = r.marks.find((m) => m.baseCommit)?.at ?? tReq;
    const spawnIntent = r.marks.find((m) => m.step === 'spawn')?.at ?? intent;
    // The worktree is recorded ready by the first transition after the intent (step 'setup').
    const ready = r.marks.find((m) => m.at > intent && (m.step === 'setup' || m.step === 'spawn'))?.at ?? spawnIntent;
    const supervisorUp = mtime(path.join(runDir(stateDir, run.id), 'supervisor.json')) ?? spawnIntent;
    const phases: OursPhases = {
      request: tReq - t0,
      preWorktree: intent - tReq,
      worktree: ready - intent,
      setup: spawnIntent - ready,
      supervisor: supervisorUp - intent,
      agent: line.at - spawnIntent,
      git: r.git,
      gitCalls: r.gitCalls,
      worktreeAdd: r.worktreeAdd,
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

  let poolPriority = 60;
  const viaPool = async (): Promise<{ total: number; took: boolean }> => {
    const [pStore, pOrch] = [poolStore!, poolOrchestrator!];
    await pOrch.pool.idle(); // the refill after the previous take is not part of a spawn
    const trace = tracePath('pool');
    const priority = priorityId(++poolPriority);
    process.env.FAKE_AGENT_TRACE = trace;
    const t0 = now();
    let run: Awaited<ReturnType<typeof requestSpawn>>;
    try {
      run = await requestSpawn(pStore, poolState, repo, priority, { agentCommand: AGENT }, { requestedBy: 'bench' });
      await pOrch.tick();
    } finally {
      delete process.env.FAKE_AGENT_TRACE;
    }
    const line = await waitTrace(trace);
    const took = pStore.events(run.id).some((e) => e.kind === 'take-pool-worktree');
    await pOrch.pool.idle();
    await settle(pStore, run.id, line.pid, () => pOrch.tick());
    return { total: line.at - t0, took };
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
    if (poolOrchestrator && poolLease) {
      poolOrchestrator.pool.refill(repo, `${repo}.worktrees`, 'main');
      await poolOrchestrator.pool.idle();
    }
    if (o.warmup) {
      await baseline();
      await ours();
      if (withCli) await viaCli();
      if (withPool) await viaPool();
    }
    // Baseline, ours, CLI, pool — then the reverse order in the next round (ABBA), so that a
    // machine getting slower or faster during the run does not favour whoever goes first.
    for (let rep = 0; rep < reps; rep++) {
      let b: Awaited<ReturnType<typeof baseline>> | undefined;
      let u: Awaited<ReturnType<typeof ours>> | undefined;
      let c: number | undefined;
      let p: Awaited<ReturnType<typeof viaPool>> | undefined;
      const steps: Array<() => Promise<void>> = [
        async () => void (b = await baseline()),
        async () => void (u = await ours()),
        ...(withCli ? [async () => void (c = await viaCli())] : []),
        ...(withPool ? [async () => void (p = await viaPool())] : []),
      ];
      for (const step of rep % 2 ? steps.reverse() : steps) await step();
      result.baseline.push(b!.total);
      result.baselineAdd.push(b!.add);
      result.baselineAgent.push(b!.agent);
      result.ours.push(u!.total);
      result.phases.push(u!.phases);
      result.pairRatios.push(u!.total / b!.total);
      result.pairOverheads.push(u!.total - b!.total);
      if (c !== undefined) {
        result.cli.push(c);
        result.cliRatios.push(c / b!.total);
      }
      if (p?.took) {
        result.pool.push(p.total);
        result.poolRatios.push(p.total / b!.total);
      } else if (p) result.poolMisses++;
    }
    log(
      `  spawn ${files} files: baseline ${median(result.baseline).toFixed(0)} ms, ours ${median(result.ours).toFixed(0)} ms` +
        `${withCli ? `, cli ${median(result.cli).toFixed(0)} ms` : ''}${withPool ? `, warm pool ${median(result.pool).toFixed(0)} ms` : ''}`,
    );
  } finally {
    restore();
    orchestrator.dispose();
    lease.dispose();
    store.close();
    cliStore.close();
    if (poolOrchestrator) {
      await poolOrchestrator.pool.idle();
      poolOrchestrator.dispose();
    }
    poolLease?.dispose();
    poolStore?.close();
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
  const keys = ['request', 'preWorktree', 'worktree', 'setup', 'supervisor', 'agent', 'git', 'gitCalls', 'worktreeAdd', 'db', 'dbTx'] as const;
  const out = {} as OursPhases;
  for (const k of keys) out[k] = median(phases.map((p) => p[k]));
  return out;
}
