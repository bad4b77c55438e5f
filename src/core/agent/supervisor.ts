import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crashPoint } from '../crashPoint';
import { ExitRecord, goArgv, runDir, watchFolder, writeJson } from './agents';
import type { StartedAgent } from './agentTerminal';
import { CappedLog, DEFAULT_AGENT_LOG_MAX_MIB } from './cappedLog';
import { recordAgentExit, reserveExitSlot } from './exitRecord';
import { attentionFromEnv, FactsWriter, RunWatch } from './runWatch';
import { waitsForTerminalInput } from './terminalWait';
import { CommitOnExitPlan, commitLeftChanges, recordCommitEvent } from './commitOnExit';
import { currentIdentity, describePid, endProcesses, ownSession, ProcessIdentity, processStart, runProcesses } from './processInfo';

export interface SupervisorArgs {
  stateDir: string;
  runId: string;
  logPath: string;
  cwd: string;
  argv: string[];
  /** agent.log is kept to about this size, as head + tail (0: no cap). */
  logMaxBytes?: number;
  /** Set when commitOnExit is on: what the agent leaves uncommitted is committed on this branch. */
  commitOnExit?: CommitOnExitPlan;
}

/** Exit code of a supervisor that found another supervisor already running for its run. */
export const SUPERVISOR_DUPLICATE = 75;
/** Exit code of a supervisor that could not write its claim (a full disk): it gave it back. */
export const SUPERVISOR_NO_CLAIM = 74;
/** Long enough for a new leader to take over (< 2 s) and resume a provisioning. */
const GO_TIMEOUT_MS = 120_000;
/** How often run facts are written (coalesced) and the agent's silence is judged. */
const WATCH_TICK_MS = 1000;
/** A facts write waits this long for another writer at most: the next tick tries again. */
const FACTS_BUSY_MS = 100;
/** After the database could not be opened, the next try waits this long. */
const FACTS_REOPEN_MS = 10_000;
/** SIGTERM -> SIGKILL for what the agent left behind once it has ended. */
const LEFTOVER_GRACE_MS = 2000;

/** Resolves when `<dir>/go` exists, on TERM/INT/HUP, or after the timeout. */
export function waitForGo(dir: string, timeoutMs: number): Promise<'go' | 'signal' | 'timeout'> {
  const file = path.join(dir, 'go');
  if (fs.existsSync(file)) return Promise.resolve('go');
  return new Promise((resolve) => {
    const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
    const onSignal = () => finish('signal');
    const finish = (how: 'go' | 'signal' | 'timeout') => {
      clearTimeout(timer);
      stopWatching();
      for (const sig of signals) process.off(sig, onSignal);
      resolve(how);
    };
    for (const sig of signals) process.on(sig, onSignal);
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    const stopWatching = watchFolder(dir, () => fs.existsSync(file) && finish('go'));
  });
}

/**
 * The agent's parent for its whole life. It outlives the orchestrator that started it, so
 * the exit code is captured whatever happens to the extension host or the CLI.
 */
