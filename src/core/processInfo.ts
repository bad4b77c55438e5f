import * as fs from 'node:fs';
import * as os from 'node:os';

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
  if (process.platform === 'linux') {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return null;
    }
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return null; // a zombie has exited already
    return fields[19] ?? null; // field 22: starttime in clock ticks since boot
  }
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
