// Shared helpers of the benchmark suite: clocks, statistics, temp repositories, child
// processes. Nothing here asserts a time: the suite prints ratios against a baseline
// measured in the same run, because the machines it runs on are noisy.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sleep } from '../test/support/wait';
import { git } from '../test/support/git';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const EXTENSION = path.join(ROOT, 'dist', 'extension.js');
export const FAKE_AGENT = path.join(ROOT, 'test', 'fixtures', 'fakeAgent.mjs');
/** The esbuild require hook the unit tests use: bench workers load TypeScript through it. */
export const REGISTER = path.join(ROOT, 'test', 'register.cjs');
export const NODE = process.execPath;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const now = (): number => performance.timeOrigin + performance.now();


export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Runs fn `reps` times and returns every duration in ms. */
export async function timeReps(reps: number, fn: () => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    await fn();
    out.push(now() - t0);
  }
  return out;
}


/** A fresh, real-path temp folder. */
export function tempDir(prefix: string): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `wto-bench-${prefix}-`)));
}

export function rmrf(p: string): void {
  fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
}

export function roadmapText(priorities: number): string {
  let text = '# Roadmap\n\n';
  for (let i = 1; i <= priorities; i++) text += `## ${priorityId(i)}: Bench priority ${i} 📝 Planned\n\n**Status**: 📝 Planned\n\n`;
  return text;
}

export const priorityId = (i: number): string => `US-${String(i).padStart(3, '0')}`;

/**
 * A repository of `files` source files spread over folders (about 50 a folder, two levels
 * deep), plus a roadmap of `priorities` planned priorities, committed on `main`.
 */
export function generateRepo(parent: string, files: number, priorities = 60): string {
  const repo = path.join(parent, 'repo');
  fs.mkdirSync(path.join(repo, 'docs', 'roadmap'), { recursive: true });
  git(parent, 'init', '-q', '-b', 'main', repo);
  fs.writeFileSync(path.join(repo, 'docs', 'roadmap', 'ROADMAP.md'), roadmapText(priorities));
  fs.writeFileSync(path.join(repo, 'README.md'), '# bench repository\n');
  const made = new Set<string>();
  for (let i = 0; i < files; i++) {
    const folder = Math.floor(i / 50);
    const dir = path.join(repo, 'src', `pkg${folder % 20}`, `mod${Math.floor(folder / 20)}`);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    fs.writeFileSync(path.join(dir, `file${i}.ts`), `// generated file ${i}\nexport const value${i} = ${i};\nexport function f${i}(x: number): number {\n  return x * ${i % 97} + ${i};\n}\n`);
  }
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', `bench: ${files} files`);
  return repo;
}

export interface TraceLine {
  pid: number;
  cwd: string;
  priority?: string;
  runId?: string;
  at: number;
}

/** Waits for the fake agent's first trace line in `file` (it writes it as it starts). */
export async function waitTrace(file: string, timeoutMs = 30_000): Promise<TraceLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const first = fs.readFileSync(file, 'utf8').split('\n')[0];
      if (first) return JSON.parse(first) as TraceLine;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`no agent trace in ${file} after ${timeoutMs} ms`);
    await sleep(3);
  }
}

export function killPid(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}


/** A child process whose stdout lines are collected with the time each arrived. */
export interface LineChild {
  child: ChildProcess;
  lines: Array<{ at: number; line: string }>;
  /** Resolves with the first line matching re whose arrival is at or after `after`. */
  waitFor(re: RegExp, timeoutMs?: number, after?: number): Promise<{ at: number; line: string }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<number | null>;
}

export function spawnLines(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): LineChild {
  const child = spawn(cmd, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Array<{ at: number; line: string }> = [];
  const waiters = new Set<() => void>();
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    const at = now();
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push({ at, line: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
    for (const w of [...waiters]) w();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => {
    for (const w of [...waiters]) w();
    r(code);
  }));
  return {
    child,
    lines,
    exited,
    waitFor: (re, timeoutMs = 20_000, after = 0) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.find((l) => l.at >= after && re.test(l.line));
          if (hit) {
            done();
            resolve(hit);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`process ${child.pid} exited (${child.exitCode ?? child.signalCode}) before printing ${re}; stderr: ${err.trim().slice(-600)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; got: ${lines.map((l) => l.line).join(' | ').slice(-600)}; stderr: ${err.trim().slice(-600)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A TypeScript worker of this folder, run on this Node through the tests' esbuild hook. */
export function spawnWorker(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): LineChild {
  return spawnLines(NODE, ['-r', REGISTER, path.join(__dirname, file), ...args], { env });
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  git: string;
  date: string;
  platform: string;
}

export function machine(): Machine {
  let gitVersion = 'unknown';
  try {
    gitVersion = execFileSync('git', ['--version'], { encoding: 'utf8' }).trim().replace(/^git version /, '');
  } catch {
    // no git
  }
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    node: process.version,
    git: gitVersion,
    date: new Date().toISOString(),
    platform: `${os.platform()} ${os.release()}`,
  };
}

export function machineLine(m: Machine): string {
  return `machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, git ${m.git}, ${m.platform}, ${m.date}`;
}
