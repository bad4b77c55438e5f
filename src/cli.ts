import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parseAgentCommand } from './core/agent/agents';
import { parseAgentName, previewAgents } from './core/agent/agentPresets';
import { attachCli } from './core/agent/attachSession';
import { agentLogMaxBytes } from './core/agent/cappedLog';
import { attentionEnv, attentionFromEnv } from './core/agent/runWatch';
import type { RunFacts } from './core/db/runFacts';
import { collectGarbage } from './core/leader/gc';
import { commitAll, GitRepo } from './core/git/git';
import { COMMIT_ON_EXIT_COMMAND, CommitRequest } from './core/agent/commitOnExit';
import { requestFollowUp } from './core/followUp';
import { Fence, holderAlive, LeaderLease } from './core/leader/leaderLease';
import { LeaderSeat, OrchestratorSettings } from './core/leader/seat';
import { Orchestrator, ReconcileReport } from './core/leader/orchestrator';
import { loadRoadmap, roadmapJson, roadmapText } from './core/roadmap/roadmap';
import { actionAndWait, gcAndWait, reconcileAndWait, requestSpawn, runArgument, stopAndWait, waitForChange } from './core/requests';
import { AlreadyActiveError, checkStateDir, explainStateDirError, LeaderRow, StateDirError, StateDirErrorCode, Store } from './core/db/store';
import { UserError } from './core/model/userError';
import { LoopConfig } from './core/roadmap/workLoop';
import { BUSY_STATUSES, isActive } from './core/model/runStatus';
import { Run } from './core/model/run';

const USAGE = `Usage: worktree-orchestrator <command> [options]

Commands:
  start [--loop]               run as leader (or standby) in the foreground until Ctrl-C;
                               --loop also turns the continuous work loop on for --repo
  loop <on|off>                turn the continuous work loop on or off for --repo (kept in
                               the database: whichever orchestrator leads carries it out)
  spawn <priority>             request a code_developer run for a roadmap priority
        [--new-attempt] [--wait]
  status [--json]              show the leader and the runs
  roadmap [--json]             show the roadmap's priorities as read (ids, aliases, titles,
                               statuses and where they came from) and its warnings
  follow-up <priority|run-id> "<message>"
                               the next run of the priority in the SAME worktree and branch as
        [--wait]               its last (ended) run, told the message: the agent's session is
                               resumed where it can be (claude, codex, gemini), else it starts
                               fresh with the message as its prompt (\${prompt})
  stop <priority|run-id>       stop a run (TERM, then KILL after a grace period)
  attach <priority|run-id>     this terminal becomes the running agent's terminal (others may
                               be attached too); Ctrl-] detaches, the agent keeps running
  merge <priority|run-id>      merge an ended run's branch into its base (--no-ff), in the
                               main checkout; refused when that is dirty or conflicts
  remove <priority|run-id>     remove an ended run's worktree; refused while it holds
        [--force]              uncommitted or unmerged work unless --force
  reconcile                    adopt live agents, record dead ones, report orphans
  gc [--dry-run]               remove worktrees of ended runs that hold nothing unmerged
                               and that no live process uses; exits 1 if git refused one
  agents [--json]              the agent presets, and the exact argv each would run for
        [--priority ID]        the priority's next attempt (the selected one marked *)
  signal <priority|run-id>     mark a live run as needing input, or back at work (for the
        needs-input|working    agents' hooks: see the README); [--reason TEXT]

Options:
  --repo DIR                   the repository (default: the current directory)
  --state-dir DIR              shared state: database, leader lease, run logs
                               (default: $WTO_STATE_DIR or ~/.local/state/worktree-orchestrator)
  --agent NAME                 the agent preset: claude, codex, gemini, aider, or custom
                               (custom is --agent-command; the default when it is given)
  --agent-command JSON         the code_developer command, a JSON array of strings;
                               placeholders \${priority} \${title} \${worktree} \${branch} \${runId}
                               \${repo} \${gitDir} \${gitCommonDir} \${prompt} \${sessionId} \${specFile}
  --prompt TEXT                the \${prompt} template (default: implement the priority as
                               its section of the roadmap in \${specFile} says, and commit)
  --max-parallel N             agents running at once (default 1; extra requests queue)
  --base BRANCH                base branch (default: the branch checked out in --repo)
  --worktree-root DIR          where worktrees go (default: <repo>.worktrees)
  --roadmap PATH               roadmap file (default: docs/roadmap/ROADMAP.md, else ROADMAP.md)
  --setup-command JSON         runs in each new worktree before the agent, e.g. '["npm","ci"]'
  --ports-per-run N            ports leased to each run, the first in WTO_PORT and \${port}
                               (default 10; 0: none)
  --warm-pool N                keep N worktrees checked out at the base ahead of time (default 0)
  --stop-grace-seconds S       on stop, SIGKILL this long after SIGTERM (default 5)
  --agent-log-max-mib N        keep each agent.log to about N MiB, head + tail (default 50; 0: no cap)
  --needs-input-seconds S      a live agent silent this long after printing, waiting at its
                               terminal, needs input (default 30)
  --stall-seconds S            a live agent silent this long is stalled (default 300)
  --no-commit-on-exit          leave what an agent leaves uncommitted as it is (by default it
                               is committed on the run's branch when the agent exits; the
                               leader's choice: start, or spawn/follow-up when they lead)
  --max-retries N              loop: new attempts after a failure (default 2)
  --retry-delay-ms MS          loop: delay before the first retry, doubling after (default 60000)

Exit codes: 0 done, 1 refused (with a message), 2 usage, 3 the priority already has an
active run, 4 the state folder is full or read-only (the message names it).
`;

