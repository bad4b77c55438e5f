// Loop throughput: `cli start --loop` works through N planned priorities with a short agent
// at maxParallel P. The baseline is the ideal, measured in the same run by hand: the agents'
// time spread over P slots, plus one `git worktree add` each (git serializes the adds of one
// repository, so they cannot overlap).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../src/core/db/store';
import { CLI, FAKE_AGENT, NODE, generateRepo, median, now, rmrf, spawnLines, tempDir } from './lib';
import { sleep } from '../test/support/wait';
import { git } from '../test/support/git';
import { Run } from '../src/core/model/run';

export interface ThroughputOptions {
  priorities: number;
  agentMs: number;
  maxParallel: number;
  /** Repetitions of the by-hand measurements (agent run, worktree add). */
  reps: number;
  log?: (line: string) => void;
}

export interface ThroughputResult {
  totalMs: number;
  idealMs: number;
  /** CPU time of the leader process itself (user + system), from /proc. */
  leaderCpuMs: number;
  agentMs: number;
  addMs: number;
  succeeded: number;
  /** Most runs provisioning-to-ended at once (must not exceed maxParallel). */
  maxConcurrent: number;
  /** Priorities that got more than one run. */
  repeated: number;
}

export async function measureThroughput(o: ThroughputOptions): Promise<ThroughputResult> {
  const dir = tempDir('throughput');
  try {
    const repo = generateRepo(dir, 200, o.priorities);
    const agent = [NODE, FAKE_AGENT, `sleep:${o.agentMs}`];
    const agentMs = median(Array.from({ length: o.reps }, () => timeSync(() => spawnSync(agent[0], agent.slice(1), { stdio: 'ignore' }))));
    const adds = byHandAdds(repo, dir, o.reps, 'before');
    const state = path.join(dir, 'state');
    const t0 = now();
    const leader = spawnLines(NODE, [CLI, 'start', '--loop', '--repo', repo, '--state-dir', state, '--max-parallel', String(o.maxParallel), '--agent-command', JSON.stringify(agent)]);
    let runs: Run[] = [];
    let store: Store | undefined;
    let leaderCpuMs = NaN;
    try {
      for (;;) {
        store ??= openWhenThere(state);
        runs = store?.listRuns() ?? [];
        const succeeded = new Set(runs.filter((r) => r.status === 'succeeded').map((r) => r.priority));
        if (succeeded.size >= o.priorities) break;
        if (leader.child.exitCode !== null) throw new Error(`the leader exited (${leader.child.exitCode}): ${leader.lines.map((l) => l.line).join(' | ').slice(-400)}`);
        if (now() - t0 > 600_000) throw new Error(`after 600 s only ${succeeded.size} of ${o.priorities} priorities succeeded`);
        await sleep(50);
      }
      leaderCpuMs = cpuMs(leader.child.pid!);
    } finally {
      store?.close();
      await leader.kill('SIGTERM');
    }
    const totalMs = now() - t0;
    // Adds by hand before and after (then beside the run's 200 worktrees): the machine drifts, and so does git.
    const addMs = median([...adds, ...byHandAdds(repo, dir, o.reps, 'after')]);
    const idealMs = (o.priorities * agentMs) / o.maxParallel + o.priorities * addMs;
    const perPriority = new Map<string, number>();
    for (const r of runs) perPriority.set(r.priority, (perPriority.get(r.priority) ?? 0) + 1);
    if (process.env.BENCH_PHASES) logPhases(state, o.log);
    const result = { totalMs, idealMs, leaderCpuMs, agentMs, addMs, succeeded: runs.filter((r) => r.status === 'succeeded').length, maxConcurrent: maxOverlap(runs), repeated: [...perPriority.values()].filter((n) => n > 1).length };
    o.log?.(`throughput: ${JSON.stringify(result)}`);
    return result;
  } finally {
    rmrf(dir);
  }
}

/** BENCH_PHASES=1: where a run's time goes, from its events (median gap between consecutive ones). */
function logPhases(state: string, log: ((line: string) => void) | undefined): void {
  const st = Store.open(state);
  const gaps = new Map<string, number[]>();
  for (const r of st.listRuns()) {
    const ev = st.events().filter((e) => e.runId === r.id);
    for (let i = 1; i < ev.length; i++) {
      const k = `${ev[i - 1].detail?.split(' ')[0] ?? ev[i - 1].kind} -> ${ev[i].detail?.split(' ')[0] ?? ev[i].kind}`;
      gaps.set(k, [...(gaps.get(k) ?? []), ev[i].at - ev[i - 1].at]);
    }
  }
  st.close();
  for (const [k, v] of gaps) log?.(`phase ${k}: median ${median(v).toFixed(0)} ms n=${v.length}`);
}

function cpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [utime, stime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 13).map(Number);
    return ((utime + stime) * 1000) / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

/** `git worktree add -b` of the repository's main by hand, `reps` times (each removed after). */
function byHandAdds(repo: string, dir: string, reps: number, tag: string): number[] {
  return Array.from({ length: reps }, (_, i) => {
    const name = `by-hand-${tag}-${i}`;
    const wt = path.join(dir, name);
    const ms = timeSync(() => execFileSync('git', ['worktree', 'add', '-q', '-b', name, wt, 'main'], { cwd: repo, stdio: 'ignore' }));
    git(repo, 'worktree', 'remove', '--force', wt);
    git(repo, 'branch', '-D', name);
    return ms;
  });
}

function timeSync(fn: () => unknown): number {
  const t0 = now();
  fn();
  return now() - t0;
}

/** The leader's database once the leader has made it. */
function openWhenThere(state: string): Store | undefined {
  try {
    return fs.existsSync(path.join(state, 'state.db')) ? Store.open(state) : undefined;
  } catch {
    return undefined; // being created: the next poll
  }
}

/** Most runs holding a slot at once, from their recorded provisioning start (created) to their end. */
function maxOverlap(runs: Run[]): number {
  const edges = runs.flatMap((r) => [{ at: r.createdAt, d: 1 }, { at: r.endedAt ?? Infinity, d: -1 }]).sort((a, b) => a.at - b.at || a.d - b.d);
  let n = 0;
  let max = 0;
  for (const e of edges) max = Math.max(max, (n += e.d));
  return max;
}
