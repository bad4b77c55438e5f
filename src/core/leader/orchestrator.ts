import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AgentRecord,
  agentRecord,
  endRunProcesses,
  exitRecord,
  hasSupervisor,
  isExit,
  launchSupervisor,
  readJson,
  runDir,
  sendGo,
  stopGroup,
  waitForAgent,
} from '../agent/agents';
import { withRealGitDir } from '../agent/agentPresets';
import { crashPoint } from '../crashPoint';
import { GitRepo, samePath, WorktreeInfo } from '../git/git';
import { LeaderLease } from './leaderLease';
import { describePid, isAlive, ProcessIdentity, processesWithRunIds, runProcesses, signalGroup } from '../agent/processInfo';
import { isPoolPath, WarmPool } from './warmPool';
import { explainStateDirError, FencedError, StaleRunError, Store } from '../db/store';
import { UserError } from '../model/userError';
import { findRoadmapPath } from '../roadmap/roadmap';
import { mergeRun, removeRunWorktree } from './runResults';
import { answerGcRequests } from './gc';
import { reuseWorktree } from './followUpWorktree';
import { LoopConfig, runLoopPass } from '../roadmap/workLoop';
import { copyIncludedFiles, runSetupCommand } from '../agent/worktreeSetup';
import { resolveWorktreeRoot } from '../git/worktreePaths';
import { portEnv } from '../db/ports';
import { Run } from '../model/run';
import { BUSY_STATUSES, ENDED_STATUSES, LIVE_STATUSES } from '../model/runStatus';

export interface OrchestratorOptions {
  store: Store;
  lease: LeaderLease;
  stateDir: string;
  /** Node binary and bundled CLI that host agent supervisors. */
  nodePath: string;
  cliPath: string;
  maxParallel?: number;
  stopGraceMs?: number;
  /** Worktrees kept checked out at the base ahead of time, per worktree root (0: off). */
  warmPoolSize?: number;
  /** agent.log's cap in bytes, head + tail (0: none; default 50 MiB). */
  agentLogMaxBytes?: number;
  /** Commit what an agent leaves uncommitted on its run's branch when it exits (default true; see commitOnExit.ts); read at each launch. */
  commitOnExit?: boolean | (() => boolean);
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface ReconcileReport {
  adopted: string[];
  ended: string[];
  resumed: string[];
  orphanWorktrees: string[];
  orphanProcesses: Array<{ pid: number; runId: string }>;
}

/**
 * The leader's work: turns requested runs into worktrees and supervised agents, carries out
 * stop requests, notices agents that died, and reconciles after a restart. Every act is
 * preceded by a fenced write of the intent, so a crash at any point is resumable and a
 * deposed leader can never act.
 */
export class Orchestrator {
  private ticking: Promise<void> | undefined;
  private again = false;
  private readonly stopping = new Set<string>();
  private readonly endingLeftovers = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepMs: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly roadmapWatchers = new Map<string, { close(): void }>();
  readonly maxParallel: number;
  readonly pool: WarmPool;

  constructor(private readonly o: OrchestratorOptions) {
    this.maxParallel = Math.max(1, o.maxParallel ?? 1);
    this.pool = new WarmPool(o.store, o.lease, o.warmPoolSize ?? 0, (level, m) => this.log(level, m));
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.o.log?.(level, message);
  }

