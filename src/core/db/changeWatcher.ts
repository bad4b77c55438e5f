import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChangeSignal } from './changeSignal';
import { Store } from './store';

/**
 * Tells when another process (or this one) changed what the views show, without
 * re-reading the runs: fs.watch on the change signal (changeSignal.ts, touched by every
 * writer after a transaction that changed rows; the database folder itself when there is
 * none) wakes it, PRAGMA data_version says whether the database really changed, and a
 * trigger-maintained generation number tells run/loop changes apart from leader changes.
 * A leader heartbeat touches neither the signal nor the generation: an idle standby sleeps.
 *
 * Events: 'runs' when runs or loop state changed; 'leader' when the leader changed.
 */
export class ChangeWatcher extends EventEmitter {
  private dataVersion = -1;
  private generation = -1;
  private leaderKey = '';
  private watcher: fs.FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private pending: NodeJS.Immediate | undefined;
  private pendingOwn = false;
  private ownWrites: { dispose(): void } | undefined;

  /** Whether fs.watch has reported a write of the database: then the poll can be rare. */
  private watchWorks = false;
  /** Watched when the writers signal their changes there; undefined: the database folder is. */
  private signal: ChangeSignal | undefined;

  constructor(
    private readonly store: Store,
    /**
     * Safety net for file systems where fs.watch misses writes: every `pollMs` until fs.watch
     * has shown that it reports them, then every `pollMs * 5` on the database folder, or every
     * `pollMs * 30` on the change signal (it also catches a writer too old to touch the signal,
     * without waking an idle process every few seconds).
     */
    private readonly pollMs = 1000,
  ) {
    super();
  }

  start(): this {
    this.check(true);
    const signal = new ChangeSignal(this.store.file);
    this.signal = signal.exists() ? signal : undefined;
    const dbName = path.basename(this.store.file);
    try {
      this.watcher = fs.watch(this.signal ? signal.dir : path.dirname(this.store.file), (_event, file) => {
        if (!this.signal && file && !String(file).startsWith(dbName)) return;
        if (!this.watchWorks && file) {
          this.watchWorks = true;
          this.restartPoll();
        }
        this.schedule();
      });
      this.watcher.on('error', () => undefined);
      // Nothing may be written for hours: one touch now shows whether fs.watch reports it
      // (it wakes the other watchers once, to no effect: data_version is unchanged).
      this.signal?.touch();
    } catch {
      // polling only
    }
    this.restartPoll();
    this.ownWrites = this.store.onDidWrite(() => this.schedule(true));
    return this;
  }

  private restartPoll(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = setInterval(() => this.check(false), this.watchWorks ? this.pollMs * (this.signal ? 30 : 5) : this.pollMs);
    this.poll.unref();
  }

  dispose(): void {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.pending) clearImmediate(this.pending);
    this.ownWrites?.dispose();
    this.removeAllListeners();
  }

  private schedule(own = false): void {
    // An own write is invisible to data_version: it must force the check even when a wake-up
    // from fs.watch is already pending (else that write would go unnoticed until the next one).
    this.pendingOwn ||= own;
    if (this.pending) return;
    // The rest of this turn of the event loop coalesces a burst of WAL events into one check
    // (setImmediate: no timer, so no extra wake-up of an idle process).
    this.pending = setImmediate(() => {
      const force = this.pendingOwn;
      this.pending = undefined;
      this.pendingOwn = false;
      this.check(force);
    });
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
