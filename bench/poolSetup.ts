// Warm pool with the setup command done ahead: spawn → agent running in a repository whose
// setup is `npm ci` of a real package-lock.json, against doing it by hand — `git worktree
// add`, `npm ci`, then starting the agent. Both sides use one npm cache inside the bench's
// temp folder, warmed once first, so neither pays the network. Interleaved, ABBA. Beside them,
// the floor of any supervised spawn: a supervisor started with 'go' already written, in a
// worktree already set up, until its agent's first line — no request, git, or database.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { LeaderLease } from '../src/core/leader/leaderLease';
import { Orchestrator } from '../src/core/leader/orchestrator';
import { requestSpawn } from '../src/core/requests';
import { Store } from '../src/core/db/store';
import { CLI, FAKE_AGENT, NODE, TraceLine, generateRepo, killPid, median, now, priorityId, rmrf, tempDir, waitTrace } from './lib';
import { settle } from './spawnLatency';
import { git } from '../test/support/git';
import { launchSupervisor, runDir, sendGo } from '../src/core/agent/agents';

const execFileP = promisify(execFile);
const AGENT = [NODE, FAKE_AGENT, 'sleep:120000'];

/** Small packages, most with a few dependencies of their own: a few dozen in the lockfile. */
const DEPENDENCIES: Record<string, string> = {
  chalk: '4.1.2',
  debug: '4.3.4',
  semver: '7.5.4',
  minimist: '1.2.8',
  'yargs-parser': '21.1.1',
  micromatch: '4.0.5',
  minimatch: '3.1.2',
  once: '1.4.0',
  'readable-stream': '3.6.2',
  'escape-string-regexp': '4.0.0',
  'is-number': '7.0.0',
  'kind-of': '6.0.3',
  uuid: '9.0.1',
  'strip-ansi': '6.0.1',
  'string-width': '4.2.3',
  'wrap-ansi': '7.0.0',
  cliui: '8.0.1',
  'find-up': '5.0.0',
  glob: '7.2.3',
};

export interface PoolSetupOptions {
  reps: number;
  log?: (line: string) => void;
}

export interface PoolSetupResult {
  baseline: number[];
  pool: number[];
  ratios: number[];
  packages: number;
  /** Supervisor started with 'go' already there → its agent's first line, ms (nothing else). */
  supervisedAlone: number[];
  /** The agent alone, started by hand in a set-up worktree → its first line, ms. */
  agentAlone: number[];
  /** Timed spawns that did not take a pool worktree already set up. */
  misses: number;
  /** Per timed pool spawn: ms from the call to each step's record, the supervisor's claim and the agent's first line. */
  phases: Array<Record<string, number>>;
  errors: string[];
}

export async function measurePoolSetup(o: PoolSetupOptions): Promise<PoolSetupResult> {
  const log = o.log ?? (() => undefined);
  const dir = tempDir('poolsetup');
  const result: PoolSetupResult = { baseline: [], pool: [], ratios: [], supervisedAlone: [], agentAlone: [], packages: 0, misses: 0, phases: [], errors: [] };
  const stateDir = path.join(dir, 'state');
  const store = Store.open(stateDir);
  const lease = new LeaderLease(store, { label: 'bench pool setup' });
  try {
    const { repo, setup, packages } = await npmRepo(dir);
    result.packages = packages;
    log(`  poolsetup: ${packages} packages in package-lock.json; setup ${JSON.stringify(setup)}`);
    if (!lease.tryAcquire()) throw new Error('bench: could not lead the pool state dir');
    const orchestrator = new Orchestrator({ store, lease, stateDir, nodePath: NODE, cliPath: CLI, maxParallel: 1000, warmPoolSize: 1, log: () => undefined });
    const sides = { baseline: () => byHand(repo, setup, dir), pool: () => viaPool(store, orchestrator, stateDir, repo, setup, dir, result) };
    await sides.pool(); // untimed: the first spawn has no pool yet; it fills the pool, set up
    for (let i = 0; i < o.reps; i++) {
      const order = i % 2 ? (['pool', 'baseline'] as const) : (['baseline', 'pool'] as const);
      const t: Record<string, number> = {};
      for (const side of order) t[side] = await sides[side]();
      result.baseline.push(t.baseline);
      result.pool.push(t.pool);
      result.ratios.push(t.pool / t.baseline);
      const floor = await floorOf(repo, dir);
      result.supervisedAlone.push(floor.supervised);
      result.agentAlone.push(floor.agent);
      log(`  poolsetup: by hand ${t.baseline.toFixed(0)} ms, pool ${t.pool.toFixed(0)} ms (${describePoolPhases(result.phases.slice(-1))}); supervised agent alone ${floor.supervised.toFixed(0)} ms, agent alone ${floor.agent.toFixed(0)} ms`);
    }
    orchestrator.dispose();
    return result;
  } catch (e) {
    result.errors.push((e as Error).stack ?? String(e));
    return result;
  } finally {
    lease.dispose();
    store.close();
    rmrf(dir);
  }
}

