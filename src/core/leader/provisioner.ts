import { BUSY_STATUSES } from '../model/runStatus';
import { reuseWorktree } from './followUpWorktree';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentRecord, exitRecord, hasSupervisor, isExit, launchSupervisor, readJson, runDir, sendGo, waitForAgent } from '../agent/agents';
import { withRealGitDir } from '../agent/agentPresets';
import { crashPoint } from '../crashPoint';
import { GitRepo, samePath } from '../git/git';
import type { LeaderLease } from './leaderLease';
import { isAlive, ProcessIdentity, signalGroup } from '../agent/processInfo';
import { poolSetupCommand, WarmPool } from './warmPool';
import { explainStateDirError, FencedError, StaleRunError, Store } from '../db/store';
import { UserError } from '../model/userError';
import { copyIncludedFiles, runSetupCommand } from '../agent/worktreeSetup';
import { resolveWorktreeRoot } from '../git/worktreePaths';
import { portEnv } from '../db/ports';
import { Run } from '../model/run';

export interface ProvisionerSettings {
  stateDir: string;
  /** Node binary and bundled CLI that host agent supervisors. */
  nodePath: string;
  cliPath: string;
  maxParallel: number;
  agentLogMaxBytes?: number;
  /** Commit what an agent leaves uncommitted on its run's branch when it exits (default true; see commitOnExit.ts); read at each launch. */
  commitOnExit?: () => boolean;
}

export interface ProvisionerDeps {
  store: Store;
  lease: LeaderLease;
  /** The leader's (fenced) view of a repository recorded at request time. */
  repoAt: (root: string) => GitRepo;
  pool: WarmPool;
  settings: ProvisionerSettings;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** How one provisioning ended: not ok when it stopped on an error the pass must hear of. */
export type ProvisionOutcome = { ok: true } | { ok: false; error: unknown };

/**
 * requested -> provisioning(worktree -> setup -> spawn) -> running, up to maxParallel runs at
 * once (git commands of one repository are serialized by git.ts's queue anyway: what overlaps
 * is the setup command, the supervisors' start and the wait for the agent).
 * Each step writes its intent (fenced) before acting, so a crash at any step resumes there;
 * every act goes through the lease.
 */
export class Provisioner {
  private readonly inFlight = new Map<string, Promise<ProvisionOutcome>>();
  /** Runs whose provisioning stopped on an error: not retried until the next outside tick. */
  private readonly deferred = new Set<string>();
  private readonly settledWaiters = new Set<(o: ProvisionOutcome) => void>();

  constructor(private readonly d: ProvisionerDeps) {}

  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** A new round of passes: runs held back after an error get another try. */
  retryDeferred(): void {
    this.deferred.clear();
  }

  /** Resolves with the outcome of the next provisioning to finish. */
  nextSettled(): Promise<ProvisionOutcome> {
    return new Promise((resolve) => this.settledWaiters.add(resolve));
  }

  /** Resolves when nothing is being provisioned. */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all(this.inFlight.values());
  }

  /**
   * Starts provisioning, without waiting for it: first the runs an earlier leader left in
   * 'provisioning' (they already hold a slot), then requested runs while slots are free
   * (a slot: provisioning, running, stopping, or being claimed here).
   */
  launchQueued(): void {
    const { store, lease } = this.d;
    for (const run of store.listRuns({ statuses: ['provisioning'] })) if (!run.stopRequested) this.launch(run);
    const requested = store.listRuns({ statuses: ['requested'] }).filter((r) => !this.inFlight.has(r.id) && !this.deferred.has(r.id));
    for (const next of requested) {
      if (!lease.isLeader) return;
      const busy = new Set([...store.listRuns({ statuses: BUSY_STATUSES }).map((r) => r.id), ...this.inFlight.keys()]);
      if (busy.size >= this.d.settings.maxParallel) return;
      this.launch(next);
    }
  }

