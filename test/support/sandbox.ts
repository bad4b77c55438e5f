import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { isAlive } from '../../src/core/agent/processInfo';
import { Store } from '../../src/core/db/store';
import { git } from './git';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const FAKE_AGENT = path.join(ROOT, 'test', 'fixtures', 'fakeAgent.mjs');
export const NODE = process.execPath;

export const ROADMAP = `# Roadmap

## US-036: Add login 📝 Planned

**Status**: 📝 Planned

## US-037: Add logout

**Status**: 📝 Planned

### PRIORITY 20: US-104 - Search 📝 Planned

## US-038: Profile page

**Status**: 📝 Planned

## US-039: Done already

**Status**: ✅ Complete
`;

export interface Sandbox {
  dir: string;
  repo: string;
  state: string;
  trace: string;
  cleanup(): void;
}


/** A real git repository with a roadmap, in a fresh temp folder. */
export function makeSandbox(roadmap = ROADMAP): Sandbox {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wto-')));
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(path.join(repo, 'docs', 'roadmap'), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main', repo);
  fs.writeFileSync(path.join(repo, 'docs', 'roadmap', 'ROADMAP.md'), roadmap);
  fs.writeFileSync(path.join(repo, 'README.md'), '# demo\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'init');
  const sandbox: Sandbox = {
    dir,
    repo,
    state: path.join(dir, 'state'),
    trace: path.join(dir, 'trace.jsonl'),
    cleanup: () => {
      killTraced(sandbox);
      // Supervisors of killed agents may still be writing their exit records: retry.
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
  return sandbox;
}

/** Reads the sandbox's database through a short-lived connection, as another process would. */
export function withStore<T>(s: Sandbox, read: (store: Store) => T): T {
  const store = Store.open(s.state);
  try {
    return read(store);
  } finally {
    store.close();
  }
}

export function agentCommand(...steps: string[]): string {
  return JSON.stringify([NODE, FAKE_AGENT, ...steps]);
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Set when the process did not exit on its own: the signal that ended it, or the timeout. */
  signal?: string;
  timedOut?: boolean;
}

export async function cli(s: Sandbox, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await execa(NODE, [CLI, '--repo', s.repo, '--state-dir', s.state, ...args], {
    reject: false,
    env: { FAKE_AGENT_TRACE: s.trace, ...env },
    timeout: 60_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal ?? undefined, timedOut: r.timedOut || undefined };
}

/** A long-running `start` process: leader or standby. Lines it prints are collected with their arrival time. */
export interface StartedOrchestrator {
  child: ChildProcess;
  lines: Array<{ at: number; line: string }>;
  /** What it printed on stderr (the orchestrator's log). */
  stderr(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

export function startOrchestrator(s: Sandbox, extra: string[] = [], env: Record<string, string> = {}): StartedOrchestrator {
  const child = spawn(NODE, [CLI, '--repo', s.repo, '--state-dir', s.state, ...extra, 'start'], {
    env: { ...process.env, FAKE_AGENT_TRACE: s.trace, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<{ at: number; line: string }> = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push({ at: Date.now(), line: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-200_000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    lines,
    stderr: () => err,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    waitFor: (re, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = () => {
          const hit = lines.find((l) => re.test(l.line));
          if (hit) return resolve(hit.line);
          if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${re} in: ${lines.map((l) => l.line).join(' | ')}`));
          waiters.push(check);
          setTimeout(check, 100);
        };
        check();
      }),
  };
}

export interface TraceEntry {
  pid: number;
  cwd: string;
  priority: string;
  runId: string;
  at: number;
}

/** Every agent start the fake agent recorded. */
export function traces(s: Sandbox): TraceEntry[] {
  if (!fs.existsSync(s.trace)) return [];
  return fs
    .readFileSync(s.trace, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TraceEntry);
}

export function liveAgents(s: Sandbox, priority?: string): TraceEntry[] {
  return traces(s).filter((t) => (!priority || t.priority === priority) && isAlive({ pid: t.pid, start: null }));
}

function killTraced(s: Sandbox): void {
  for (const t of traces(s)) {
    try {
      process.kill(t.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

