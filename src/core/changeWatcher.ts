import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from './store';

/**
 * Tells when another process (or this one) changed what the views show, without
 * re-reading the runs: fs.watch on the state dir wakes it when the WAL is written,
 * PRAGMA data_version says whether the database really changed, and a trigger-maintained
 * generation number tells run/loop changes apart from leader heartbeats.
 *
 * Events: 'runs' when runs or loop state changed; 'leader' when the leader changed.
 */
export class ChangeWatcher extends EventEmitter {
  private dataVersion = -1;
  private generation = -1;
  private leaderKey = '';
  private watcher: fs.FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private pendingOwn = false;
  private ownWrites: { dispose(): void } | undefined;

  constructor(
    private readonly store: Store,
    /** Safety net for file systems where fs.watch misses writes from other processes. */
    private readonly pollMs = 1000,
  ) {
    super();
  }

  start(): this {
    this.check(true);
    const dbName = path.basename(this.store.file);
    try {
      this.watcher = fs.watch(path.dirname(this.store.file), (_event, file) => {
        if (!file || String(file).startsWith(dbName)) this.schedule();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // polling only
    }
    this.poll = setInterval(() => this.check(false), this.pollMs);
    this.poll.unref();
    this.ownWrites = this.store.onDidWrite(() => this.schedule(true));
    return this;
  }

  dispose(): void {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.pending) clearTimeout(this.pending);
    this.ownWrites?.dispose();
    this.removeAllListeners();
  }

  private schedule(own = false): void {
    // An own write is invisible to data_version: it must force the check even when a wake-up
    // from fs.watch is already pending (else that write would go unnoticed until the next one).
    this.pendingOwn ||= own;
    if (this.pending) return;
    // A few ms coalesce a burst of WAL writes into one check.
    this.pending = setTimeout(() => {
      const force = this.pendingOwn;
      this.pending = undefined;
      this.pendingOwn = false;
      this.check(force);
    }, 5);
  }

  /** Compares the cheap counters and emits what changed. */
  check(force: boolean): void {
    let dv: number;
    try {
      dv = this.store.dataVersion();
      if (!force && dv === this.dataVersion) return;
      this.dataVersion = dv;
      const gen = this.store.changeGeneration();
      const leader = this.store.leader();
      const key = `${leader.epoch}:${leader.owner}`;
      if (gen !== this.generation) {
        this.generation = gen;
        this.emit('runs');
      }
      if (key !== this.leaderKey) {
        this.leaderKey = key;
        this.emit('leader', leader);
      }
    } catch {
      // busy or closed: the next wake-up checks again
    }
  }
}