export async function runSupervisor(a: SupervisorArgs): Promise<number> {
  const dir = runDir(a.stateDir, a.runId);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': created only if absent — a second supervisor for the same run stops here.
    fs.writeFileSync(path.join(dir, 'supervisor.json'), JSON.stringify(currentIdentity()), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return SUPERVISOR_DUPLICATE;
    // Created but not written (a full disk): give the claim back, or no supervisor ever starts again.
    fs.rmSync(path.join(dir, 'supervisor.json'), { force: true });
    return SUPERVISOR_NO_CLAIM;
  }
  reserveExitSlot(dir);
  // Started while the worktree is still being made, to take our own start-up off the
  // spawn's critical path: the agent starts only once the leader writes 'go'.
  // Never told to go (the run failed or was stopped, or no leader resumed it in time): give
  // the claim back, so a leader that resumes the run later can start a supervisor again.
  // The terminal (node-pty, the headless screen) loads meanwhile: it takes longer than the spawn.
  const terminal = loadTerminal();
  if ((await waitForGo(dir, GO_TIMEOUT_MS)) !== 'go') {
    fs.rmSync(path.join(dir, 'supervisor.json'), { force: true });
    return 0;
  }
  a = { ...a, argv: goArgv(a.stateDir, a.runId) ?? a.argv };
  const { maxBytes, logFd, log } = openAgentLog(a);
  let agentPid: number | undefined;
  const facts = factsWriter(a.stateDir, a.runId);
  const watch = new RunWatch(attentionFromEnv(), facts.write, () => (agentPid ? waitsForTerminalInput(agentPid) : false));
  const agent = startAgent(a, dir, log, maxBytes ? undefined : logFd, await terminal, (text) => watch.output(text));
  agentPid = agent.pid;
  const ticker = setInterval(() => watch.tick(!agent.ended()), WATCH_TICK_MS);
  ticker.unref();
  // The group gets TERM on stop: the agent handles it; we stay to record how it ended.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => agent.signal(sig));
  if (agent.pid) {
    crashPoint('supervisor-before-agent-record');
    const record = { pid: agent.pid, start: processStart(agent.pid) ?? null, supervisorPid: process.pid };
    // On a full state folder this write fails; throwing would end the supervisor with the agent
    // running unwatched (and the run read as lost). Retry until it lands or the agent has ended.
    retryUntil(() => writeJson(path.join(dir, 'agent.json'), record), () => agent.ended());
  }
  const exit = await agent.exit;
  agent.finish(exit);
  const leftovers = await endLeftovers(a, log, agent.session);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([agent.drained, new Promise((r) => (timer = setTimeout(r, 1000)))]); // what we could not end may hold them
  clearTimeout(timer);
  clearInterval(ticker);
  watch.finish();
  facts.close();
  exit.leftovers = leftovers.map((p) => p.pid);
  // exit.json first, then the log's last line and the database, retried while the state folder takes no writes.
  const commit = a.commitOnExit && afterAgent(a.commitOnExit, a, exit, (text) => log.write(text));
  return recordAgentExit({ stateDir: a.stateDir, runId: a.runId, dir, exit, log: { write: (text) => log.write(text), close: () => fs.closeSync(logFd) }, beforeDatabase: commit });
}

/** agent.log, capped at `logMaxBytes` (default DEFAULT_AGENT_LOG_MAX_MIB), with its first line. */
function openAgentLog(a: SupervisorArgs): { maxBytes: number; logFd: number; log: CappedLog } {
  const maxBytes = a.logMaxBytes ?? DEFAULT_AGENT_LOG_MAX_MIB * 1024 * 1024;
  fs.closeSync(fs.openSync(a.logPath, 'a', 0o600));
  // Capped: not 'a', the cap rewrites the file in place. Uncapped, with pipes: the child gets
  // the file itself, and keeps writing to it even if this supervisor is killed.
  const logFd = fs.openSync(a.logPath, maxBytes ? 'r+' : 'a');
  const log = new CappedLog(logFd, maxBytes);
  log.write(`[orchestrator] ${new Date().toISOString()} starting: ${JSON.stringify(a.argv)} in ${a.cwd}\n`);
  return { maxBytes, logFd, log };
}

/** Commit on exit (commitOnExit.ts): after exit.json, before the database records the end. */
function afterAgent(plan: CommitOnExitPlan, a: SupervisorArgs, exit: ExitRecord, log: (text: string) => void): () => Promise<void> {
  return async () => {
    const event = await commitLeftChanges(plan, a.cwd, exit, log);
    if (event) recordCommitEvent(a.stateDir, a.runId, event);
  };
}

type LoadedTerminal = { module?: typeof import('./agentTerminal'); pty: ReturnType<typeof import('./agentTerminal').loadPty> };

/** Loaded apart from the supervisor's start (nothing of it is needed before 'go'); never rejects. */
async function loadTerminal(): Promise<LoadedTerminal> {
  await new Promise((r) => setImmediate(r)); // after supervisor.json and the watch for 'go'
  try {
    const module = await import('./agentTerminal');
    return { module, pty: module.loadPty() };
  } catch (e) {
    return { pty: (e as Error).message };
  }
}

/**
 * Starts the agent in a pseudo-terminal (agentTerminal.ts), or — where node-pty's binary
 * cannot load — with pipes, as before terminals, saying so in agent.log.
 */
function startAgent(a: SupervisorArgs, dir: string, log: CappedLog, sharedLogFd: number | undefined, terminal: LoadedTerminal, onOutput: (text: string) => void): StartedAgent {
  const { module: t, pty } = terminal;
  if (t && typeof pty !== 'string') return t.startInTerminal(pty, { runId: a.runId, runFolder: dir, argv: a.argv, cwd: a.cwd, log: (text) => text && log.write(text), onOutput });
  log.write(`[orchestrator] ${new Date().toISOString()} no pseudo-terminal (${pty}): the agent runs with pipes, and cannot be attached to\n`);
  return startWithPipes(a, log, sharedLogFd, onOutput);
}

/**
 * Run facts into the database, opened on the first write and kept open (the supervisor's
 * start does not wait for SQLite). A write never waits long for another writer: it throws,
 * and the watch tries again on its next tick.
 */
