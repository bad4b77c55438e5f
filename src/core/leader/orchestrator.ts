import { BUSY_STATUSES, ENDED_STATUSES, LIVE_STATUSES } from '../model/runStatus';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AgentRecord, agentRecord, endRunProcesses, exitRecord, stopGroup } from '../agent/agents';
import { crashPoint } from '../crashPoint';
import { GitRepo } from '../git/git';
import { LeaderLease } from './leaderLease';
import { describePid, isAlive, runProcesses } from '../agent/processInfo';
import { WarmPool } from './warmPool';
import { FencedError, StaleRunError, Store } from '../db/store';
import { UserError } from '../model/userError';
import { findRoadmapPath } from '../roadmap/roadmap';
import { mergeRun, removeRunWorktree } from './runResults';
import { answerGcRequests } from './gc';
import { answerRequest } from './requestAnswer';
import type { RepoRequest } from '../model/action';
import { LoopConfig, runLoopPass } from '../roadmap/workLoop';
import { Provisioner } from './provisioner';
import { reconcile, ReconcileReport } from './reconcile';
import { Run } from '../model/run';

export type { ReconcileReport } from './reconcile';

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

/**
 * The leader's work: turns requested runs into worktrees and supervised agents, carries out
 * stop requests, notices agents that died, and reconciles after a restart. Every act is
 * preceded by a fenced write of the intent, so a crash at any point is resumable and a
 * deposed leader can never act.
 */
export class Orchestrator {
  private ticking: Promise<void> | undefined;
  private again = false;
  private wake: (() => void) | undefined;
  private readonly stopping = new Set<string>();
  /** Reconcile requests being answered (their ids). */
  private readonly reconciling = new Set<number>();
  private readonly sideTasks = new Set<Promise<void>>();
  private readonly endingLeftovers = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepMs: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly roadmapWatchers = new Map<string, { close(): void }>();
  readonly maxParallel: number;
  readonly pool: WarmPool;
  private readonly provisioner: Provisioner;

  constructor(private readonly o: OrchestratorOptions) {
    this.maxParallel = Math.max(1, o.maxParallel ?? 1);
    const log = (level: 'info' | 'warn' | 'error', m: string) => this.log(level, m);
    this.pool = new WarmPool(o.store, o.lease, o.warmPoolSize ?? 0, log, o.stateDir);
    this.provisioner = new Provisioner({
      store: o.store,
      lease: o.lease,
      repoAt: (root) => GitRepo.at(root).fencedBy(o.lease),
      pool: this.pool,
      settings: {
        stateDir: o.stateDir,
        nodePath: o.nodePath,
        cliPath: o.cliPath,
        maxParallel: this.maxParallel,
        agentLogMaxBytes: o.agentLogMaxBytes,
        commitOnExit: () => (typeof o.commitOnExit === 'function' ? o.commitOnExit() : o.commitOnExit) !== false,
      },
      log,
    });
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.o.log?.(level, message);
  }

  /**
   * Runs passes of the leader's work until none is due and nothing is being provisioned;
   * concurrent calls coalesce into one more pass. Provisioning runs beside the passes: one
   * that finishes (a slot may be free) or a call meanwhile (a change) brings another pass.
   */
  tick(): Promise<void> {
    this.provisioner.retryDeferred();
    if (this.ticking) {
      this.again = true;
      this.wake?.();
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        await this.pass().catch((e) => this.onError(e));
        await this.whileProvisioning();
        if (!this.again) await Promise.all(this.sideTasks);
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

  /** Waits until a provisioning finishes or tick() is called; an error of one is reported, and waits for the next call. */
  private async whileProvisioning(): Promise<void> {
    while (this.provisioner.busy && !this.again) {
      const woken = new Promise<'woken'>((resolve) => (this.wake = () => resolve('woken')));
      const outcome = await Promise.race([this.provisioner.nextSettled(), woken]);
      this.wake = undefined;
      if (outcome === 'woken') return;
      if (outcome.ok) this.again = true;
      else this.onError(outcome.error);
    }
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
    // Unlocks wait in the repository's git queue behind provisioning's adds: only a merge or
    // remove asked of the run waits for its unlock; the rest finish beside the pass.
    const asked = new Set(store.pendingActions().map((a) => a.runId));
    for (const run of store.listRuns({ statuses: ENDED_STATUSES, worktreeLocked: true })) {
      const unlocking = this.unlock(run);
      if (asked.has(run.id)) await unlocking;
      else this.track(unlocking);
    }
    await this.actionsPass();
    const repoRequests = store.pendingRepoRequests();
    await answerGcRequests(store, this.o.lease, repoRequests, (level, m) => this.log(level, m));
    this.answerReconcileRequests(repoRequests);
    await this.loopPass();
    this.provisioner.launchQueued();
  }

  /** A side task of a pass: tick() resolves once it has finished; its error is reported. */
  private track(task: Promise<void>): void {
    const tracked = task.catch((e) => this.onError(e)).finally(() => this.sideTasks.delete(tracked));
    this.sideTasks.add(tracked);
  }

  /** Merge and remove requests from any window or the CLI; the answer goes back into the row. */
  private async actionsPass(): Promise<void> {
    const { store } = this.o;
    for (const action of store.pendingActions()) {
      const run = store.getRun(action.runId)!;
      const { status, result } = await answerRequest(() => (action.kind === 'merge' ? mergeRun(store, this.o.lease, run) : removeRunWorktree(store, this.o.lease, run, action.force)));
      if (status === 'done') this.log('info', `${run.priority}: ${result}`);
      else this.log('warn', `${run.priority}: ${action.kind} refused: ${result}`);
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

  /** requested -> provisioning(worktree -> setup -> spawn) -> running; see Provisioner. */
  provision(run: Run): Promise<void> {
    return this.provisioner.provision(run);
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
      if (fs.existsSync(run.worktree)) await GitRepo.at(run.repo).fencedBy(this.o.lease).unlockWorktree(run.worktree); // the root recorded at request time
    } catch (e) {
      if (e instanceof FencedError) throw e;
      this.log('warn', `${run.priority}: could not unlock ${run.worktree}: ${(e as Error).message}`);
    }
  }

  /**
   * Reconciles asked by a process that does not lead (cli reconcile). Not awaited by the pass:
   * a reconcile runs passes of its own (tick), which would wait for this one.
   */
  private answerReconcileRequests(requests: RepoRequest[]): void {
    for (const request of requests) {
      if (request.kind !== 'reconcile' || this.reconciling.has(request.id)) continue;
      this.reconciling.add(request.id);
      void this.answerReconcile(request.id);
    }
  }

  private async answerReconcile(requestId: number): Promise<void> {
    try {
      const { status, result } = await answerRequest(async () => JSON.stringify(await this.reconcile()));
      this.o.store.finishRepoRequest(this.o.lease.currentFence(), requestId, status, result);
    } catch (e) {
      this.onError(e);
    } finally {
      this.reconciling.delete(requestId); // after the answer: a pass meanwhile sees it pending and skips it
    }
  }

  /** After a restart or a change of leader: see reconcile.ts. */
  reconcile(): Promise<ReconcileReport> {
    return reconcile({
      store: this.o.store,
      lease: this.o.lease,
      stateDir: this.o.stateDir,
      pool: this.pool,
      log: (level, m) => this.log(level, m),
      checkAlive: (run) => this.checkAlive(run),
      tick: async () => {
        await this.tick();
        await this.provisioner.idle();
      },
      leftoversEnded: async () => {
        await Promise.all(this.endingLeftovers);
      },
    });
  }
}
