// A real small file system as the state folder: a tmpfs that tests fill up (full disk) or
// remount read-only. Needs root (mount); callers skip with the printed reason otherwise.
// chmod is no test of read-only here: root ignores permissions, a read-only mount it cannot.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SmallDisk {
  dir: string;
  /** Writes a filler file until the file system refuses another byte; leaves `leaveBytes` free. */
  fill(leaveBytes?: number): void;
  /** Removes the filler: space returns. */
  free(): void;
  readOnly(): void;
  readWrite(): void;
  unmount(): void;
}

/** Mounts a tmpfs of `sizeKiB` on `dir` (created if absent); returns why not when it cannot. */
export function mountSmallDisk(dir: string, sizeKiB = 2048): SmallDisk | string {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', '--', dir], { stdio: 'pipe' });
  } catch (e) {
    return `mount -t tmpfs was refused: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`;
  }
  const filler = path.join(dir, 'filler');
  const remount = (how: string) => execFileSync('mount', ['-o', `remount,${how}`, '--', dir], { stdio: 'pipe' });
  return {
    dir,
    fill(leaveBytes = 0) {
      const fd = fs.openSync(filler, 'a');
      try {
        for (const chunk of [1 << 16, 4096, 1]) {
          const buf = Buffer.alloc(chunk, 0x78);
          for (;;) {
            try {
              fs.writeSync(fd, buf);
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw e;
            }
          }
        }
        if (leaveBytes > 0) fs.ftruncateSync(fd, Math.max(0, fs.fstatSync(fd).size - leaveBytes));
      } finally {
        fs.closeSync(fd);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    readOnly: () => remount('ro'),
    readWrite: () => remount('rw'),
    unmount() {
      try {
        execFileSync('umount', ['-l', '--', dir], { stdio: 'pipe' });
      } catch {
        // not mounted (any more)
      }
    },
  };
}

/** A stack trace in a command's output: "    at fn (file:line:col)". */
export const STACK_LINE = /^\s+at .+:\d+(:\d+)?\)?$/m;

/** Pids of the supervisors that claimed runs in a state folder (from their supervisor.json). */
export function supervisorPids(state: string): number[] {
  const runs = path.join(state, 'runs');
  if (!fs.existsSync(runs)) return [];
  return fs.readdirSync(runs).flatMap((id) => {
    try {
      return [(JSON.parse(fs.readFileSync(path.join(runs, id, 'supervisor.json'), 'utf8')) as { pid: number }).pid];
    } catch {
      return [];
    }
  });
}

/** A signal to a pid that may be gone already. */
export function signalIfAlive(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}
