import * as os from 'node:os';
import * as vscode from 'vscode';
import { Acts, Fence, holderAlive, LeaderLease } from '../../core/leader/leaderLease';
import type { ReconcileReport } from '../../core/leader/orchestrator';
import { LeaderSeat, OrchestratorSettings } from '../../core/leader/seat';
import { LeaderRow, Store } from '../../core/db/store';
import { Disposable, onNodeEvent } from './disposable';
import * as settings from './settings';
import { attentionEnv } from '../../core/agent/runWatch';

export interface OrchestratorHostOptions {
  stateDir: string;
  /** Node binary and bundled CLI that host agent supervisors (see Orchestrator). */
  nodePath: string;
  cliPath: string;
  /** How other windows and the CLI see this window when it leads. */
  label: string;
  log: vscode.LogOutputChannel;
}

/**
 * This window's share of the orchestrator: the database, its seat in the leader election,
 * and — only while this window leads — the Orchestrator that acts. Standbys just read and
 * request. Everything here lives as long as the window's extension host; disposing it
 * gives leadership up at once so that another window takes over without waiting for the
 * lease to expire.
 */
export class OrchestratorHost extends Disposable {
  private seat: LeaderSeat | undefined;
  private readonly runsChanged = this.register(new vscode.EventEmitter<void>());
  /** Runs or loop state changed, in any window or process. */
  readonly onDidChangeRuns = this.runsChanged.event;
  private readonly leaderChanged = this.register(new vscode.EventEmitter<void>());
  /** This window became leader or standby, or another process took the lead. */
  readonly onDidChangeLeader = this.leaderChanged.event;

  /**
   * Opens nothing: the database is opened by open(), or by the first use of `store` or
   * `lease` — so that activation does not wait for SQLite (extension.ts opens it right after).
   */
  constructor(private readonly o: OrchestratorHostOptions) {
    super();
    this.register(vscode.workspace.onDidChangeConfiguration((e) => {
      if (['maxParallel', 'stopGraceSeconds', 'warmPoolSize', 'agentLogMaxMiB', 'needsInputSeconds', 'stallSeconds'].some((k) => e.affectsConfiguration(`${settings.SECTION}.${k}`))) {
        void this.seat?.replaceOrchestrator().then((o) => o && this.o.log.info(`Settings changed: up to ${o.maxParallel} agent(s) at once.`));
      }
    }));
  }

  /** The database; opened on first use. Throws a UserError when it cannot be opened. */
  get store(): Store {
    return this.open().store;
  }

  get lease(): LeaderLease {
    return this.open().lease;
  }

  /** Opens the database (creating the state folder) and takes this window's seat, once; throws a UserError when it cannot. */
  open(): LeaderSeat {
    if (this.seat) return this.seat;
    if (this.isDisposed) throw new Error('This window has stopped its orchestrator (the extension was deactivated).');
    const store = Store.open(this.o.stateDir);
    // Registered before the seat, so closed after it: the lease must still reach the database to release.
    this.register({ dispose: () => store.close() });
    const seat = new LeaderSeat(store, new LeaderLease(store, { label: this.o.label }), () => this.orchestratorSettings());
    this.register(seat);
    this.seat = seat;
    const log = this.o.log;
    this.register(onNodeEvent(seat, 'runs', () => this.runsChanged.fire()));
    this.register(onNodeEvent(seat, 'leader-changed', () => this.leaderChanged.fire()));
    this.register(onNodeEvent(seat, 'leader', (fence: Fence) => {
      log.info(`This window leads now (pid ${process.pid}, epoch ${fence.epoch}).`);
      this.leaderChanged.fire();
    }));
    this.register(onNodeEvent(seat, 'reconciled', (r: ReconcileReport) => log.info(`Reconciled: ${summarize(r)}.`)));
    this.register(onNodeEvent(seat, 'reconcile-failed', (e: Error) => log.error(`Reconcile failed: ${e?.stack ?? e}`)));
    this.register(onNodeEvent(seat, 'standby', (_row: LeaderRow, wasLeading: boolean) => {
      if (wasLeading) log.warn('This window is no longer the leader: stopped acting (another window or the CLI leads now).');
      this.leaderChanged.fire();
    }));
    return seat;
  }

  get stateDir(): string {
    return this.o.stateDir;
  }

  /** Opens the database if need be, joins the election (and, if nobody leads, leads at once) and starts watching the database. */
  start(): this {
    const seat = this.open().start();
    if (!seat.lease.isLeader) this.o.log.info(`Standby: ${describeLeader(this.leader())} leads.`);
    return this;
  }

  get isLeader(): boolean {
    return this.seat?.lease.isLeader ?? false;
  }

  leader(): LeaderRow {
    return this.store.leader();
  }

  /** Whether anyone (this window, another window, the CLI) holds leadership right now. */
  leaderAlive(): boolean {
    return holderAlive(this.leader());
  }

  /** Takes leadership even from a live holder; the old leader's epoch is fenced off at once. */
  takeOver(): boolean {
    const led = this.lease.tryAcquire(true);
    this.leaderChanged.fire();
    return led;
  }

  /** Reconciles now if this window leads; undefined when it is a standby (see reconcileAndWait). */
  async reconcile(): Promise<ReconcileReport | undefined> {
    return this.seat?.reconcile();
  }

  /**
   * A leader-only side effect (merge, worktree removal): the intent is written first, in a
   * transaction that confirms this window's epoch is still current; `act` gets the lease
   * to fence its own steps with (GitRepo.fencedBy), so a window deposed half-way does no
   * more. Throws FencedError when this window does not lead.
   */
  async fenced<T>(kind: string, runId: string | null, detail: string, act: (acts: Acts) => Promise<T>): Promise<T> {
    this.lease.act(kind, (fence) => this.store.fencedEvent(fence, runId, kind, detail));
    return act(this.lease);
  }

  private orchestratorSettings(): OrchestratorSettings {
    const log = this.o.log;
    // The supervisors this leader starts inherit its environment: that is how they get the times (runWatch.ts).
    Object.assign(process.env, attentionEnv(settings.attentionTimes()));
    return {
      stateDir: this.o.stateDir,
      nodePath: this.o.nodePath,
      cliPath: this.o.cliPath,
      maxParallel: settings.maxParallel(),
      stopGraceMs: settings.stopGraceMs(),
      warmPoolSize: settings.warmPoolSize(),
      agentLogMaxBytes: settings.agentLogMaxBytes(),
      commitOnExit: () => settings.commitOnExit(), // read at each launch: no restart on a change
      log: (level, message) => log[level](message),
    };
  }
}

export function describeLeader(row: LeaderRow): string {
  if (!holderAlive(row)) return 'nobody';
  const who = row.label && row.pid !== null && row.label.includes(`pid ${row.pid}`) ? row.label : `${row.label ?? 'a process'} (pid ${row.pid ?? '?'})`;
  return row.host && row.host !== os.hostname() ? `${who} on ${row.host}` : who;
}

function summarize(r: ReconcileReport): string {
  const parts = [
    `${r.adopted.length} adopted`,
    `${r.ended.length} ended`,
    `${r.resumed.length} resumed`,
  ];
  if (r.orphanWorktrees.length) parts.push(`${r.orphanWorktrees.length} orphan worktree(s)`);
  if (r.orphanProcesses.length) parts.push(`${r.orphanProcesses.length} orphan process(es)`);
  return parts.join(', ');
}
