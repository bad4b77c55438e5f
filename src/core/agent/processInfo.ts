import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A process identity that survives pid reuse: the pid plus the kernel's start time of
 * that pid. A recorded (pid, start) pair is alive only if both still match.
 */
export interface ProcessIdentity {
  pid: number;
  start: string | null;
}

export const hostName = os.hostname();

/** Start time of a live, non-zombie process, or null if it is gone. */
export function processStart(pid: number): string | null | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform === 'linux') return procStat(pid)?.start ?? null;
  // Elsewhere: liveness only; the start time is unknown (undefined, not null).
  try {
    process.kill(pid, 0);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? undefined : null;
  }
}

export function currentIdentity(pid = process.pid): ProcessIdentity {
  return { pid, start: processStart(pid) ?? null };
}

export function isAlive(id: ProcessIdentity | { pid: number | null; start: string | null }): boolean {
  if (id.pid == null) return false;
  const start = processStart(id.pid);
  if (start === null) return false;
  if (start === undefined || id.start == null) return true; // cannot compare: trust the pid
  return start === id.start;
}

/** Signals a whole process group; false if it no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

// --- Linux /proc scans: what a run left running, what uses a worktree -----------------------

/** A process as /proc/<pid>/stat shows it. */
interface ProcStat extends ProcessIdentity {
  start: string;
  ppid: number;
  pgrp: number;
  session: number;
}

/** Null when it is gone or a zombie (it has exited already). */
function procStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X' || f[19] === undefined) return null;
  // Field 22, starttime in clock ticks since boot, tells a reused pid apart.
  return { pid, start: f[19], ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]) };
}