/** A generated repository with package.json and a real package-lock.json, the npm cache warmed once. */
async function npmRepo(dir: string): Promise<{ repo: string; setup: string[]; packages: number }> {
  const repo = generateRepo(dir, 1000, 80);
  const cache = path.join(dir, 'npm-cache');
  fs.writeFileSync(path.join(repo, 'package.json'), JSON.stringify({ name: 'bench-repo', version: '1.0.0', private: true, dependencies: DEPENDENCIES }, null, 2) + '\n');
  fs.writeFileSync(path.join(repo, '.gitignore'), 'node_modules/\n');
  const npmFlags = ['--cache', cache, '--no-audit', '--no-fund', '--loglevel=error'];
  await execFileP('npm', ['install', '--package-lock-only', ...npmFlags], { cwd: repo });
  // Warm the cache once (this fetches the tarballs); from here on both sides install offline.
  await execFileP('npm', ['ci', ...npmFlags], { cwd: repo });
  rmrf(path.join(repo, 'node_modules'));
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'bench: package.json and package-lock.json');
  const lock = JSON.parse(fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  return { repo, setup: ['npm', 'ci', '--offline', ...npmFlags], packages: Object.keys(lock.packages).filter((k) => k).length };
}

let handRuns = 0;
/** git worktree add, npm ci, agent start: until the agent's first line. */
async function byHand(repo: string, setup: string[], dir: string): Promise<number> {
  const i = ++handRuns;
  const trace = path.join(dir, `hand-${i}.jsonl`);
  const wt = path.join(`${repo}.worktrees`, `by-hand-${i}`);
  fs.mkdirSync(path.dirname(wt), { recursive: true });
  const t0 = now();
  await execFileP('git', ['worktree', 'add', '-q', '-b', `by-hand-${i}`, wt, 'main'], { cwd: repo });
  await execFileP(setup[0], setup.slice(1), { cwd: wt });
  const ms = (await agentFirstLine(wt, trace)).at - t0;
  git(repo, 'worktree', 'remove', '--force', wt);
  git(repo, 'branch', '-D', `by-hand-${i}`);
  return ms;
}

/** The agent started by hand in `cwd`, until its first line (then killed): that line. */
async function agentFirstLine(cwd: string, trace: string): Promise<TraceLine> {
  const child = spawn(AGENT[0], AGENT.slice(1), { cwd, env: { ...process.env, FAKE_AGENT_TRACE: trace }, stdio: 'ignore', detached: true });
  child.unref();
  try {
    return await waitTrace(trace, 60_000);
  } finally {
    killPid(child.pid);
  }
}

let floorRuns = 0;
/**
 * The floor under any supervised spawn here: the agent alone, then a supervisor (the same
 * dist/supervisor.js every run has) whose 'go' is already written, each until the agent's
 * first line, in one worktree made and set up first (untimed).
 */
