// 6. Idle: CPU used by a `dist/cli.js start` leader with no runs over a window, from
// /proc/<pid>/stat (utime + stime, all threads), against a bare Node process with a 1 s
// interval timer measured over the same window.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, LineChild, NODE, generateRepo, rmrf, spawnLines, tempDir } from './lib';
import { sleep } from '../test/support/wait';

export interface IdleResult {
  seconds: number;
  /** CPU ms of the idle leader over the window. */
  leaderCpuMs: number;
  /** CPU ms of `node -e "setInterval(()=>{},1000)"` over the same window. */
  baselineCpuMs: number;
  /** Main-thread voluntary context switches per second: how often it wakes up. */
  leaderWakeups: number;
  baselineWakeups: number;
  /** Resolution of the CPU figures, ms (one clock tick). */
  tickMs: number;
  /** The same, in ns precision from /proc/<pid>/task/<tid>/schedstat (live threads only), ms. */
  leaderRunMs: number;
  baselineRunMs: number;
  /** The same figures for a standby `start` on the same state folder. */
  standbyCpuMs: number;
  standbyRunMs: number;
  standbyWakeups: number;
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of the whole process (every thread), in ms. */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond(); // fields 14 and 15
}

/** Time on CPU of the live threads, ms, from the scheduler's ns counters. */
export function runMs(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread ended
    }
  }
  return ns / 1e6;
}

function wakeups(pid: number): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export async function measureIdle(seconds: number): Promise<IdleResult> {
  if (process.platform !== 'linux') throw new Error('the idle bench reads /proc: Linux only');
  const dir = tempDir('idle');
  const repo = generateRepo(dir, 5, 3);
  const children: LineChild[] = [];
  try {
    const leader = spawnLines(NODE, [CLI, '--repo', repo, '--state-dir', path.join(dir, 'state'), 'start']);
    children.push(leader);
    const baseline = spawnLines(NODE, ['-e', 'setInterval(()=>{},1000)']);
    children.push(baseline);
    await leader.waitFor(/^leader/, 30_000);
    await leader.waitFor(/^reconciled/, 30_000);
    const standby = spawnLines(NODE, [CLI, '--repo', repo, '--state-dir', path.join(dir, 'state'), 'start']);
    children.push(standby);
    await standby.waitFor(/^standby/, 30_000);
    await sleep(1000); // start-up work (JIT, first reconcile) is not idle
    const l0 = cpuMs(leader.child.pid!);
    const b0 = cpuMs(baseline.child.pid!);
    const lr0 = runMs(leader.child.pid!);
    const br0 = runMs(baseline.child.pid!);
    const lw0 = wakeups(leader.child.pid!);
    const s0 = cpuMs(standby.child.pid!);
    const sr0 = runMs(standby.child.pid!);
    const sw0 = wakeups(standby.child.pid!);
    const bw0 = wakeups(baseline.child.pid!);
    await sleep(seconds * 1000);
    return {
      seconds,
      leaderCpuMs: cpuMs(leader.child.pid!) - l0,
      baselineCpuMs: cpuMs(baseline.child.pid!) - b0,
      leaderWakeups: (wakeups(leader.child.pid!) - lw0) / seconds,
      baselineWakeups: (wakeups(baseline.child.pid!) - bw0) / seconds,
      tickMs: 1000 / ticksPerSecond(),
      leaderRunMs: runMs(leader.child.pid!) - lr0,
      baselineRunMs: runMs(baseline.child.pid!) - br0,
      standbyCpuMs: cpuMs(standby.child.pid!) - s0,
      standbyRunMs: runMs(standby.child.pid!) - sr0,
      standbyWakeups: (wakeups(standby.child.pid!) - sw0) / seconds,
    };
  } finally {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    rmrf(dir);
  }
}