function factsWriter(stateDir: string, runId: string): { write: FactsWriter; close(): void } {
  let store: import('../db/store').Store | undefined;
  let failedAt = 0;
  return {
    write: (patch, guard) => {
      if (!store) {
        if (Date.now() - failedAt < FACTS_REOPEN_MS) throw new Error('the database could not be opened');
        try {
          const { Store } = require('../db/store') as typeof import('../db/store'); // see recordAgentExit: require, not import()
          store = Store.open(stateDir, { busyTimeoutMs: FACTS_BUSY_MS });
        } catch (e) {
          failedAt = Date.now();
          throw e;
        }
      }
      store.recordRunFacts(runId, patch, guard);
    },
    close: () => {
      try {
        store?.close();
      } catch {
        // a full disk may refuse the checkpoint; the writes landed
      }
    },
  };
}

/**
 * node's spawn rather than execa: this file is the supervisor bundle, on every spawn's
 * critical path, so it stays small. Still an argument array, never a shell. The output comes
 * through pipes so that the log can be capped (and read for run facts); uncapped, the child
 * gets the log file itself (`sharedLogFd`), and keeps writing to it even if this supervisor is
 * killed — then no facts are read from its output.
 */
function startWithPipes(a: SupervisorArgs, log: CappedLog, sharedLogFd: number | undefined, onOutput: (text: string) => void): StartedAgent {
  const out = sharedLogFd ?? 'pipe';
  const child = spawn(a.argv[0], a.argv.slice(1), { cwd: a.cwd, stdio: ['ignore', out, out], windowsHide: true });
  // Closed once every process holding the pipes has ended (a background child may hold them).
  const drained = Promise.all(
    [child.stdout, child.stderr].filter((stream) => stream !== null).map(
      (stream) =>
        new Promise<void>((resolve) => {
          const text = new StringDecoder('utf8');
          stream.on('data', (chunk: Buffer) => {
            log.write(chunk);
            onOutput(text.write(chunk));
          });
          stream.once('close', resolve);
          stream.once('error', () => resolve());
        }),
    ),
  ).then(() => undefined);
  const exit = new Promise<ExitRecord>((resolve) => {
    child.once('error', (e) => resolve({ code: null, signal: null, error: `could not start ${a.argv[0]}: ${e.message}`, at: Date.now() }));
    child.once('exit', (code, signal) => resolve({ code, signal, error: null, at: Date.now() }));
  });
  return { pid: child.pid, session: undefined, signal: (sig) => child.kill(sig), ended: () => child.exitCode !== null || child.signalCode !== null, exit, drained, finish: () => undefined };
}

/**
 * What the agent started and left running once it ended — a background child, a grandchild
 * that called setsid — ends with it: SIGTERM, SIGKILL after a short grace. Found on Linux by
 * this supervisor's session, by the run's WTO_RUN_ID (with this state dir) in the
 * environment, and by parent pid from those. Returns, and logs, what could not be ended.
 */
async function endLeftovers(a: SupervisorArgs, log: CappedLog, agentSession: number | undefined): Promise<ProcessIdentity[]> {
  // In a pseudo-terminal the agent leads a session of its own; with pipes it shares ours.
  const own = ownSession();
  const session = agentSession ?? (own === process.pid ? own : undefined);
  const seen = new Map<number, string>();
  const scan = () => {
    const found = runProcesses(a.stateDir, a.runId, { session });
    for (const p of found) if (!seen.has(p.pid)) seen.set(p.pid, describePid(p.pid));
    return found;
  };
  const left = await endProcesses(scan, LEFTOVER_GRACE_MS, (p, sig) => process.kill(p.pid, sig));
  if (!seen.size) return left;
  const ended = [...seen].filter(([pid]) => !left.some((p) => p.pid === pid)).map(([, name]) => name);
  const when = new Date().toISOString();
  if (ended.length) log.write(`[orchestrator] ${when} ended ${ended.length} process${ended.length === 1 ? '' : 'es'} the agent left behind: ${ended.join(', ')}\n`);
  if (left.length) log.write(`[orchestrator] ${when} could not end ${left.map((p) => describePid(p.pid)).join(', ')}: still running after SIGKILL\n`);
  return left;
}

/** Runs `write` now, and again with a growing delay while it throws, until it succeeds or `over()`. */
function retryUntil(write: () => void, over: () => boolean, delayMs = 100): void {
  try {
    write();
  } catch {
    if (over()) return;
    setTimeout(() => retryUntil(write, over, Math.min(delayMs * 2, 5000)), delayMs);
  }
}