function allPids(): number[] {
  if (process.platform !== 'linux') return [];
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

function environOf(pid: number): Buffer | null {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`);
  } catch {
    return null; // gone, or another user's
  }
}

/**
 * Whether a NUL-separated environment block holds exactly `entry` (NAME=value). Compared as
 * bytes: the kernel keeps the bytes Node encoded as UTF-8, and any decoding (latin1, say)
 * of a non-ASCII path would never equal the JS string.
 */
function hasEntry(env: Buffer, entry: Buffer): boolean {
  for (let i = env.indexOf(entry); i >= 0; i = env.indexOf(entry, i + 1)) {
    const end = i + entry.length;
    if ((i === 0 || env[i - 1] === 0) && (end === env.length || env[end] === 0)) return true;
  }
  return false;
}

/** The value of NAME in an environment block, or undefined. */
function entryValue(env: Buffer, name: string): Buffer | undefined {
  const key = Buffer.from(`${name}=`);
  for (let i = env.indexOf(key); i >= 0; i = env.indexOf(key, i + 1)) {
    if (i !== 0 && env[i - 1] !== 0) continue;
    const end = env.indexOf(0, i);
    return env.subarray(i + key.length, end < 0 ? env.length : end);
  }
  return undefined;
}

const stateDirEntry = (stateDir: string) => Buffer.from(`WTO_STATE_DIR=${stateDir}`);

/** Live processes (of this user, on Linux) started for runs of this state dir: WTO_RUN_ID and WTO_STATE_DIR in their environment. */
export function processesWithRunIds(stateDir: string): Array<{ pid: number; runId: string }> {
  const ours = stateDirEntry(stateDir);
  const out: Array<{ pid: number; runId: string }> = [];
  for (const pid of allPids()) {
    const env = environOf(pid);
    if (!env || !hasEntry(env, ours)) continue;
    const runId = entryValue(env, 'WTO_RUN_ID');
    if (runId?.length && isAlive({ pid, start: null })) out.push({ pid, runId: runId.toString('utf8') });
  }
  return out;
}

/**
 * The live processes of one run (Linux; elsewhere none are found): those whose environment
 * carries the run's WTO_RUN_ID with this state dir's WTO_STATE_DIR, those in `session` (the
 * supervisor's own session: whatever the agent started without `setsid`), and every
 * descendant of those by parent pid (which catches a child that cleared its environment).
 * Never this process.
 */
export function runProcesses(stateDir: string, runId: string, o: { session?: number } = {}): ProcessIdentity[] {
  const entries = [stateDirEntry(stateDir), Buffer.from(`WTO_RUN_ID=${runId}`)];
  const stats: ProcStat[] = [];
  const found = new Map<number, ProcStat>();
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    const st = procStat(pid);
    if (!st) continue;
    stats.push(st);
    const env = environOf(pid);
    if ((o.session !== undefined && st.session === o.session) || (env && entries.every((e) => hasEntry(env, e)))) found.set(pid, st);
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const st of stats) {
      if (!found.has(st.pid) && found.has(st.ppid)) {
        found.set(st.pid, st);
        grew = true;
      }
    }
  }
  return [...found.values()].map(({ pid, start }) => ({ pid, start }));
}

/** This process's session id (Linux), or undefined. */
export function ownSession(): number | undefined {
  return procStat(process.pid)?.session;
}

export type ProcessUse = { pid: number; why: string };

/**
 * The live processes that use a worktree: their working directory is inside it, or (given
 * the run) they carry that run's WTO_RUN_ID for this state dir. Linux only (/proc); elsewhere
 * none are found. Never this process, nor those in `except`.
 */
export function processesUsing(worktree: string, run?: { stateDir: string; runId: string; except?: number[] }): ProcessUse[] {
  let real: string;
  try {
    real = fs.realpathSync(worktree);
  } catch {
    real = worktree;
  }
  const dir = Buffer.from(real);
  const entries = run ? [stateDirEntry(run.stateDir), Buffer.from(`WTO_RUN_ID=${run.runId}`)] : [];
  const out: ProcessUse[] = [];
  for (const pid of allPids()) {
    if (pid === process.pid || run?.except?.includes(pid)) continue;
    let cwd: Buffer | undefined;
    try {
      cwd = fs.readlinkSync(`/proc/${pid}/cwd`, { encoding: 'buffer' });
    } catch {
      // gone, or another user's
    }
    if (cwd && cwd.subarray(0, dir.length).equals(dir) && (cwd.length === dir.length || cwd[dir.length] === 0x2f)) {
      out.push({ pid, why: 'works in it' });
      continue;
    }
    const env = entries.length ? environOf(pid) : null;
    if (env && entries.every((e) => hasEntry(env, e)) && procStat(pid)) out.push({ pid, why: `carries WTO_RUN_ID=${run!.runId}` });
  }
  return out;
}

/** "process 4321 (sleep: works in it), process 4400 (node: carries WTO_RUN_ID=r1)" */
export function describeUses(uses: ProcessUse[]): string {
  return uses.map((u) => `process ${u.pid} (${[commandName(u.pid), u.why].filter(Boolean).join(': ')})`).join(', ');
}

/** A short name for a pid in messages: "4321 (sleep)". */
export function describePid(pid: number): string {
  const name = commandName(pid);
  return name ? `${pid} (${name})` : String(pid);
}

function commandName(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return ''; // gone, or not Linux
  }
}

/**
 * Ends processes: SIGTERM, SIGKILL to those still alive after `graceMs`, then a few rounds
 * of rescanning (a straggler may have forked meanwhile) and SIGKILL. Each signal goes
 * through `send`, which may refuse by throwing (a deposed leader). Resolves with those it
 * could not end.
 */
export async function endProcesses(scan: () => ProcessIdentity[], graceMs: number, send: (p: ProcessIdentity, signal: NodeJS.Signals) => void): Promise<ProcessIdentity[]> {
  const signal = (p: ProcessIdentity, sig: NodeJS.Signals) => {
    if (!isAlive(p)) return; // pid + start time: never a reused pid
    try {
      send(p, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH' && (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    }
  };
  const waitGone = async (ps: ProcessIdentity[], ms: number) => {
    for (const until = Date.now() + ms; ps.some(isAlive) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  };
  let targets = scan();
  if (!targets.length) return [];
  for (const p of targets) signal(p, 'SIGTERM');
  await waitGone(targets, graceMs);
  for (let round = 0; round < 3; round++) {
    targets = [...targets.filter(isAlive), ...scan()].filter((p, i, all) => all.findIndex((q) => q.pid === p.pid) === i);
    if (!targets.length) return [];
    for (const p of targets) signal(p, 'SIGKILL');
    await waitGone(targets, 1000);
  }
  return targets.filter(isAlive);
}

/** Pids of the `git merge` processes working in `root` itself, e.g. one orphaned by a killed leader (Linux; elsewhere none are found). */
export function gitMergesIn(root: string): number[] {
  return allPids().filter((pid) => {
    try {
      if (fs.readlinkSync(`/proc/${pid}/cwd`) !== root) return false;
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return /^git(-merge)?$/.test(path.basename(argv[0])) && argv.includes('merge');
    } catch {
      return false; // gone, or not ours to read
    }
  });
}
