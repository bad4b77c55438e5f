import { EventEmitter } from 'node:events';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { currentIdentity, hostName, isAlive } from '../agent/processInfo';
import { FencedError, LeaderRow, Store } from '../db/store';

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
  /**
   * How often a standby looks at the holder (and a leader at its row). On one host a standby
   * learns of the leader's death at once from the leader's socket (below); this poll is the
   * fallback: a frozen leader, a leader on another host, a socket that cannot be made.
   */
  checkMs?: number;
  /**
   * The leader listens here; standbys stay connected, and the kernel closes their connection
   * the moment the leader's process dies. Default: `leader.sock` in the state folder (a named
   * pipe on Windows); null: poll only.
   */
  socketPath?: string | null;
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
  private readonly socketPath: string | undefined;
  /** The leader's listening socket, and its standbys' connections. */
  private server: net.Server | undefined;
  private readonly clients = new Set<net.Socket>();
  /** A standby's connection to the leader's socket. */
  private link: net.Socket | undefined;
  private linkOpen = false;
  private disposed = false;

  constructor(
    private readonly store: Store,
    private readonly options: LeaderLeaseOptions = {},
  ) {
    super();
    this.socketPath = options.socketPath === undefined ? leaderSocketPath(path.dirname(store.file)) : (options.socketPath ?? undefined);
    // With the socket, the poll is only the fallback: seldom, so an idle process sleeps.
    this.checkMs = options.checkMs ?? (this.socketPath ? 3000 : 250);
    this.heartbeatMs = options.heartbeatMs ?? (this.socketPath ? 3000 : 2000);
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
      if (Date.now() - this.lastRenew >= this.heartbeatMs && this.renew(fence, Date.now())) return fence;
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
    this.scheduleTick();
    return this;
  }

  /**
   * The next look: a leader renews every heartbeat; a standby connected to the leader's
   * socket needs the poll only for a leader that hangs without dying (a stale heartbeat), so
   * half a lease is soon enough; an unconnected standby polls every checkMs.
   */
  private scheduleTick(): void {
    if (this.disposed) return;
    const delay = this.fence ? Math.min(this.checkMs, this.heartbeatMs) : this.linkOpen ? Math.max(this.checkMs, this.leaseMs / 2) : this.checkMs;
    this.timer = setTimeout(() => {
      this.tick();
      this.scheduleTick();
    }, delay);
    this.timer.unref();
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
        this.store.setLeader({ epoch, owner: this.owner, pid: this.me.pid, pidStart: this.me.start, host: hostName, label: this.options.label ?? null, at: now });
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
      this.detach();
      this.serve();
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
    this.closeServer();
    try {
      this.store.immediate(() => {
        if (this.store.clearLeader(fence.epoch, fence.owner)) this.store.addEvent(null, 'leader-released', null, null, fence.epoch, `pid ${this.me.pid}`);
      });
    } catch {
      // The lease will expire, or a standby will see this process gone.
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.detach();
    this.release();
    this.closeServer();
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
    if (!this.fence) this.attach();
  }

  /** Leader: listen, so that standbys learn of this process's death from the kernel. */
  private serve(): void {
    if (!this.socketPath || this.server) return;
    const server = net.createServer((c) => {
      c.unref();
      c.on('error', () => undefined);
      this.clients.add(c);
      c.on('close', () => this.clients.delete(c));
    });
    server.on('error', () => this.closeServer()); // standbys poll instead
    // A dead leader's socket file stays behind; the database election made us leader, so
    // the path is ours to take (a deposed leader still listening keeps only its old file).
    if (process.platform !== 'win32') fs.rmSync(this.socketPath, { force: true });
    const file = this.socketPath;
    // Only the user may connect: the folder is 0700 already; the socket itself too.
    server.listen(file, () => {
      try {
        if (process.platform !== 'win32') fs.chmodSync(file, 0o600);
      } catch {
        // taken over and replaced already
      }
    });
    server.unref();
    this.server = server;
  }

  private closeServer(): void {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.close();
    for (const c of this.clients) c.destroy(); // standbys look at the row at once
    this.clients.clear();
  }

  /**
   * Standby: stay connected to the leader's socket. When the connection closes, look at the
   * holder at once (it died, released or stepped down); a connection that never opened (an
   * older leader, one on another host) leaves it to the poll.
   */
  private attach(): void {
    if (!this.socketPath || this.link || this.fence || this.disposed) return;
    const link = net.connect(this.socketPath);
    link.unref();
    link.on('error', () => undefined);
    link.on('connect', () => (this.linkOpen = true));
    link.on('close', () => {
      const wasOpen = this.linkOpen && this.link === link;
      if (this.link === link) {
        this.link = undefined;
        this.linkOpen = false;
      }
      if (wasOpen) this.afterLeaderLeft(0);
    });
    this.link = link;
  }

  /**
   * The leader's end closed. A killed process closes its files before it is reaped, so for a
   * few milliseconds its pid may still look alive: look again, briefly, until this process
   * leads or is connected to whoever does; then the poll takes over.
   */
  private afterLeaderLeft(attempt: number): void {
    if (this.disposed || this.fence || this.linkOpen) return;
    this.tick();
    const delays = [5, 10, 20, 40, 80, 160, 320];
    if (attempt < delays.length && !this.fence) setTimeout(() => this.afterLeaderLeft(attempt + 1), delays[attempt]).unref();
  }

  private detach(): void {
    const link = this.link;
    this.link = undefined;
    this.linkOpen = false;
    link?.destroy();
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
      if (this.renew(fence, now)) return;
      this.stepDown(this.store.leader());
    } catch {
      // Could not confirm the epoch: past the lease, stop acting rather than risk two leaders.
      if (now - this.lastRenew > this.leaseMs / 2) this.stepDown(undefined);
    }
  }

  /** The heartbeat, guarded by the epoch: false when another process holds the lease now. */
  private renew(fence: Fence, now: number): boolean {
    const renewed = this.store.renewLeader(fence.epoch, fence.owner, now);
    if (renewed) this.lastRenew = now;
    return renewed;
  }

  private stepDown(row: LeaderRow | undefined): void {
    if (!this.fence) return;
    this.fence = undefined;
    this.closeServer();
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

/** Where the leader of a state folder listens: a Unix socket in it, a named pipe on Windows; undefined when the path would be too long for a socket. */
export function leaderSocketPath(stateDir: string): string | undefined {
  if (process.platform === 'win32') return `\\\\.\\pipe\\worktree-orchestrator-${crypto.createHash('sha256').update(path.resolve(stateDir).toLowerCase()).digest('hex').slice(0, 24)}`;
  const file = path.join(stateDir, 'leader.sock');
  return Buffer.byteLength(file) < 100 ? file : undefined; // sun_path holds 104-108 bytes
}

function safeLeader(store: Store): LeaderRow | undefined {
  try {
    return store.leader();
  } catch {
    return undefined;
  }
}
