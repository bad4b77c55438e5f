import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parseAgentCommand } from './core/agent/agents';
import { parseAgentName, previewAgents } from './core/agent/agentPresets';
import { attachCli } from './core/agent/attachSession';
import { agentLogMaxBytes } from './core/agent/cappedLog';
import { ChangeWatcher } from './core/db/changeWatcher';
import { collectGarbage } from './core/leader/gc';
import { commitAll, GitRepo } from './core/git/git';
import { COMMIT_ON_EXIT_COMMAND, CommitRequest } from './core/agent/commitOnExit';
import { holderAlive, LeaderLease } from './core/leader/leaderLease';
import { Orchestrator } from './core/leader/orchestrator';
import { loadRoadmap, roadmapJson, roadmapText } from './core/roadmap/roadmap';
import { requestSpawn, runArgument } from './core/requests';
import { requestFollowUp } from './core/followUp';
import { AlreadyActiveError, checkStateDir, explainStateDirError, isActive, Run, StateDirError, StateDirErrorCode, Store } from './core/db/store';
import { UserError } from './core/model/userError';
import { LoopConfig } from './core/roadmap/workLoop';

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

async function main(argv: string[]): Promise<number> {
  if (argv[0] === COMMIT_ON_EXIT_COMMAND) return commitOnExitCommand(argv[1]);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
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
      loop: { type: 'boolean' },
      'new-attempt': { type: 'boolean' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'no-commit-on-exit': { type: 'boolean' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? 0 : EXIT_USAGE;
  }
  const stateDir = path.resolve(values['state-dir'] ?? process.env.WTO_STATE_DIR ?? path.join(os.homedir(), '.local', 'state', 'worktree-orchestrator'));
  const repo = path.resolve(values.repo ?? process.cwd());
  const maxParallel = wholeNumber(values['max-parallel'], '--max-parallel', 1) ?? 1;
  const logMaxBytes = values['agent-log-max-mib'] === undefined ? undefined : agentLogMaxBytes(values['agent-log-max-mib'], '--agent-log-max-mib');
  const settings: LoopConfig = {
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

  stateDirInUse = stateDir;
  const store = openStore(stateDir, ['status', 'roadmap', 'agents'].includes(command) || (command === 'gc' && !!values['dry-run']));
  const lease = new LeaderLease(store, { label: `cli pid ${process.pid}` });
  const orchestrator = new Orchestrator({
    store,
    lease,
    stateDir,
    nodePath: process.execPath,
    cliPath: __filename,
    maxParallel,
    warmPoolSize: wholeNumber(values['warm-pool'], '--warm-pool', 0),
    stopGraceMs: seconds(values['stop-grace-seconds'], '--stop-grace-seconds'),
    agentLogMaxBytes: logMaxBytes,
    commitOnExit: !values['no-commit-on-exit'],
    log: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
  });
  /** Acts as leader just long enough for `fn`, when no other leader is alive. */
  const whileLeading = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    if (!lease.tryAcquire()) return undefined;
    try {
      return await fn();
    } finally {
      lease.release();
    }
  };

  /** A requested run (spawn, follow-up): provisioned now when no other leader is alive, else queued for the leader. */
  const carryOut = async (run: Run): Promise<number> => {
    const led = await whileLeading(() => orchestrator.tick().then(() => true));
    if (!led && values.wait) await waitUntil(store, () => !['requested', 'provisioning'].includes(store.getRun(run.id)!.status));
    const now = store.getRun(run.id)!;
    console.log(describe(now));
    if (now.status === 'requested' || now.status === 'provisioning') stillWaitingOnStateDir(stateDir, now);
    if (now.status === 'requested') {
      const leader = store.leader();
      console.log(holderAlive(leader) ? `Queued: the leader (pid ${leader.pid}) starts it when a slot frees.` : `Queued: ${store.listRuns({ statuses: ['provisioning', 'running', 'stopping'] }).length} run(s) are active (--max-parallel ${maxParallel}); it starts when a slot frees and an orchestrator runs (worktree-orchestrator start).`);
    }
    return now.status === 'failed' ? EXIT_USER : 0;
  };

  try {
    // 'stop US-104', 'merge priority 20': the run recorded under the canonical id.
    if ((command === 'stop' || command === 'merge' || command === 'remove' || command === 'attach') && args[0]) args[0] = runArgument(store, repo, args[0], settings.roadmapPath);
    switch (command) {
      case 'start':
        return await start(store, lease, orchestrator, { loop: !!values.loop, repo, settings });
      case 'spawn': {
        const [priority] = need(args, 1, 'spawn <priority>');
        const run = await requestSpawn(store, stateDir, repo, priority, settings, { newAttempt: values['new-attempt'], requestedBy: `cli pid ${process.pid}` });
        console.log(`Requested ${run.priority} (run ${run.id}, attempt ${run.attempt}): ${run.branch} in ${run.worktree}`);
        return await carryOut(run);
      }
      case 'follow-up': {
        const [which, message] = need(args, 2, 'follow-up <priority|run-id> "<message>"');
        const run = await requestFollowUp(store, stateDir, repo, which, message, settings, { requestedBy: `cli pid ${process.pid}` });
        console.log(`Requested a follow-up of ${run.priority} (run ${run.id}, attempt ${run.attempt}) in the same worktree and branch: ${run.branch} in ${run.worktree}`);
        return await carryOut(run);
      }
      case 'loop': {
        const [onOff] = need(args, 1, 'loop <on|off>');
        if (onOff !== 'on' && onOff !== 'off') throw new UsageError('Usage: worktree-orchestrator loop <on|off>');
        const root = await realRepo(repo);
        if (onOff === 'on') loadRoadmap(root, settings.roadmapPath); // refuse a loop over no roadmap
        store.setLoop(root, onOff === 'on', settings);
        console.log(`Continuous work loop ${onOff} for ${root}.`);
        if (onOff === 'on') await whileLeading(() => orchestrator.tick());
        return 0;
      }
      case 'roadmap':
        return await showRoadmap(repo, settings.roadmapPath, !!values.json);
      case 'status': {
        const leader = store.leader();
        const runs = store.listRuns(values.repo ? { repo: await realRepo(repo) } : {});
        const alive = holderAlive(leader);
        if (values.json) {
          console.log(JSON.stringify({ leader: alive ? { pid: leader.pid, epoch: leader.epoch } : null, runs: runs.map(statusJson) }, null, 2));
        } else {
          console.log(alive ? `Leader: pid ${leader.pid} (${leader.label ?? 'unknown'}), epoch ${leader.epoch}` : 'Leader: none');
          if (!runs.length) console.log('No runs.');
          for (const r of runs) console.log(describe(r));
        }
        return 0;
      }
      case 'stop': {
        const [which] = need(args, 1, 'stop <priority|run-id>');
        const run = store.findRun(which, values.repo ? await realRepo(repo) : undefined);
        if (!run) throw new UserError(`No run matches "${which}".`);
        if (!isActive(run.status)) {
          console.log(`${run.priority} is not active (${run.status}); nothing to stop.`);
          return 0;
        }
        const requested = store.requestStop(run.id);
        if (isActive(requested.status)) {
          const led = await whileLeading(() => orchestrator.stop(store.getRun(run.id)!).then(() => true));
          if (!led) await waitUntil(store, () => !isActive(store.getRun(run.id)!.status), 30_000);
        }
        console.log(describe(store.getRun(run.id)!));
        return 0;
      }
      case 'merge':
      case 'remove': {
        const [which] = need(args, 1, `${command} <priority|run-id>`);
        const run = store.findRun(which, await realRepo(repo));
        if (!run) throw new UserError(`No run matches "${which}".`);
        const action = store.requestAction(command, run.id, { force: !!values.force, requestedBy: `cli pid ${process.pid}` });
        const led = await whileLeading(() => orchestrator.tick().then(() => true));
        if (!led) await waitUntil(store, () => store.getAction(action.id)?.status !== 'pending');
        const done = store.getAction(action.id)!;
        if (done.status === 'pending') throw new UserError(`The leader (pid ${store.leader().pid}) has not answered yet; the request stays queued.`);
        if (done.status === 'failed') throw new UserError(done.result ?? `${command} failed.`);
        console.log(done.result);
        return 0;
      }
      case 'reconcile': {
        const report = await whileLeading(() => orchestrator.reconcile());
        if (!report) throw new UserError(`Another orchestrator leads (pid ${store.leader().pid}); it reconciles on its own.`);
        console.log(JSON.stringify(report, null, 2));
        return 0;
      }
      case 'gc': {
        const root = await realRepo(repo);
        const act = async () => collectGarbage(store, lease, root, { dryRun: !!values['dry-run'] });
        const report = values['dry-run'] ? await act() : await whileLeading(act);
        if (!report) throw new UserError(`Another orchestrator leads (pid ${store.leader().pid}); run gc with --dry-run, or stop it first.`);
        for (const item of report) console.log(`${item.action.padEnd(8)} ${item.worktree}${item.reason ? `  (${item.reason})` : ''}`);
        if (!report.length) console.log('Nothing to collect.');
        const refused = report.filter((i) => i.action === 'refused');
        if (refused.length) process.stderr.write(`error: git refused to remove ${refused.length} worktree(s); the others were collected.\n`);
        return refused.length ? EXIT_USER : 0;
      }
      case 'attach':
        return await attachCli(store, stateDir, need(args, 1, 'attach <priority|run-id>')[0], values.repo ? await realRepo(repo) : undefined);
      case 'agents':
        return await agents(store, stateDir, repo, settings, { json: !!values.json, priority: values.priority });
      default:
        process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
        return EXIT_USAGE;
    }
  } finally {
    orchestrator.dispose();
    lease.dispose();
    store.close();
  }
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

async function start(store: Store, lease: LeaderLease, orchestrator: Orchestrator, o: { loop: boolean; repo: string; settings: LoopConfig }): Promise<number> {
  if (o.loop) {
    const root = await realRepo(o.repo);
    loadRoadmap(root, o.settings.roadmapPath);
    store.setLoop(root, true, o.settings);
  }
  const watcher = new ChangeWatcher(store).start();
  watcher.on('runs', () => void orchestrator.tick());
  lease.on('leader', (fence: { epoch: number }) => {
    console.log(`leader (pid ${process.pid}, epoch ${fence.epoch})`);
    void orchestrator.reconcile().then(
      (r) => console.log(`reconciled: ${JSON.stringify(r)}`),
      (e: unknown) => console.error(`reconcile failed: ${(e as Error)?.message ?? e}`), // printed; the process keeps leading
    );
  });
  lease.on('standby', (row?: { pid: number | null; epoch: number }) => console.log(`standby${row ? ` (leader pid ${row.pid}, epoch ${row.epoch})` : ''}`));
  lease.start();
  orchestrator.startSweeping();
  if (!lease.isLeader) console.log(`standby (leader pid ${store.leader().pid}, epoch ${store.leader().epoch})`);
  await new Promise<void>((resolve) => {
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const done = () => {
      clearInterval(keepAlive);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  watcher.dispose();
  return 0;
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

/** Resolves once `done()` holds after a change to the runs or actions (or the timeout passes). */
function waitUntil(store: Store, done: () => boolean, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve) => {
    const watcher = new ChangeWatcher(store, 250);
    const finish = () => {
      clearTimeout(timer);
      watcher.dispose();
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    watcher.on('runs', () => {
      if (done()) finish();
    });
    watcher.start();
  });
}

function describe(r: Run): string {
  const bits = [`${r.priority} #${r.attempt}`, r.status];
  if (r.pid) bits.push(`pid ${r.pid}`);
  if (r.exitCode !== null) bits.push(`exit ${r.exitCode}`);
  bits.push(r.branch, r.worktree);
  if (r.error) bits.push(`error: ${r.error}`);
  return `${r.id}  ${bits.join('  ')}`;
}

function statusJson(r: Run) {
  return { id: r.id, repo: r.repo, priority: r.priority, attempt: r.attempt, status: r.status, pid: r.pid, worktree: r.worktree, branch: r.branch, exitCode: r.exitCode };
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
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
