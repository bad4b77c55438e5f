import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Acts } from '../leader/leaderLease';
import { UserError } from '../model/userError';
import type { CommitOnExitPlan } from './commitOnExit';
import { endProcesses, ProcessIdentity, isAlive, runProcesses, signalGroup } from './processInfo';

/**
 * Agents run under a small supervisor process (`cli.js __supervise`), started detached in
 * its own process group. The supervisor writes what it knows into the run's folder in the
 * state dir, so an orchestrator that restarts — or another one — can adopt the agent and
 * still learn its exit code:
 *   supervisor.json  created exclusively: at most one supervisor per run, ever
 *   agent.json       the agent's pid + start time, once it is running
 *   exit.json        exit code / signal / spawn error, once it has ended
 *   agent.log        the agent's stdout and stderr
 */
export interface AgentRecord extends ProcessIdentity {
  supervisorPid: number;
}

export interface ExitRecord {
  code: number | null;
  signal: string | null;
  error: string | null;
  at: number;
  /** Pids the agent left behind that its supervisor could not end (SIGKILL refused). */
  leftovers?: number[];
}

export const PLACEHOLDERS = [
  'priority', 'title', 'worktree', 'branch', 'runId', 'repo',
  // The worktree's git dir (under the main repository's .git/worktrees) and the common dir:
  // sandboxed agents need them writable to commit. The rest: see agentPresets.ts.
  'gitDir', 'gitCommonDir', 'prompt', 'sessionId', 'specFile', 'runDir',
  // The first port of the run's block (ports.ts); also WTO_PORT in its environment.
  'port',
] as const;
export type CommandValues = Record<(typeof PLACEHOLDERS)[number], string>;

/**
 * Expands `${name}` in each element of the template. Each template element stays exactly
 * one argument whatever the values hold: nothing is ever parsed by a shell.
 */
export function expandCommand(template: readonly string[], values: CommandValues): string[] {
  if (!Array.isArray(template) || template.length === 0 || !template.every((a) => typeof a === 'string')) {
    throw new UserError('No agent command is configured: choose an agent with worktreeOrchestrator.codeDeveloper.agent (claude, codex, gemini or aider), or set worktreeOrchestrator.codeDeveloper.command to an argument array such as ["my-agent", "${prompt}"] (CLI: --agent NAME or --agent-command JSON).', 'NO_AGENT_COMMAND');
  }
  if (!template[0].trim()) throw new UserError('The agent command starts with an empty program name.', 'NO_AGENT_COMMAND');
  for (const [name, value] of Object.entries(values)) {
    // No process can take a NUL byte in an argument: refuse before anything is written.
    if (value.includes('\0')) throw new UserError(`The ${name} "${value.replace(/\0/g, '\\0').slice(0, 60)}" contains a NUL character, which no program can take as an argument; fix it in the roadmap.`, 'BAD_VALUE');
  }
  return template.map((arg) =>
    arg.replace(/\$\{(\w+)\}/g, (whole, name: string) => ((PLACEHOLDERS as readonly string[]).includes(name) ? values[name as keyof CommandValues] : whole)),
  );
}

/** Parses the CLI's --agent-command: a JSON array of strings. */
export function parseAgentCommand(json: string, flag = '--agent-command'): string[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new UserError(`${flag} must be a JSON array of strings, such as '["my-agent","--task","\${priority}"]'; got: ${json.slice(0, 80)}`, 'BAD_AGENT_COMMAND');
  }
  if (!Array.isArray(value) || !value.length || !value.every((v) => typeof v === 'string')) {
    throw new UserError(`${flag} must be a non-empty JSON array of strings.`, 'BAD_AGENT_COMMAND');
  }
  return value;
}

