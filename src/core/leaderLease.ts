import { EventEmitter } from 'node:events';
import * as crypto from 'node:crypto';
import { currentIdentity, hostName, isAlive } from './processInfo';
import { FencedError, LeaderRow, Store } from './store';

export interface Fence {
  epoch: number;
  owner: string;
}

/**
 * The one path for a leader's acts (a signal, an escalation after a grace period, a git or
 * setup command, a resume). `act` runs `fn` only after confirming, by reading the database at
 * that moment, that this process still holds the epoch; otherwise it throws FencedError and
 * `fn` never runs. LeaderLease implements it; tests may pass a recording one.
 */
export interface Acts {
  act<T>(what: string, fn: (fence: Fence) => T): T;
}

export interface LeaderLeaseOptions {
  /** Shown to other windows: "window 3", "cli". */
  label?: string;
  /** How often a standby looks at the holder. Bounds failover time on one host. */
  checkMs?: number;
  /** How often the leader renews its lease. */
  heartbeatMs?: number;
  /** A lease not renewed for this long is taken over even if its pid looks alive (other host, hung process). */
  leaseMs?: number;
}

/**
 * Leader election over the shared database. The holder is identified by pid + process
 * start time, so a standby on the same host sees a crashed or killed leader within
 * `checkMs`; elsewhere the lease expires. Each takeover increments the epoch, and the
 * store refuses any side-effect record whose epoch is not current (fencing).
 *
 * Events: 'leader' (Fence) when this process becomes leader, 'standby' (LeaderRow) when
 * it loses or lacks leadership, 'holder' (LeaderRow) whenever the holder changes.
 */
export class LeaderLease extends EventEmitter implements Acts {
  readonly owner = crypto.randomBytes(8).toString('hex');
  private fence: Fence | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastRenew = 0;
  private lastHolder = '';
  private readonly checkMs: number;
  private readonly heartbeatMs: number;
  private readonly leaseMs: number;
  private readonly me = currentIdentity();

  constructor(
    private readonly store: Store,
    private readonly options: LeaderLeaseOptions = {},
  ) {
    super();
    this.checkMs = options.checkMs ?? 250;
    this.heartbeatMs = options.heartbeatMs ?? 2000;
    this.leaseMs = options.leaseMs ?? 10_000;
  }

  get isLeader(): boolean {
    return this.fence !== undefined;
  }

  /** The current fence, or a FencedError: callers must not act without one. */
  currentFence(): Fence {
    if (!this.fence) throw new FencedError(-1);
    return this.fence;
  }

  /**
   * Confirms the fence now, then acts. A process frozen past its lease (SIGSTOP, a suspended
   * machine) wakes with its in-memory fence intact and its timers due at once: this check,
   * not the fence it remembers, decides whether it may still act.
   */
  act<T>(what: string, fn: (fence: Fence) => T): T {
    return fn(this.confirmFence(what));
  }

  /**
   * Reads the leader row and returns the fence only if it is still ours. When the heartbeat
   * is overdue (the timer did not run: frozen or starved), it is renewed first, in the same
   * guarded UPDATE, so a standby that judges the lease by its age cannot take over between
   * this check and the act.
   */
  confirmFence(what = 'act'): Fence {
    const fence = this.currentFence();
    let row: LeaderRow;
    try {
      if (Date.now() - this.lastRenew >= this.heartbeatMs) {
        const now = Date.now();
        const r = this.store.db.prepare('UPDATE leader SET heartbeat_at = ? WHERE id = 1 AND epoch = ? AND owner = ?').run(now, fence.epoch, fence.owner);
        if (r.changes === 1) {
          this.lastRenew = now;
          return fence;
        }
      }
      row = this.store.leader();
    } catch {
      throw new FencedError(fence.epoch); // cannot confirm (busy, unreadable): do not act; the pass is retried
    }
    if (row.epoch === fence.epoch && row.owner === fence.owner) return fence;
    this.emit('refused', what, row);
    this.stepDown(row);
    throw new FencedError(fence.epoch);
  }