async function floorOf(repo: string, dir: string): Promise<{ agent: number; supervised: number }> {
  const i = ++floorRuns;
  const wt = path.join(`${repo}.worktrees`, `floor-${i}`);
  await execFileP('git', ['worktree', 'add', '-q', '--detach', wt, 'main'], { cwd: repo });
  try {
    const agentTrace = path.join(dir, `floor-agent-${i}.jsonl`);
    const tAgent = now();
    const agentLine = await agentFirstLine(wt, agentTrace);
    const stateDir = path.join(dir, `floor-state-${i}`);
    const runId = `floor-${i}`;
    fs.mkdirSync(runDir(stateDir, runId), { recursive: true });
    sendGo(stateDir, runId, AGENT);
    const trace = path.join(dir, `floor-supervised-${i}.jsonl`);
    const t0 = now();
    const supervisor = launchSupervisor({ stateDir, runId, argv: AGENT, cwd: wt, logPath: path.join(dir, `floor-${i}.log`), env: { FAKE_AGENT_TRACE: trace }, nodePath: NODE, cliPath: CLI });
    const line = await waitTrace(trace, 60_000);
    killPid(line.pid);
    killPid(supervisor);
    return { agent: agentLine.at - tAgent, supervised: line.at - t0 };
  } finally {
    git(repo, 'worktree', 'remove', '--force', wt);
  }
}

let poolRuns = 0;
/** requestSpawn + the leader's tick, taking the pool worktree set up ahead (its refill untimed). */
async function viaPool(store: Store, orchestrator: Orchestrator, stateDir: string, repo: string, setup: string[], dir: string, result: PoolSetupResult): Promise<number> {
  await orchestrator.pool.idle();
  const priority = priorityId(++poolRuns);
  const trace = path.join(dir, `pool-${poolRuns}.jsonl`);
  process.env.FAKE_AGENT_TRACE = trace; // the supervisor inherits it
  const t0 = now();
  let runId: string;
  let tRequested: number;
  try {
    runId = (await requestSpawn(store, stateDir, repo, priority, { agentCommand: AGENT, setupCommand: setup }, { requestedBy: 'bench' })).id;
    tRequested = now();
    await orchestrator.tick();
  } finally {
    delete process.env.FAKE_AGENT_TRACE;
  }
  const line = await waitTrace(trace, 120_000);
  const ms = line.at - t0;
  if (poolRuns > 1) result.phases.push(poolPhases(store, stateDir, runId, t0, tRequested, line.at));
  const took = store.events(runId).some((e) => e.kind === 'take-pool-worktree' && /\(set up\)/.test(e.detail ?? ''));
  if (poolRuns > 1 && !took) result.misses++;
  if (!fs.existsSync(path.join(store.getRun(runId)!.worktree, 'node_modules', 'chalk'))) result.errors.push(`${priority}: no node_modules/chalk in the run's worktree`);
  await orchestrator.pool.idle();
  await settle(store, runId, line.pid, () => orchestrator.tick());
  return ms;
}

/** Where a pool spawn's time goes, from the run's own records: ms after the call. */
function poolPhases(store: Store, stateDir: string, runId: string, t0: number, tRequested: number, agentLine: number): Record<string, number> {
  const at = (test: (e: { kind: string; detail: string | null; toStatus: string | null }) => boolean) => {
    const e = store.events(runId).find(test);
    return e ? e.at - t0 : NaN;
  };
  const written = (file: string) => {
    try {
      return fs.statSync(path.join(runDir(stateDir, runId), file)).mtimeMs - t0;
    } catch {
      return NaN; // gone already
    }
  };
  return {
    requested: tRequested - t0,
    taken: at((e) => e.kind === 'take-pool-worktree'),
    worktreeReady: at((e) => e.detail === 'worktree ready'),
    setupDone: at((e) => /^setup /.test(e.detail ?? '')),
    supervisorUp: written('supervisor.json'),
    go: written('go'),
    agentStarted: written('agent.json'),
    running: at((e) => e.toStatus === 'running'),
    agentLine: agentLine - t0,
  };
}

/** "requested 40, taken 60, …": the median of each phase. */
export function describePoolPhases(phases: Array<Record<string, number>>): string {
  if (!phases.length) return '';
  return Object.keys(phases[0])
    .map((k) => `${k} ${median(phases.map((p) => p[k]).filter((v) => !Number.isNaN(v))).toFixed(0)}`)
    .join(', ');
}

export const poolSetupRatio = (r: PoolSetupResult): number => median(r.ratios);