const EXIT_USER = 1;
const EXIT_USAGE = 2;
const EXIT_ALREADY_ACTIVE = 3;
const EXIT_STATE_DIR = 4;

/** Set once the arguments are read: a failed write is explained against this folder. */
let stateDirInUse: string | undefined;

const OPTIONS = {
  repo: { type: 'string' },
  'state-dir': { type: 'string' },
  'agent-command': { type: 'string' },
  agent: { type: 'string' },
  prompt: { type: 'string' },
  priority: { type: 'string' },
  'max-parallel': { type: 'string' },
  base: { type: 'string' },
  'worktree-root': { type: 'string' },
  roadmap: { type: 'string' },
  'max-retries': { type: 'string' },
  'setup-command': { type: 'string' },
  'warm-pool': { type: 'string' },
  'ports-per-run': { type: 'string' },
  'retry-delay-ms': { type: 'string' },
  'stop-grace-seconds': { type: 'string' },
  'agent-log-max-mib': { type: 'string' },
  'needs-input-seconds': { type: 'string' },
  'stall-seconds': { type: 'string' },
  reason: { type: 'string' },
  loop: { type: 'boolean' },
  'new-attempt': { type: 'boolean' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'no-commit-on-exit': { type: 'boolean' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** What every subcommand gets: the parsed options and this process's seat at the database. */
interface Cli {
  values: Values;
  stateDir: string;
  repo: string;
  maxParallel: number;
  settings: LoopConfig;
  store: Store;
  lease: LeaderLease;
  orchestrator: Orchestrator;
  /** What this process's Orchestrators are made with (the options given). */
  orchestratorSettings: OrchestratorSettings;
  /** Who asks, in rows other processes read. */
  requestedBy: string;
  /** Acts as leader just long enough for `fn` when no other leader is alive; false when another leads. */
  lead(fn: () => Promise<unknown>): Promise<boolean>;
}

type Command = (c: Cli, args: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  start: startCommand,
  spawn: spawnCommand,
  'follow-up': followUpCommand,
  loop: loopCommand,
  roadmap: (c) => showRoadmap(c.repo, c.settings.roadmapPath, !!c.values.json),
  status: statusCommand,
  stop: stopCommand,
  merge: (c, args) => actionCommand(c, 'merge', args),
  remove: (c, args) => actionCommand(c, 'remove', args),
  reconcile: reconcileCommand,
  gc: gcCommand,
  attach: async (c, args) => attachCli(c.store, c.stateDir, need(args, 1, 'attach <priority|run-id>')[0], c.values.repo ? await realRepo(c.repo) : undefined),
  agents: (c) => agents(c.store, c.stateDir, c.repo, c.settings, { json: !!c.values.json, priority: c.values.priority }),
  signal: async (c, args) => signalRun(c.store, c.repo, need(args, 2, 'signal <priority|run-id> needs-input|working [--reason TEXT]'), c.values.reason, c.settings.roadmapPath),
};

/** Commands that only read: they still work on a full or read-only state folder. */
const readsOnly = (command: string, values: Values): boolean => ['status', 'roadmap', 'agents'].includes(command) || (command === 'gc' && !!values['dry-run']);

/** Commands whose first argument names a run: 'stop US-104', 'merge priority 20' mean the canonical id's run. */
const NAMES_A_RUN = new Set(['stop', 'merge', 'remove', 'attach']);

async function main(argv: string[]): Promise<number> {
  if (argv[0] === COMMIT_ON_EXIT_COMMAND) return commitOnExitCommand(argv[1]);
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? 0 : EXIT_USAGE;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const c = openCli(values, command);
  try {
    if (NAMES_A_RUN.has(command) && args[0]) args[0] = runArgument(c.store, c.repo, args[0], c.settings.roadmapPath);
    return await run(c, args);
  } finally {
    c.orchestrator.dispose();
    c.lease.dispose();
    c.store.close();
  }
}

function loopConfig(values: Values): LoopConfig {
  return {
    maxRetries: wholeNumber(values['max-retries'], '--max-retries', 0),
    retryDelayMs: wholeNumber(values['retry-delay-ms'], '--retry-delay-ms', 0),
    agentCommand: values['agent-command'] === undefined ? undefined : parseAgentCommand(values['agent-command']),
    agent: agentFlag(values.agent, values['agent-command'] !== undefined),
    prompt: values.prompt,
    portsPerRun: wholeNumber(values['ports-per-run'], '--ports-per-run', 0),
    setupCommand: values['setup-command'] === undefined ? undefined : parseAgentCommand(values['setup-command'], '--setup-command'),
    baseBranch: values.base,
    worktreeRoot: values['worktree-root'],
    roadmapPath: values.roadmap,
  };
}

function openCli(values: Values, command: string): Cli {
  const stateDir = path.resolve(values['state-dir'] ?? process.env.WTO_STATE_DIR ?? path.join(os.homedir(), '.local', 'state', 'worktree-orchestrator'));
  const maxParallel = wholeNumber(values['max-parallel'], '--max-parallel', 1) ?? 1;
  const logMaxBytes = values['agent-log-max-mib'] === undefined ? undefined : agentLogMaxBytes(values['agent-log-max-mib'], '--agent-log-max-mib');
  const settings = loopConfig(values);
  passAttentionTimes(values['needs-input-seconds'], values['stall-seconds']);
  stateDirInUse = stateDir;
  const store = openStore(stateDir, readsOnly(command, values));
  const lease = new LeaderLease(store, { label: `cli pid ${process.pid}` });
  const orchestratorSettings: OrchestratorSettings = {
    stateDir,
    nodePath: process.execPath,
    cliPath: __filename,
    maxParallel,
    warmPoolSize: wholeNumber(values['warm-pool'], '--warm-pool', 0),
    stopGraceMs: seconds(values['stop-grace-seconds'], '--stop-grace-seconds'),
    agentLogMaxBytes: logMaxBytes,
    commitOnExit: !values['no-commit-on-exit'],
    log: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
  };
  const orchestrator = new Orchestrator({ ...orchestratorSettings, store, lease });
  const lead = async (fn: () => Promise<unknown>): Promise<boolean> => {
    if (!lease.tryAcquire()) return false;
    try {
      await fn();
      return true;
    } finally {
      lease.release();
    }
  };
  return { values, stateDir, repo: path.resolve(values.repo ?? process.cwd()), maxParallel, settings, store, lease, orchestrator, orchestratorSettings, requestedBy: `cli pid ${process.pid}`, lead };
}

async function spawnCommand(c: Cli, args: string[]): Promise<number> {
  const [priority] = need(args, 1, 'spawn <priority>');
  const run = await requestSpawn(c.store, c.stateDir, c.repo, priority, c.settings, { newAttempt: c.values['new-attempt'], requestedBy: c.requestedBy });
  console.log(`Requested ${run.priority} (run ${run.id}, attempt ${run.attempt}): ${run.branch} in ${run.worktree}`);
  return carryOut(c, run);
}

async function followUpCommand(c: Cli, args: string[]): Promise<number> {
  const [which, message] = need(args, 2, 'follow-up <priority|run-id> "<message>"');
  const run = await requestFollowUp(c.store, c.stateDir, c.repo, which, message, c.settings, { requestedBy: c.requestedBy });
  console.log(`Requested a follow-up of ${run.priority} (run ${run.id}, attempt ${run.attempt}) in the same worktree and branch: ${run.branch} in ${run.worktree}`);
  return carryOut(c, run);
}

/** A requested run (spawn, follow-up): provisioned now when no other leader is alive, else queued for the leader. */
async function carryOut(c: Cli, run: Run): Promise<number> {
  const { store } = c;
  const led = await c.lead(() => c.orchestrator.tick());
  if (!led && c.values.wait) await waitForChange(store, () => !['requested', 'provisioning'].includes(store.getRun(run.id)!.status));
  const now = store.getRun(run.id)!;
  console.log(describe(now));
  if (now.status === 'requested' || now.status === 'provisioning') stillWaitingOnStateDir(c.stateDir, now);
  if (now.status === 'requested') {
    const leader = store.leader();
    console.log(holderAlive(leader) ? `Queued: the leader (pid ${leader.pid}) starts it when a slot frees.` : `Queued: ${store.listRuns({ statuses: BUSY_STATUSES }).length} run(s) are active (--max-parallel ${c.maxParallel}); it starts when a slot frees and an orchestrator runs (worktree-orchestrator start).`);
  }
  return now.status === 'failed' ? EXIT_USER : 0;
}

/**
 * A run's supervisor commits what its agent left (core/agent/commitOnExit.ts) through this
 * hidden command, so that git.ts stays out of the supervisor's bundle: one JSON request,
 * git.ts commitAll's answer printed as one JSON line.
 */
async function commitOnExitCommand(json: string | undefined): Promise<number> {
  const req = JSON.parse(json ?? '') as CommitRequest;
  const answer = await commitAll(req.repo, req.worktree, req.branch, req.message, { timeoutMs: req.timeoutMs });
  process.stdout.write(`${JSON.stringify(answer)}\n`);
  return 0;
}

async function loopCommand(c: Cli, args: string[]): Promise<number> {
  const [onOff] = need(args, 1, 'loop <on|off>');
  if (onOff !== 'on' && onOff !== 'off') throw new UsageError('Usage: worktree-orchestrator loop <on|off>');
  const root = await realRepo(c.repo);
  if (onOff === 'on') loadRoadmap(root, c.settings.roadmapPath); // refuse a loop over no roadmap
  c.store.setLoop(root, onOff === 'on', c.settings);
  console.log(`Continuous work loop ${onOff} for ${root}.`);
  if (onOff === 'on') await c.lead(() => c.orchestrator.tick());
  return 0;
}

async function statusCommand(c: Cli): Promise<number> {
  const leader = c.store.leader();
  const runs = c.store.listRuns(c.values.repo ? { repo: await realRepo(c.repo) } : {});
  const alive = holderAlive(leader);
  const facts = c.store.factsOf(runs.map((r) => r.id));
  if (c.values.json) {
    console.log(JSON.stringify({ leader: alive ? { pid: leader.pid, epoch: leader.epoch } : null, runs: runs.map((r) => statusJson(r, facts.get(r.id))) }, null, 2));
    return 0;
  }
  console.log(alive ? `Leader: pid ${leader.pid} (${leader.label ?? 'unknown'}), epoch ${leader.epoch}` : 'Leader: none');
  if (!runs.length) console.log('No runs.');
  for (const r of runs) console.log(describe(r) + describeFacts(facts.get(r.id)));
  return 0;
}

/** A run named by the user's argument, or a UserError. */
async function namedRun(c: Cli, which: string, anyRepo: boolean): Promise<Run> {
  const run = c.store.findRun(which, anyRepo && !c.values.repo ? undefined : await realRepo(c.repo));
  if (!run) throw new UserError(`No run matches "${which}".`);
  return run;
}

async function stopCommand(c: Cli, args: string[]): Promise<number> {
  const run = await namedRun(c, need(args, 1, 'stop <priority|run-id>')[0], true);
  if (!isActive(run.status)) {
    console.log(`${run.priority} is not active (${run.status}); nothing to stop.`);
    return 0;
  }
  console.log(describe(await stopAndWait(c.store, run, c.lead, (r) => c.orchestrator.stop(r))));
  return 0;
}

async function actionCommand(c: Cli, kind: 'merge' | 'remove', args: string[]): Promise<number> {
  const run = await namedRun(c, need(args, 1, `${kind} <priority|run-id>`)[0], false);
  console.log(await actionAndWait(c.store, kind, run, { force: !!c.values.force, requestedBy: c.requestedBy }, c.lead, () => c.orchestrator.tick()));
  return 0;
}

/** `reconcile`: this process's own when nobody leads, else the leader's, asked and waited for. */
async function reconcileCommand(c: Cli): Promise<number> {
  console.log(JSON.stringify(await reconcileAndWait(c.store, c.repo, c.requestedBy, c.lead, () => c.orchestrator.reconcile()), null, 2));
  return 0;
}

/** `gc [--dry-run]`: a dry run reads; a real one is the leader's, whoever leads (this process if nobody does). */
async function gcCommand(c: Cli): Promise<number> {
  const root = await realRepo(c.repo);
  const report = c.values['dry-run']
    ? await collectGarbage(c.store, c.lease, root, { dryRun: true })
    : await gcAndWait(c.store, root, c.requestedBy, c.lead, () => c.orchestrator.tick());
  for (const item of report) console.log(`${item.action.padEnd(8)} ${item.worktree}${item.reason ? `  (${item.reason})` : ''}`);
  if (!report.length) console.log('Nothing to collect.');
  const refused = report.filter((i) => i.action === 'refused');
  if (refused.length) process.stderr.write(`error: git refused to remove ${refused.length} worktree(s); the others were collected.\n`);
  return refused.length ? EXIT_USER : 0;
}

/** `start [--loop]`: leads or stands by in the foreground until SIGINT/SIGTERM, in the same seat as a window. */
async function startCommand(c: Cli): Promise<number> {
  const { store, lease } = c;
  if (c.values.loop) {
    const root = await realRepo(c.repo);
    loadRoadmap(root, c.settings.roadmapPath);
    store.setLoop(root, true, c.settings);
  }
  const seat = new LeaderSeat(store, lease, () => c.orchestratorSettings);
  seat.on('leader', (fence: Fence) => console.log(`leader (pid ${process.pid}, epoch ${fence.epoch})`));
  seat.on('reconciled', (r: ReconcileReport) => console.log(`reconciled: ${JSON.stringify(r)}`));
  seat.on('reconcile-failed', (e: unknown) => console.error(`reconcile failed: ${(e as Error)?.message ?? e}`)); // printed; the process keeps leading
  seat.on('standby', (row?: LeaderRow) => console.log(`standby${row ? ` (leader pid ${row.pid}, epoch ${row.epoch})` : ''}`));
  seat.start();
  if (!lease.isLeader) console.log(`standby (leader pid ${store.leader().pid}, epoch ${store.leader().epoch})`);
  await untilSignalled();
  seat.dispose();
  return 0;
}

function untilSignalled(): Promise<void> {
  return new Promise<void>((resolve) => {
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const done = () => {
      clearInterval(keepAlive);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/**
 * Pure readers still read a folder that cannot be written (read-only, or full: SQLite cannot
 * even make its -shm file there); everything else is told why it cannot write.
 */
function openStore(stateDir: string, reader: boolean): Store {
  try {
    return Store.open(stateDir);
  } catch (e) {
    if (!reader || !(e instanceof StateDirError)) throw e;
    process.stderr.write(`note: ${e.code === 'STATE_DIR_FULL' ? `the state folder ${stateDir} is full` : `the state folder ${stateDir} is read-only`}: showing what it holds; nothing can change until it takes writes again.\n`);
    return Store.open(stateDir, { readOnly: true });
  }
}

/** A spawn whose run could not move on because the state folder takes no writes says so. */
function stillWaitingOnStateDir(stateDir: string, run: Run): void {
  const why = checkStateDir(stateDir);
  if (!why) return;
  const what = run.status === 'requested' ? 'is queued (requested); it starts' : `waits at its last recorded step (provisioning: ${run.step}); it resumes from there`;
  throw new StateDirError(`${why.message} The run ${run.id} ${what} once the folder takes writes again and an orchestrator leads (worktree-orchestrator start, or any command that leads).`, why.code as StateDirErrorCode, stateDir);
}

/** --agent NAME; --agent-command alone means custom, and contradicts any other preset. */
function agentFlag(name: string | undefined, hasCommand: boolean): string | undefined {
  if (name === undefined) return hasCommand ? 'custom' : undefined;
  const agent = parseAgentName(name);
  if (hasCommand && agent !== 'custom') throw new UserError(`--agent ${agent} and --agent-command contradict each other: --agent-command is the custom agent.`);
  return agent;
}

/** `agents [--json] [--priority ID]`: the presets and what each would run. */
async function agents(store: Store, stateDir: string, repo: string, settings: LoopConfig, o: { json: boolean; priority?: string }): Promise<number> {
  const preview = await previewAgents(store, stateDir, repo, settings, o.priority);
  if (o.json) {
    console.log(JSON.stringify(preview, null, 2));
    return 0;
  }
  console.log(preview.priority ? `What each agent would run for ${preview.priority} (run and session ids are new at each spawn):` : 'Agent presets (--priority ID shows the exact argv for a priority):');
  for (const a of preview.agents) {
    console.log(`${a.selected ? '*' : ' '} ${a.name.padEnd(7)} ${a.problem ? `(${a.problem})` : JSON.stringify(a.argv ?? a.template)}`);
  }
  return 0;
}

/** `roadmap [--json]`: what the orchestrator reads from the roadmap, warnings included. */
async function showRoadmap(repo: string, roadmapPath: string | undefined, json: boolean): Promise<number> {
  const root = await realRepo(repo);
  const roadmap = loadRoadmap(root, roadmapPath);
  console.log(json ? JSON.stringify(roadmapJson(roadmap), null, 2) : roadmapText(roadmap, path.relative(root, roadmap.path)));
  return 0;
}

function wholeNumber(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} must be a whole number of at least ${min}, got "${value}".`);
  return n;
}

function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || value.trim() === '') throw new UserError(`${flag} must be a number of seconds, at least 0, got "${value}".`);
  return n * 1000;
}

function need(args: string[], n: number, usage: string): string[] {
  if (args.length < n) throw new UsageError(`Usage: worktree-orchestrator ${usage}`);
  return args;
}

async function realRepo(dir: string): Promise<string> {
  return (await GitRepo.open(dir)).root;
}

function describe(r: Run): string {
  const bits = [`${r.priority} #${r.attempt}`, r.status];
  if (r.pid) bits.push(`pid ${r.pid}`);
  if (r.exitCode !== null) bits.push(`exit ${r.exitCode}`);
  bits.push(r.branch, r.worktree);
  if (r.error) bits.push(`error: ${r.error}`);
  return `${r.id}  ${bits.join('  ')}`;
}

function statusJson(r: Run, f: RunFacts | undefined) {
  const facts = f && { sessionId: f.sessionId, lastActivity: f.lastActivity, lastActivityAt: f.lastActivityAt, tokensIn: f.tokensIn, tokensOut: f.tokensOut, costUsd: f.costUsd, denials: f.denials, deniedTool: f.deniedTool };
  const attention = f?.attention ? { state: f.attention, reason: f.attentionReason, at: f.attentionAt } : null;
  return { id: r.id, repo: r.repo, priority: r.priority, attempt: r.attempt, status: r.status, pid: r.pid, worktree: r.worktree, branch: r.branch, exitCode: r.exitCode, facts: facts ?? null, attention };
}

/** "  [needs-input: permission denied: Bash]  12.3k in / 214 out  $0.04  — last activity" */
function describeFacts(f: RunFacts | undefined): string {
  if (!f) return '';
  const bits: string[] = [];
  if (f.attention) bits.push(`[${f.attention}${f.attentionReason ? `: ${f.attentionReason}` : ''}]`);
  if (f.tokensIn !== null || f.tokensOut !== null) bits.push(`${f.tokensIn ?? 0} in / ${f.tokensOut ?? 0} out`);
  if (f.costUsd !== null) bits.push(`$${f.costUsd.toFixed(2)}`);
  if (f.lastActivity) bits.push(`— ${f.lastActivity}`);
  return bits.length ? `\n    ${bits.join('  ')}` : '';
}

/**
 * The needs-input / stalled thresholds for the supervisors this process starts: they inherit
 * its environment (see runWatch.ts). Flags win over what the environment already says.
 */
function passAttentionTimes(needsInput: string | undefined, stall: string | undefined): void {
  const times = attentionFromEnv();
  const n = seconds(needsInput, '--needs-input-seconds');
  const st = seconds(stall, '--stall-seconds');
  if (n === 0 || st === 0) throw new UserError('--needs-input-seconds and --stall-seconds must be more than 0.');
  Object.assign(process.env, attentionEnv({ needsInputSeconds: n === undefined ? times.needsInputSeconds : n / 1000, stallSeconds: st === undefined ? times.stallSeconds : st / 1000 }));
}

const SIGNAL_STATES = ['needs-input', 'working'] as const;

/**
 * `signal <priority|run> needs-input|working`: an agent's hook reports that it waits for the
 * user, or works again. A fact like the supervisor's exit record: written whoever leads.
 */
function signalRun(store: Store, repo: string, args: string[], reason: string | undefined, roadmapPath: string | undefined): number {
  const [which, state] = args;
  if (!(SIGNAL_STATES as readonly string[]).includes(state)) throw new UsageError(`Unknown state "${state}": signal takes needs-input or working.`);
  const run = store.findRun(runArgument(store, repo, which, roadmapPath)) ?? store.findRun(which);
  if (!run) throw new UserError(`No run matches "${which}".`);
  if (!isActive(run.status)) throw new UserError(`Run ${run.id} (${run.priority} #${run.attempt}) has ended (${run.status}); signal is for a live run.`);
  const text = reason?.trim().slice(0, 300) || undefined;
  const facts = store.recordRunFacts(run.id, state === 'needs-input' ? { attention: 'needs-input', attentionReason: text ?? 'the agent asks for input' } : { attention: null });
  console.log(`${run.priority} #${run.attempt} (${run.id}): ${facts.attention ? `needs input — ${facts.attentionReason}` : 'working'}`);
  return 0;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The command is done and has printed its answer. Whatever background work is still
    // pending (a lost run's leftovers being ended: the next leader ends them too) must not
    // hold the terminal: chaos 8 saw `stop` print its answer and then not exit for 60 s.
    setTimeout(() => process.exit(code), 5_000).unref();
  },
  (thrown: unknown) => {
    // A write that failed on a full or read-only state folder, wherever it happened.
    const e = (stateDirInUse && explainStateDirError(thrown, stateDirInUse)) || thrown;
    if (e instanceof StateDirError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT_STATE_DIR;
    } else if (e instanceof AlreadyActiveError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT_ALREADY_ACTIVE;
    } else if (e instanceof UserError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT_USER;
    } else if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
      process.exitCode = EXIT_USAGE;
    } else {
      process.stderr.write(`worktree-orchestrator: unexpected error: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 70;
    }
  },
);