  /** Joins the election: tries once now, then keeps watching (or renewing). */
  start(): this {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.checkMs);
    this.timer.unref();
    return this;
  }

  /** Takes leadership if the holder is gone (or unconditionally with force). True if we lead. */
  tryAcquire(force = false): boolean {
    if (this.fence) return true;
    let won: Fence | undefined;
    let holder: LeaderRow;
    try {
      holder = this.store.immediate(() => {
        const row = this.store.leader();
        if (!force && !this.holderGone(row)) return row;
        const epoch = row.epoch + 1;
        const now = Date.now();
        this.store.db
          .prepare('UPDATE leader SET epoch = ?, owner = ?, pid = ?, pid_start = ?, host = ?, label = ?, heartbeat_at = ?, acquired_at = ? WHERE id = 1')
          .run(epoch, this.owner, this.me.pid, this.me.start, hostName, this.options.label ?? null, now, now);
        this.store.addEvent(null, force ? 'leader-takeover' : 'leader-acquired', null, null, epoch, `pid ${this.me.pid}${row.owner ? `, after pid ${row.pid} (epoch ${row.epoch})` : ''}`);
        won = { epoch, owner: this.owner };
        return this.store.leader();
      });
    } catch {
      return false; // database busy: try again at the next check
    }
    this.noteHolder(holder);
    if (won) {
      this.fence = won;
      this.lastRenew = Date.now();
      this.emit('leader', won);
      return true;
    }
    return false;
  }

  /** Gives leadership up so a standby can take over at once (deactivate, CLI exit). */
  release(): void {
    const fence = this.fence;
    if (!fence) return;
    this.fence = undefined;
    try {
      this.store.immediate(() => {
        const r = this.store.db.prepare('UPDATE leader SET owner = NULL WHERE id = 1 AND epoch = ? AND owner = ?').run(fence.epoch, fence.owner);
        if (r.changes) this.store.addEvent(null, 'leader-released', null, null, fence.epoch, `pid ${this.me.pid}`);
      });
    } catch {
      // The lease will expire, or a standby will see this process gone.
    }
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.release();
    this.removeAllListeners();
  }

  holder(): LeaderRow {
    return this.store.leader();
  }

  private tick(): void {
    if (this.fence) return this.renewIfDue();
    // A plain read first: the write lock is taken only when the holder looks gone.
    const row = safeLeader(this.store);
    if (!row) return;
    if (this.holderGone(row)) this.tryAcquire();
    else this.noteHolder(row);
  }

  private renewIfDue(): void {
    const fence = this.fence!;
    const now = Date.now();
    if (now - this.lastRenew < this.heartbeatMs) {
      // Between heartbeats a cheap read tells whether someone took over (forced takeover).
      try {
        const row = this.store.leader();
        if (row.epoch === fence.epoch && row.owner === fence.owner) return;
        this.stepDown(row);
      } catch {
        // busy: checked again soon
      }
      return;
    }
    try {
      const r = this.store.db
        .prepare('UPDATE leader SET heartbeat_at = ? WHERE id = 1 AND epoch = ? AND owner = ?')
        .run(now, fence.epoch, fence.owner);
      if (r.changes === 1) {
        this.lastRenew = now;
        return;
      }
      this.stepDown(this.store.leader());
    } catch {
      // Could not confirm the epoch: past the lease, stop acting rather than risk two leaders.
      if (now - this.lastRenew > this.leaseMs / 2) this.stepDown(undefined);
    }
  }

  private stepDown(row: LeaderRow | undefined): void {
    if (!this.fence) return;
    this.fence = undefined;
    const holder = row ?? safeLeader(this.store);
    if (holder) this.noteHolder(holder);
    this.emit('standby', holder);
  }

  private holderGone(row: LeaderRow): boolean {
    return !holderAlive(row, this.leaseMs);
  }

  private noteHolder(row: LeaderRow): void {
    const key = `${row.epoch}:${row.owner}`;
    if (key === this.lastHolder) return;
    this.lastHolder = key;
    this.emit('holder', row);
    if (row.owner !== this.owner) this.emit('standby', row);
  }
}

/** Whether the recorded leader still holds the lease: a live pid on this host, a fresh heartbeat elsewhere. */
export function holderAlive(row: LeaderRow, leaseMs = 10_000): boolean {
  if (!row.owner) return false;
  if (row.heartbeatAt !== null && Date.now() - row.heartbeatAt > leaseMs) return false;
  if (row.host === hostName && row.pid !== null) return isAlive({ pid: row.pid, start: row.pidStart });
  return true;
}

function safeLeader(store: Store): LeaderRow | undefined {
  try {
    return store.leader();
  } catch {
    return undefined;
  }
}