  private launch(run: Run): void {
    if (this.inFlight.has(run.id) || this.deferred.has(run.id)) return;
    const done = this.provision(run).then(
      (): ProvisionOutcome => ({ ok: true }),
      (error: unknown): ProvisionOutcome => {
        this.deferred.add(run.id);
        return { ok: false, error };
      },
    );
    this.inFlight.set(run.id, done);
    void done.then((outcome) => {
      this.inFlight.delete(run.id);
      const waiters = [...this.settledWaiters];
      this.settledWaiters.clear();
      for (const w of waiters) w(outcome);
    });
  }

  /**
   * One run from whatever step it recorded last. Idempotent from any step; a leader frozen
   * mid-way and deposed meanwhile wakes up and does none of the remaining steps. Throws only
   * what the pass must stop on (fenced, stale, an unwritable state folder); any other failure
   * ends the run as failed.
   */
  async provision(run: Run): Promise<void> {
    try {
      const repo = this.d.repoAt(run.repo); // recorded at request time: already verified
      if (run.status === 'requested') run = await this.claim(run, repo);
      let setUp = false;
      if (run.step === 'claimed' || run.step === 'worktree') ({ run, setUp } = await this.worktreeStep(run, repo));
      if (run.step === 'setup') run = await this.setupStep(run, setUp);
      if (run.stopRequested) {
        this.d.store.fencedTransition(this.fence(), run.id, ['provisioning'], 'stopped', { endedAt: Date.now() }, 'stopped before the agent started');
        this.dismissSupervisor(run);
        return;
      }
      await this.spawnStep(run);
    } catch (e) {
      this.failed(run, e);
    }
  }

  private fence() {
    return this.d.lease.currentFence();
  }

  /**
   * One transaction claims the run for provisioning and records the worktree intent: the
   * base is resolved first (every write and git call here is on the spawn's path).
   */
  private async claim(run: Run, repo: GitRepo): Promise<Run> {
    const baseCommit = await repo.commitOf(run.baseRef);
    run = this.d.store.fencedTransition(this.fence(), run.id, ['requested'], 'provisioning', { step: 'worktree', baseCommit }, `provisioning: worktree ${run.worktree}`);
    crashPoint('after-claim');
    return run;
  }

  /**
   * The worktree step, the one place a run's worktree comes from: a follow-up's previous run's,
   * a warm-pool worktree when one is ready, else a fresh `git worktree add`; after a crash, the one already there is
   * adopted. `setUp`: the pool worktree already ran this run's setup command at this base.
   */
  private async worktreeStep(run: Run, repo: GitRepo): Promise<{ run: Run; setUp: boolean }> {
    if (!run.baseCommit) {
      run = this.d.store.fencedTransition(this.fence(), run.id, ['provisioning'], 'provisioning', { step: 'worktree', baseCommit: await repo.commitOf(run.baseRef) }, `worktree ${run.worktree}`);
    }
    const followUp = this.d.store.followUpOf(run.id); // works on in the previous run's worktree (followUpWorktree.ts)
    this.assertIsolated(run, !followUp);
    let setUp = false;
    if (followUp) {
      this.startSupervisor(run);
      await reuseWorktree(this.d.store, this.d.lease, repo, run, followUp.previousRunId, this.lockReason(run));
    } else if (this.d.pool.enabled) setUp = await this.pooledWorktree(run, repo);
    else await this.freshWorktree(run, repo);
    run = this.d.store.fencedTransition(this.fence(), run.id, ['provisioning'], 'provisioning', { step: 'setup', worktreeLocked: true }, 'worktree ready');
    crashPoint('after-worktree-add');
    return { run, setUp };
  }

  private lockReason(run: Run): string {
    return `worktree-orchestrator run ${run.id}`;
  }

  /** `git worktree add`, adopting an identical worktree left by a crash. */
  private async freshWorktree(run: Run, repo: GitRepo): Promise<void> {
    // The supervisor starts once git is busy and waits for 'go': its start-up (and the cost
    // of forking this process) overlaps the checkout instead of delaying it.
    let settled = false;
    const adding = repo.addWorktree(run.worktree, run.branch, run.baseCommit!, this.lockReason(run), { logPath: run.logPath }).finally(() => (settled = true));
    setImmediate(() => settled || this.startSupervisorQuietly(run));
    await adding;
  }

