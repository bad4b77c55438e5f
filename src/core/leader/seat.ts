import { EventEmitter } from 'node:events';
import { ChangeWatcher } from '../db/changeWatcher';
import { LeaderRow, Store } from '../db/store';
import { Fence, LeaderLease } from './leaderLease';
import { Orchestrator, OrchestratorOptions, ReconcileReport } from './orchestrator';

/** What a seat's Orchestrator is made with, read afresh each time one is made (settings may change). */
export type OrchestratorSettings = Omit<OrchestratorOptions, 'store' | 'lease'>;

/**
 * One process's seat at the shared state: the database, its place in the leader election,
 * the change watcher and — only while this process leads — the Orchestrator that acts. The
 * extension host (one per window) and `cli start` both sit in one, so they lead the same way.
 *
 * Events: 'runs' (runs or loop state changed, in any process), 'leader-changed' (someone else
 * leads, or nobody), 'leader' (Fence: this process leads now), 'standby' (LeaderRow, and
 * whether it led until now), 'reconciled' (ReconcileReport), 'reconcile-failed' (Error).
 */
export class LeaderSeat extends EventEmitter {
  readonly watcher: ChangeWatcher;
  private orchestrator: Orchestrator | undefined;
  private replacing: Promise<void> | undefined;
  private disposed = false;

  constructor(
    readonly store: Store,
    readonly lease: LeaderLease,
    private readonly settings: () => OrchestratorSettings,
  ) {
    super();
    this.watcher = new ChangeWatcher(store);
    this.watcher.on('runs', () => {
      this.emit('runs');
      void this.orchestrator?.tick();
    });
    this.watcher.on('leader', () => this.emit('leader-changed'));
    lease.on('leader', (fence: Fence) => this.becameLeader(fence));
    lease.on('standby', (row?: LeaderRow) => {
      const wasLeading = !!this.orchestrator;
      this.dropOrchestrator();
      this.emit('standby', row, wasLeading);
    });
  }

  /** Starts watching the database and joins the election (leading at once if nobody does). */
  start(): this {
    this.watcher.start();
    this.lease.start();
    return this;
  }

  get isLeader(): boolean {
    return this.lease.isLeader && !!this.orchestrator;
  }

  /** Reconciles now if this process leads; undefined when it stands by. */
  async reconcile(): Promise<ReconcileReport | undefined> {
    return this.isLeader ? this.orchestrator!.reconcile() : undefined;
  }

  /**
   * The settings changed: a new Orchestrator takes over once the old one has finished its
   * pass, so two passes never provision the same run concurrently. Resolves with it, if any.
   */
  async replaceOrchestrator(): Promise<Orchestrator | undefined> {
    await this.replacing;
    const old = this.orchestrator;
    if (!old) return undefined;
    this.replacing = (async () => {
      this.orchestrator = undefined;
      old.dispose();
      await old.tick().catch(() => undefined);
      if (this.disposed || !this.lease.isLeader) return;
      this.orchestrator = this.newOrchestrator();
      void this.orchestrator.tick();
    })();
    await this.replacing;
    return this.orchestrator;
  }

  /** Gives leadership up (a standby takes over at once) and closes the watcher; the store stays the caller's. */
  dispose(): void {
    this.disposed = true;
    this.dropOrchestrator();
    this.watcher.dispose();
    this.lease.dispose();
    this.removeAllListeners();
  }

  private becameLeader(fence: Fence): void {
    if (this.disposed) return;
    this.dropOrchestrator();
    const orchestrator = (this.orchestrator = this.newOrchestrator());
    this.emit('leader', fence);
    // Adopt what earlier leaders left running, record what died, resume interrupted work.
    orchestrator.reconcile().then(
      (report) => this.emit('reconciled', report),
      (e: unknown) => this.emit('reconcile-failed', e),
    );
  }

  private newOrchestrator(): Orchestrator {
    const orchestrator = new Orchestrator({ ...this.settings(), store: this.store, lease: this.lease });
    orchestrator.startSweeping();
    return orchestrator;
  }

  private dropOrchestrator(): void {
    this.orchestrator?.dispose();
    this.orchestrator = undefined;
  }
}