  /** Runs one pass of the leader's work; concurrent calls coalesce into one more pass. */
  tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        await this.pass().catch((e) => this.onError(e));
      } while (this.again && this.o.lease.isLeader);
    })().finally(() => {
      this.ticking = undefined;
      try {
        this.scheduleSweep();
      } catch {
        // database busy or closed: the next change wakes the pass
      }
    });
    return this.ticking;
  }

  /**
   * Watches for agents that die without their supervisor saying so (kill -9 of both): a pass
   * every `intervalMs` while runs are active. With none, nothing wakes this process (a
   * request wakes it through the database watcher).
   */
  startSweeping(intervalMs = 2000): void {
    this.sweepMs = intervalMs;
    this.scheduleSweep();
  }

  private scheduleSweep(): void {
    if (this.sweepMs === undefined || this.sweepTimer || !this.o.lease.isLeader) return;
    if (!this.o.store.listRuns({ statuses: BUSY_STATUSES }).length) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      void this.tick();
    }, this.sweepMs);
    this.sweepTimer.unref();
  }

  dispose(): void {
    this.sweepMs = undefined;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.sweepTimer = this.retryTimer = undefined;
    for (const w of this.roadmapWatchers.values()) w.close();
    this.roadmapWatchers.clear();
  }

  private onError(e: unknown): void {
    if (e instanceof FencedError) this.log('warn', 'No longer the leader: stopped acting.');
    else if (e instanceof UserError) this.log('error', `Orchestrator pass stopped: ${e.message}`);
    else this.log('error', `Orchestrator pass failed: ${(e as Error).stack ?? e}`);
  }

  private async pass(): Promise<void> {
    if (!this.o.lease.isLeader) return;
    const { store } = this.o;
    for (const run of store.listRuns({ statuses: LIVE_STATUSES })) this.checkAlive(run);
    for (const run of store.listRuns({ statuses: BUSY_STATUSES })) {
      if ((run.stopRequested || run.status === 'stopping') && !this.stopping.has(run.id)) void this.stop(run);
    }
    for (const run of store.listRuns({ statuses: ENDED_STATUSES, worktreeLocked: true })) await this.unlock(run);
    await this.actionsPass();
    await answerGcRequests(this.o.store, this.o.lease, (level, m) => this.log(level, m));
    await this.loopPass();
    await this.provisionQueued();
  }

  /** Merge and remove requests from any window or the CLI; the answer goes back into the row. */
  private async actionsPass(): Promise<void> {
    const { store } = this.o;
    for (const action of store.pendingActions()) {
      const run = store.getRun(action.runId)!;
      let status: 'done' | 'failed' = 'done';
      let result: string;
      try {
        result = action.kind === 'merge' ? await mergeRun(store, this.o.lease, run) : await removeRunWorktree(store, this.o.lease, run, action.force);
        this.log('info', `${run.priority}: ${result}`);
      } catch (e) {
        if (e instanceof FencedError) throw e;
        status = 'failed';
        result = e instanceof UserError ? e.message : String((e as Error).stack ?? e);
        this.log('warn', `${run.priority}: ${action.kind} refused: ${result}`);
      }
      store.finishAction(this.o.lease.currentFence(), action.id, status, result);
    }
  }

  /** The continuous loop: request planned priorities, wake up for retries and roadmap edits. */
  private async loopPass(): Promise<void> {
    const loops = this.o.store.loops().filter((l) => l.enabled);
    this.watchRoadmaps(loops);
    if (!loops.length) return;
    const { nextDueAt } = await runLoopPass(this.o.store, this.o.stateDir, this.maxParallel, (level, m) => this.log(level, m));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (nextDueAt !== undefined) {
      this.retryTimer = setTimeout(() => void this.tick(), Math.max(0, nextDueAt - Date.now()) + 10);
      this.retryTimer.unref();
    }
  }

  /** Watches the folders of the looped repositories' roadmaps: editors often replace the file. */
  private watchRoadmaps(loops: Array<{ repo: string; config: unknown }>): void {
    const wanted = new Map<string, string>();
    for (const l of loops) {
      try {
        const file = findRoadmapPath(l.repo, (l.config as LoopConfig).roadmapPath);
        if (file) wanted.set(path.dirname(file), path.basename(file));
      } catch {
        // reported by the loop pass
      }
    }
    for (const [dir, watcher] of this.roadmapWatchers) {
      if (wanted.has(dir)) continue;
      watcher.close();
      this.roadmapWatchers.delete(dir);
    }
    for (const [dir, name] of wanted) {
      if (this.roadmapWatchers.has(dir)) continue;
      const watcher = fs.watch(dir, (_e, file) => {
        if (!file || String(file) === name) void this.tick();
      });
      watcher.on('error', () => undefined);
      this.roadmapWatchers.set(dir, watcher);
    }
  }

  private async provisionQueued(): Promise<void> {
    const { store } = this.o;
    // Provisioning runs first: they are resumed intents of an earlier leader.
    const resumable = store.listRuns({ statuses: ['provisioning'] }).filter((r) => !r.stopRequested);
    for (const run of resumable) await this.provision(run);
    for (;;) {
      if (!this.o.lease.isLeader) return;
      const busy = store.listRuns({ statuses: BUSY_STATUSES }).length;
      if (busy >= this.maxParallel) return;
      const next = store.listRuns({ statuses: ['requested'] })[0];
      if (!next) return;
      await this.provision(next);
    }
  }

  /**
   * requested -> provisioning(worktree -> setup -> spawn) -> running. Idempotent from any step.
   * Every act (git, files, setup, supervisor, 'go') goes through the lease's act(): a leader
   * frozen mid-way and deposed meanwhile wakes up and does none of the remaining steps.
   */
  async provision(run: Run): Promise<void> {
    const { store, lease } = this.o;
    const fence = () => lease.currentFence();
    try {
      const repo = GitRepo.at(run.repo).fencedBy(lease); // recorded at request time: already verified
      if (run.status === 'requested') {
        // One transaction claims the run for provisioning and records the worktree intent:
        // the base is resolved first (every write and git call here is on the spawn's path).
        const baseCommit = await repo.commitOf(run.baseRef);
        run = store.fencedTransition(fence(), run.id, ['requested'], 'provisioning', { step: 'worktree', baseCommit }, `provisioning: worktree ${run.worktree}`);
        crashPoint('after-claim');
      }
      if (run.step === 'claimed' || run.step === 'worktree') {
        if (!run.baseCommit) {
          run = store.fencedTransition(fence(), run.id, ['provisioning'], 'provisioning', { step: 'worktree', baseCommit: await repo.commitOf(run.baseRef) }, `worktree ${run.worktree}`);
        }
        const baseCommit = run.baseCommit!;
        const followUp = store.followUpOf(run.id); // works on in the previous run's worktree (followUpWorktree.ts)
        this.assertIsolated(run, !followUp);
        const lockReason = `worktree-orchestrator run ${run.id}`;
        if (followUp) {
          this.startSupervisor(run);
          await reuseWorktree(store, lease, repo, run, followUp.previousRunId, lockReason);
        } else if (!this.pool.enabled) {
          // The supervisor starts once git is busy and waits for 'go': its start-up (and
          // the cost of forking this process) overlaps the checkout instead of delaying it.
          let settled = false;
          const adding = repo.addWorktree(run.worktree, run.branch, baseCommit, lockReason, { logPath: run.logPath }).finally(() => (settled = true)); // adopts an identical worktree left by a crash
          setImmediate(() => settled || this.startSupervisorQuietly(run));
          await adding;
        } else {
          this.startSupervisor(run);
          if ((await repo.worktrees()).some((w) => samePath(w.path, run.worktree))) {
            // Resuming after a crash: finish a pool take, or adopt the identical worktree.
            await WarmPool.resume(repo, run.worktree, run.branch, baseCommit);
            await repo.addWorktree(run.worktree, run.branch, baseCommit, lockReason, { logPath: run.logPath });
          } else if (await this.pool.take(run.id, repo, run.worktree, run.branch, baseCommit)) {
            await repo.lockWorktree(run.worktree, lockReason);
          } else {
            await repo.addWorktree(run.worktree, run.branch, baseCommit, lockReason, { logPath: run.logPath });
          }
        }
        run = store.fencedTransition(fence(), run.id, ['provisioning'], 'provisioning', { step: 'setup', worktreeLocked: true }, 'worktree ready');
        crashPoint('after-worktree-add');
      }
      if (run.step === 'setup') {
        const copied = await lease.act('copy the .worktreeinclude files', () => copyIncludedFiles(run.repo, run.worktree, run.logPath)).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'EEXIST') return []; // copied before a crash
          throw e;
        });
        const setup = run.setupCommand;
        if (setup) await lease.act(`setup command in ${run.worktree}`, () => runSetupCommand(setup, run.worktree, run.logPath, this.agentEnv(run)));
        run = store.fencedTransition(fence(), run.id, ['provisioning'], 'provisioning', { step: 'spawn' }, `setup done${copied.length ? `, copied ${copied.join(', ')}` : ''}`);
      }
      if (run.stopRequested) {
        store.fencedTransition(fence(), run.id, ['provisioning'], 'stopped', { endedAt: Date.now() }, 'stopped before the agent started');
        this.dismissSupervisor(run);
        return;
      }
      // step === 'spawn': the intent is on record; a supervisor may already wait, or even run
      // the agent, from before a crash — it starts the agent only once, whoever says 'go'.
      this.assertIsolated(run);
      this.startSupervisor(run);
      const argv = withRealGitDir(run.repo, run.worktree, run.command);
      lease.act(`start the agent of ${run.id}`, () => sendGo(this.o.stateDir, run.id, argv));
      crashPoint('after-spawn');
      const supervisor = readJson<ProcessIdentity>(path.join(runDir(this.o.stateDir, run.id), 'supervisor.json'));
      const started = supervisor && !isAlive(supervisor) ? exitRecord(this.o.stateDir, run.id) ?? agentRecord(this.o.stateDir, run.id) : await waitForAgent(this.o.stateDir, run.id);
      if (!started && supervisor && !isAlive(supervisor)) {
        store.recordExit(run.id, { code: null, error: 'the supervisor died before starting the agent' }, true);
        return;
      }
      crashPoint('before-status-update');
      if (isExit(started)) {
        store.recordExit(run.id, started);
        this.log(started.code === 0 ? 'info' : 'warn', `${run.priority}: agent ended at once (${started.error ?? `exit code ${started.code}`}).`);
      } else if (started) {
        store.fencedTransition(fence(), run.id, ['provisioning'], 'running', { pid: started.pid, pidStart: started.start, supervisorPid: started.supervisorPid, startedAt: Date.now(), step: null }, `pid ${started.pid}`);
        this.log('info', `${run.priority}: code_developer running (pid ${started.pid}) in ${run.worktree}.`);
        this.pool.refill(run.repo, path.dirname(run.worktree), run.baseRef);
      } else {
        this.log('warn', `${run.priority}: the agent has not reported yet; will check again.`);
      }
    } catch (e) {
      if (e instanceof FencedError || e instanceof StaleRunError) throw e;
      // A full or read-only state folder is not the run's fault: it waits at the step it
      // recorded last, and this pass or the next leader's resumes it once writes succeed.
      const stateDir = explainStateDirError(e, this.o.stateDir);
      if (stateDir) throw stateDir;
      const message = e instanceof UserError ? e.message : String((e as Error).stack ?? e);
      this.log('error', `${run.priority}: provisioning failed: ${message}`);
      this.dismissSupervisor(run);
      try {
        store.fencedTransition(lease.currentFence(), run.id, ['requested', 'provisioning'], 'failed', { error: message, endedAt: Date.now() }, 'provisioning failed');
      } catch (inner) {
        if (!(inner instanceof StaleRunError)) throw inner;
      }
    }
  }

  /** Launches the run's supervisor unless one exists (it claims supervisor.json exclusively). */
  private startSupervisor(run: Run): void {
    if (hasSupervisor(this.o.stateDir, run.id)) return;
    this.o.lease.act(`start the supervisor of ${run.id}`, () => launchSupervisor({
      stateDir: this.o.stateDir,
      runId: run.id,
      argv: run.command,
      cwd: run.worktree,
      logPath: run.logPath,
      env: this.agentEnv(run),
      nodePath: this.o.nodePath,
      cliPath: this.o.cliPath,
      logMaxBytes: this.o.agentLogMaxBytes,
      commitOnExit: (typeof this.o.commitOnExit === 'function' ? this.o.commitOnExit() : this.o.commitOnExit) === false ? undefined : { repo: run.repo, branch: run.branch, priority: run.priority, attempt: run.attempt, runId: run.id, cli: this.o.cliPath },
    }));
  }

  /** The early start: a failure here is reported by the start at the 'spawn' step. */
  private startSupervisorQuietly(run: Run): void {
    try {
      this.startSupervisor(run);
    } catch {
      // retried, and reported, when the agent is due
    }
  }

  /** A supervisor still waiting for 'go' of a run that will not start: let it go. */
  private dismissSupervisor(run: Run): void {
    const sup = readJson<ProcessIdentity>(path.join(runDir(this.o.stateDir, run.id), 'supervisor.json'));
    if (sup && isAlive(sup) && !agentRecord(this.o.stateDir, run.id)) this.o.lease.act(`dismiss the supervisor of ${run.id}`, () => signalGroup(sup.pid, 'SIGTERM'));
  }

  private agentEnv(run: Run): Record<string, string> {
    return { WTO_PRIORITY: run.priority, WTO_RUN_ID: run.id, WTO_WORKTREE: run.worktree, WTO_BRANCH: run.branch, WTO_STATE_DIR: this.o.stateDir, ...portEnv(this.o.store.portBlock(run.id)) };
  }

  /** Never the main checkout, never another run's worktree (invariant 2). */
  private assertIsolated(run: Run, creating = false): void {
    if (samePath(run.worktree, run.repo) || run.repo.startsWith(path.resolve(run.worktree) + path.sep)) {
      throw new UserError(`Refusing to use ${run.worktree}: it is the main checkout.`, 'NOT_ISOLATED');
    }
    // Checked when the run was requested, which may be long ago (a queue, the loop): the root
    // may have been replaced by a symlink since, and git would follow it.
    resolveWorktreeRoot(run.repo, path.dirname(run.worktree));
    const other = this.o.store.listRuns({ statuses: BUSY_STATUSES }).find((r) => r.id !== run.id && samePath(r.worktree, run.worktree));
    if (other) throw new UserError(`Refusing to use ${run.worktree}: run ${other.id} (${other.priority}) works there.`, 'NOT_ISOLATED');
    // Names are not one-to-one (US-1 attempt 2 and US-1.2 attempt 1 are both us-1-2): before
    // adding or adopting a worktree, one that exists and that another run recorded is that
    // run's, even once it has ended; adopting it would put this agent on the other's branch.
    if (creating && fs.existsSync(run.worktree)) {
      const owner = this.o.store.listRuns({ repo: run.repo }).find((r) => r.id !== run.id && samePath(r.worktree, run.worktree));
      if (owner) throw new UserError(`Refusing to use ${run.worktree}: it is the worktree of run ${owner.id} (${owner.priority} #${owner.attempt}, ${owner.status}).`, 'NOT_ISOLATED');
    }
  }

  /** Records the end of a run whose agent and supervisor are both gone. */
  private checkAlive(run: Run): void {
    const record = agentRecord(this.o.stateDir, run.id);
    const agentAlive = record ? isAlive(record) : run.pid !== null && isAlive({ pid: run.pid, start: run.pidStart });
    const supervisorAlive = record ? isAlive({ pid: record.supervisorPid, start: null }) : false;
    if (agentAlive || supervisorAlive) return;
    const exit = exitRecord(this.o.stateDir, run.id);
    const ended = this.o.store.recordExit(run.id, exit ?? { code: null, error: 'the agent and its supervisor are gone; exit code unknown' }, !exit);
    if (!ended) return;
    this.log('warn', `${run.priority}: agent ${exit ? 'ended' : 'lost'} (${ended.status}).`);
    // A supervisor killed with its agent ended nothing they started: this leader does.
    const ending = this.endLeftovers(run).finally(() => this.endingLeftovers.delete(ending));
    this.endingLeftovers.add(ending);
  }

  /** Ends the processes still carrying an ended run's id (and their descendants); every signal an act. */
  private async endLeftovers(run: Run): Promise<void> {
    const found = runProcesses(this.o.stateDir, run.id).length;
    if (!found) return;
    try {
      const left = await endRunProcesses({ stateDir: this.o.stateDir, runId: run.id }, 2000, this.o.lease);
      this.log(left.length ? 'warn' : 'info', `${run.priority}: ended ${found - left.length} process${found - left.length === 1 ? '' : 'es'} the run left behind${left.length ? `; could not end ${left.map((p) => describePid(p.pid)).join(', ')}` : ''}.`);
    } catch (e) {
      if (!(e instanceof FencedError)) this.log('warn', `${run.priority}: could not end the processes the run left behind: ${(e as Error).message}`);
    }
  }

  /** Stop: intent (stopping) first, then TERM to the group, KILL after the grace period. */
  async stop(run: Run): Promise<void> {
    this.stopping.add(run.id);
    try {
      const fence = this.o.lease.currentFence();
      if (run.status === 'provisioning') return; // provision() sees stopRequested between steps
      if (run.status === 'running') run = this.o.store.fencedTransition(fence, run.id, ['running'], 'stopping', {}, 'stopping');
      const record: AgentRecord | undefined = agentRecord(this.o.stateDir, run.id) ?? (run.pid && run.supervisorPid ? { pid: run.pid, start: run.pidStart, supervisorPid: run.supervisorPid } : undefined);
      crashPoint('before-kill');
      const left = record ? await stopGroup(record, this.o.stopGraceMs ?? 5000, this.o.lease, { stateDir: this.o.stateDir, runId: run.id }) : [];
      if (left.length) this.log('warn', `${run.priority}: could not end pid ${left.map((p) => p.pid).join(', ')} (still running after SIGKILL).`);
      // The leader's own account of the end (the supervisor may have recorded it already).
      this.o.lease.act(`record the stop of ${run.id}`, () => this.o.store.recordExit(run.id, exitRecord(this.o.stateDir, run.id) ?? { code: null, signal: 'SIGKILL' }));
      this.log('info', `${run.priority}: stopped.`);
    } catch (e) {
      if (!(e instanceof StaleRunError)) this.onError(e);
    } finally {
      this.stopping.delete(run.id);
    }
  }

  private async unlock(run: Run): Promise<void> {
    try {
      this.o.store.fencedTransition(this.o.lease.currentFence(), run.id, [run.status], run.status, { worktreeLocked: false }, 'unlock worktree');
      if (fs.existsSync(run.worktree)) await (await GitRepo.open(run.repo)).fencedBy(this.o.lease).unlockWorktree(run.worktree);
    } catch (e) {
      if (e instanceof FencedError) throw e;
      this.log('warn', `${run.priority}: could not unlock ${run.worktree}: ${(e as Error).message}`);
    }
  }

  /**
   * After a restart or a change of leader: database rows × `git worktree list` × live
   * processes. Adopts what is alive, records what died, resumes interrupted provisioning,
   * reports orphans. Deletes nothing.
   */
  async reconcile(): Promise<ReconcileReport> {
    const { store } = this.o;
    const report: ReconcileReport = { adopted: [], ended: [], resumed: [], orphanWorktrees: [], orphanProcesses: [] };
    for (const run of store.listRuns({ statuses: LIVE_STATUSES })) {
      this.checkAlive(run);
      const now = store.getRun(run.id)!;
      (now.status === run.status ? report.adopted : report.ended).push(run.id);
    }
    for (const run of store.listRuns({ statuses: ['provisioning'] })) report.resumed.push(run.id);
    await this.tick();
    const runs = store.listRuns();
    const repos = [...new Set(runs.map((r) => r.repo))];
    for (const repoPath of repos) {
      let repo: GitRepo;
      try {
        repo = await GitRepo.open(repoPath);
      } catch (e) {
        this.log('warn', `reconcile: ${repoPath}: ${(e as Error).message}`);
        continue;
      }
      const roots = new Set(runs.filter((r) => r.repo === repoPath).map((r) => path.dirname(r.worktree)));
      let worktrees: WorktreeInfo[];
      try {
        worktrees = await repo.worktrees();
      } catch (e) {
        this.log('warn', `reconcile: ${repoPath}: ${(e as Error).message}`);
        continue;
      }
      for (const wt of worktrees) {
        if (!roots.has(path.dirname(wt.path))) continue;
        if (!runs.some((r) => samePath(r.worktree, wt.path)) && !isPoolPath(wt.path)) report.orphanWorktrees.push(wt.path);
      }
      const latest = runs.filter((r) => r.repo === repoPath).pop()!;
      if (this.o.lease.isLeader) this.pool.refill(repoPath, path.dirname(latest.worktree), latest.baseRef);
    }
    await Promise.all(this.endingLeftovers);
    const active = new Set(store.listRuns({ statuses: BUSY_STATUSES }).map((r) => r.id));
    for (const p of processesWithRunIds(this.o.stateDir)) if (!active.has(p.runId)) report.orphanProcesses.push(p);
    for (const w of report.orphanWorktrees) this.log('warn', `reconcile: worktree ${w} belongs to no run (left as it is).`);
    for (const p of report.orphanProcesses) this.log('warn', `reconcile: process ${p.pid} says it is run ${p.runId}, which is not active.`);
    store.immediate(() => store.addEvent(null, 'reconcile', null, null, this.o.lease.isLeader ? this.o.lease.currentFence().epoch : null, JSON.stringify({ ...report, orphanProcesses: report.orphanProcesses.length })));
    return report;
  }
}