export function runDir(stateDir: string, runId: string): string {
  return path.join(stateDir, 'runs', runId);
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Atomic write: a reader never sees half a file. */
export function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export const agentRecord = (stateDir: string, runId: string) => readJson<AgentRecord>(path.join(runDir(stateDir, runId), 'agent.json'));
export const exitRecord = (stateDir: string, runId: string) => readJson<ExitRecord>(path.join(runDir(stateDir, runId), 'exit.json'));
export const hasSupervisor = (stateDir: string, runId: string) => fs.existsSync(path.join(runDir(stateDir, runId), 'supervisor.json'));

/**
 * Lets the run's supervisor start the agent: written once the worktree is ready. `argv`, when
 * given, replaces the one the supervisor was started with (values only known once the
 * worktree exists, such as its real git folder).
 */
export const sendGo = (stateDir: string, runId: string, argv?: string[]) => writeJson(path.join(runDir(stateDir, runId), 'go'), { at: Date.now(), ...(argv ? { argv } : {}) });

/** The argv a 'go' file carries, if any (a supervisor started early gets the final one here). */
export function goArgv(stateDir: string, runId: string): string[] | undefined {
  const go = readJson<{ argv?: unknown }>(path.join(runDir(stateDir, runId), 'go'));
  return Array.isArray(go?.argv) && go.argv.length && go.argv.every((x) => typeof x === 'string') ? (go.argv as string[]) : undefined;
}

export interface LaunchOptions {
  stateDir: string;
  runId: string;
  argv: string[];
  cwd: string;
  logPath: string;
  env: Record<string, string>;
  /** A Node binary, and the bundled CLI: the supervisor is dist/supervisor.js beside it. */
  nodePath: string;
  cliPath: string;
  /** agent.log's cap in bytes (0: none; default: the supervisor's, 50 MiB). */
  logMaxBytes?: number;
  /** commitOnExit on: the run whose branch gets what the agent leaves uncommitted (commitOnExit.ts). */
  commitOnExit?: CommitOnExitPlan;
}

/** Starts the supervisor, detached in its own process group. Returns its pid. */
export function launchSupervisor(o: LaunchOptions): number {
  fs.mkdirSync(runDir(o.stateDir, o.runId), { recursive: true, mode: 0o700 });
  const child = spawn(
    o.nodePath,
    [path.join(path.dirname(o.cliPath), 'supervisor.js'), '--state-dir', o.stateDir, '--run', o.runId, '--log', o.logPath, '--cwd', o.cwd, ...(o.logMaxBytes === undefined ? [] : ['--log-max-bytes', String(o.logMaxBytes)]), ...(o.commitOnExit ? ['--commit-on-exit', JSON.stringify(o.commitOnExit)] : []), '--', ...o.argv],
    {
      detached: true,
      stdio: 'ignore',
      // Its own cwd is the run's folder: the worktree may not exist yet (see 'go').
      cwd: runDir(o.stateDir, o.runId),
      // In VS Code desktop execPath is Electron: this makes it behave as Node.
      env: { ...process.env, ...o.env, ELECTRON_RUN_AS_NODE: '1' },
    },
  );
  child.on('error', () => undefined); // reported through exit.json / the wait below
  child.unref();
  if (!child.pid) throw new UserError(`Could not start the agent supervisor with ${o.nodePath}.`, 'SPAWN_FAILED');
  return child.pid;
}

/**
 * Calls `onChange` whenever something in `dir` may have changed, until the returned stop is
 * called: fs.watch is the fast path, a 250 ms poll covers file systems where it misses, and
 * one look just after the watch began catches what was written before it (heard only by the
 * poll otherwise: up to 250 ms late, 1 in 5 warm-pool spawns; bench: poolsetup).
 */
export function watchFolder(dir: string, onChange: () => void): () => void {
  let stopped = false;
  const poll = setInterval(onChange, 250);
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(dir, onChange);
  } catch {
    // no watcher: the poll does it
  }
  queueMicrotask(() => stopped || onChange()); // after the caller holds the stop
  return () => {
    stopped = true;
    clearInterval(poll);
    watcher?.close();
  };
}

/** Resolves when the supervisor has written agent.json or exit.json (or the timeout passes). */
export async function waitForAgent(stateDir: string, runId: string, timeoutMs = 10_000): Promise<AgentRecord | ExitRecord | undefined> {
  const dir = runDir(stateDir, runId);
  const check = () => exitRecord(stateDir, runId) ?? agentRecord(stateDir, runId);
  const found = check();
  if (found) return found;
  return new Promise((resolve) => {
    const finish = (value: AgentRecord | ExitRecord | undefined) => {
      clearTimeout(timer);
      stopWatching();
      resolve(value);
    };
    const timer = setTimeout(() => finish(check()), timeoutMs);
    const stopWatching = watchFolder(dir, () => {
      const v = check();
      if (v) finish(v);
    });
  });
}

export const isExit = (r: AgentRecord | ExitRecord | undefined): r is ExitRecord => !!r && 'at' in r && !('supervisorPid' in r);

/**
 * TERM to the agent's process group, KILL after the grace period; then, given the run, the
 * same to every other process of the run (see runProcesses). Resolves when they are gone,
 * with those it could not end. Each signal is an act of the leader: it goes through `acts`,
 * so one frozen during the grace period and deposed meanwhile sends nothing when it wakes.
 */
export async function stopGroup(record: AgentRecord, graceMs: number, acts: Acts, run?: { stateDir: string; runId: string }): Promise<ProcessIdentity[]> {
  const gone = () => !isAlive(record) && !isAlive({ pid: record.supervisorPid, start: null });
  if (!gone()) {
    acts.act(`SIGTERM to process group ${record.supervisorPid}`, () => signalGroup(record.supervisorPid, 'SIGTERM'));
    const deadline = Date.now() + graceMs;
    while (!gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!gone()) {
      acts.act(`SIGKILL to process group ${record.supervisorPid}`, () => {
        signalGroup(record.supervisorPid, 'SIGKILL');
        if (isAlive(record)) process.kill(record.pid, 'SIGKILL');
      });
    }
    while (!gone() && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 50));
  }
  if (!run) return [];
  // What the group did not hold (a grandchild that called setsid, and its own children), or
  // what a supervisor killed before it could end them left: found by the run's id.
  return endRunProcesses(run, graceMs, acts);
}

/** Ends every process still carrying the run's id (and their descendants), each signal an act; resolves with those it could not end. */
export function endRunProcesses(run: { stateDir: string; runId: string }, graceMs: number, acts: Acts): Promise<ProcessIdentity[]> {
  return endProcesses(() => runProcesses(run.stateDir, run.runId), graceMs, (p, sig) =>
    acts.act(`${sig} to pid ${p.pid}, left behind by run ${run.runId}`, () => process.kill(p.pid, sig)),
  );
}