  /** A ready pool worktree when there is one; true when it already ran the run's setup. */
  private async pooledWorktree(run: Run, repo: GitRepo): Promise<boolean> {
    const baseCommit = run.baseCommit!;
    this.startSupervisor(run);
    // Nothing at the path: nothing to resume (one git call less on the spawn's path).
    if (fs.existsSync(run.worktree) && (await repo.worktrees()).some((w) => samePath(w.path, run.worktree))) {
      // Resuming after a crash: finish a pool take, or adopt the identical worktree.
      await WarmPool.resume(repo, run.worktree, run.branch, baseCommit);
      await repo.addWorktree(run.worktree, run.branch, baseCommit, this.lockReason(run), { logPath: run.logPath });
      return false;
    }
    const taken = await this.d.pool.take(run.id, repo, run.worktree, run.branch, baseCommit, run.setupCommand);
    if (taken) {
      await repo.lockWorktree(run.worktree, this.lockReason(run));
      return taken.setUp;
    }
    await repo.addWorktree(run.worktree, run.branch, baseCommit, this.lockReason(run), { logPath: run.logPath });
    return false;
  }

  /** .worktreeinclude files, then the setup command (unless the pool ran it already). */
  private async setupStep(run: Run, setUp: boolean): Promise<Run> {
    const { lease } = this.d;
    const copied = await lease.act('copy the .worktreeinclude files', () => copyIncludedFiles(run.repo, run.worktree, run.logPath)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') return []; // copied before a crash
      throw e;
    });
    const setup = run.setupCommand;
    if (setup && !setUp) await lease.act(`setup command in ${run.worktree}`, () => runSetupCommand(setup, run.worktree, run.logPath, this.agentEnv(run)));
    const done = `setup ${setup && setUp ? 'done ahead in the warm pool' : 'done'}${copied.length ? `, copied ${copied.join(', ')}` : ''}`;
    return this.d.store.fencedTransition(this.fence(), run.id, ['provisioning'], 'provisioning', { step: 'spawn' }, done);
  }

  /**
   * step === 'spawn': the intent is on record; a supervisor may already wait, or even run the
   * agent, from before a crash — it starts the agent only once, whoever says 'go'.
   */
  private async spawnStep(run: Run): Promise<void> {
    const { store, lease, settings } = this.d;
    this.assertIsolated(run);
    this.startSupervisor(run);
    const argv = withRealGitDir(run.repo, run.worktree, run.command);
    lease.act(`start the agent of ${run.id}`, () => sendGo(settings.stateDir, run.id, argv));
    crashPoint('after-spawn');
    const supervisor = readJson<ProcessIdentity>(path.join(runDir(settings.stateDir, run.id), 'supervisor.json'));
    const started = supervisor && !isAlive(supervisor) ? exitRecord(settings.stateDir, run.id) ?? agentRecord(settings.stateDir, run.id) : await waitForAgent(settings.stateDir, run.id);
    if (!started && supervisor && !isAlive(supervisor)) {
      store.recordExit(run.id, { code: null, error: 'the supervisor died before starting the agent' }, true);
      return;
    }
    crashPoint('before-status-update');
    if (isExit(started)) {
      store.recordExit(run.id, started);
      this.d.log(started.code === 0 ? 'info' : 'warn', `${run.priority}: agent ended at once (${started.error ?? `exit code ${started.code}`}).`);
    } else if (started) {
      store.fencedTransition(this.fence(), run.id, ['provisioning'], 'running', { pid: started.pid, pidStart: started.start, supervisorPid: started.supervisorPid, startedAt: Date.now(), step: null }, `pid ${started.pid}`);
      this.d.log('info', `${run.priority}: code_developer running (pid ${started.pid}) in ${run.worktree}.`);
      this.d.pool.refill(run.repo, path.dirname(run.worktree), run.baseRef, poolSetupCommand(run));
    } else {
      this.d.log('warn', `${run.priority}: the agent has not reported yet; will check again.`);
    }
  }

  /** Ends the run as failed, unless the error is one the pass must stop on (rethrown). */
  private failed(run: Run, e: unknown): void {
    if (e instanceof FencedError || e instanceof StaleRunError) throw e;
    // A full or read-only state folder is not the run's fault: it waits at the step it
    // recorded last, and this pass or the next leader's resumes it once writes succeed.
    const stateDir = explainStateDirError(e, this.d.settings.stateDir);
    if (stateDir) throw stateDir;
    const message = e instanceof UserError ? e.message : String((e as Error).stack ?? e);
    this.d.log('error', `${run.priority}: provisioning failed: ${message}`);
    this.dismissSupervisor(run);
    try {
      this.d.store.fencedTransition(this.fence(), run.id, ['requested', 'provisioning'], 'failed', { error: message, endedAt: Date.now() }, 'provisioning failed');
    } catch (inner) {
      if (!(inner instanceof StaleRunError)) throw inner;
    }
  }

  /** Launches the run's supervisor unless one exists (it claims supervisor.json exclusively). */
  private startSupervisor(run: Run): void {
    const { settings } = this.d;
    if (hasSupervisor(settings.stateDir, run.id)) return;
    this.d.lease.act(`start the supervisor of ${run.id}`, () => launchSupervisor({
      stateDir: settings.stateDir,
      runId: run.id,
      argv: run.command,
      cwd: run.worktree,
      logPath: run.logPath,
      env: this.agentEnv(run),
      nodePath: settings.nodePath,
      cliPath: settings.cliPath,
      logMaxBytes: settings.agentLogMaxBytes,
      commitOnExit: settings.commitOnExit?.() === false ? undefined : { repo: run.repo, branch: run.branch, priority: run.priority, attempt: run.attempt, runId: run.id, cli: settings.cliPath },
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
    const { stateDir } = this.d.settings;
    const sup = readJson<ProcessIdentity>(path.join(runDir(stateDir, run.id), 'supervisor.json'));
    if (sup && isAlive(sup) && !agentRecord(stateDir, run.id)) this.d.lease.act(`dismiss the supervisor of ${run.id}`, () => signalGroup(sup.pid, 'SIGTERM'));
  }

  private agentEnv(run: Run): Record<string, string> {
    return { WTO_PRIORITY: run.priority, WTO_RUN_ID: run.id, WTO_WORKTREE: run.worktree, WTO_BRANCH: run.branch, WTO_STATE_DIR: this.d.settings.stateDir, ...portEnv(this.d.store.portBlock(run.id)) };
  }

  /** Never the main checkout, never another run's worktree (invariant 2). */
  private assertIsolated(run: Run, creating = false): void {
    if (samePath(run.worktree, run.repo) || run.repo.startsWith(path.resolve(run.worktree) + path.sep)) {
      throw new UserError(`Refusing to use ${run.worktree}: it is the main checkout.`, 'NOT_ISOLATED');
    }
    // Checked when the run was requested, which may be long ago (a queue, the loop): the root
    // may have been replaced by a symlink since, and git would follow it.
    resolveWorktreeRoot(run.repo, path.dirname(run.worktree));
    const other = this.d.store.listRuns({ statuses: BUSY_STATUSES }).find((r) => r.id !== run.id && samePath(r.worktree, run.worktree));
    if (other) throw new UserError(`Refusing to use ${run.worktree}: run ${other.id} (${other.priority}) works there.`, 'NOT_ISOLATED');
    // Names are not one-to-one (US-1 attempt 2 and US-1.2 attempt 1 are both us-1-2): before
    // adding or adopting a worktree, one that exists and that another run recorded is that
    // run's, even once it has ended; adopting it would put this agent on the other's branch.
    if (creating && fs.existsSync(run.worktree)) {
      const owner = this.d.store.listRuns({ repo: run.repo }).find((r) => r.id !== run.id && samePath(r.worktree, run.worktree));
      if (owner) throw new UserError(`Refusing to use ${run.worktree}: it is the worktree of run ${owner.id} (${owner.priority} #${owner.attempt}, ${owner.status}).`, 'NOT_ISOLATED');
    }
  }
}
