import * as fs from 'node:fs';

// Reading /proc for the tests of processes left behind, independently of the code under test.

/** Pids whose environment carries WTO_RUN_ID=<runId>, read as bytes from /proc (independent of the code under test). */
export function carriersOf(runId: string): number[] {
  const entry = Buffer.from(`WTO_RUN_ID=${runId}\0`);
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const env = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${name}/environ`)]);
      const state = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (/\) [ZX] /.test(state)) continue;
      if (env.indexOf(Buffer.concat([Buffer.from([0]), entry])) >= 0) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

export const alive = (pid: number): boolean => {
  try {
    return !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

export function recordedPids(file: string): Array<{ pid: number; who: string }> {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

/** Stopped by a signal (SIGSTOP: state T in /proc/<pid>/stat). */
export const stopped = (pid: number): boolean => {
  try {
    return /\) T /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
