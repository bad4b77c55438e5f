import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What other processes watch to learn that the database changed: a file in a folder of its own
 * (`state.db-changes/changed`) whose times each writer touches after a transaction that changed
 * rows. Not the database folder itself: every leader heartbeat writes the WAL there, and an
 * fs.watch on it woke every idle standby for each one. The heartbeat touches nothing here, so an
 * idle standby sleeps; the lease (leaderLease.ts) is what watches the heartbeat.
 */
export class ChangeSignal {
  readonly dir: string;
  readonly file: string;

  constructor(dbFile: string) {
    this.dir = `${dbFile}-changes`;
    this.file = path.join(this.dir, 'changed');
  }

  /** The folder and its file, made by every writable Store (best effort: watchers fall back to the database folder). */
  ensure(): this {
    try {
      if (!fs.existsSync(this.file)) {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        fs.closeSync(fs.openSync(this.file, 'a', 0o600));
      }
    } catch {
      // a read-only or full folder: nothing is written there anyway
    }
    return this;
  }

  exists(): boolean {
    return fs.existsSync(this.dir);
  }

  /** Wakes the watchers (an attribute change: one inotify event, no data written). */
  touch(): void {
    const now = new Date();
    try {
      fs.utimesSync(this.file, now, now);
    } catch {
      this.ensure();
    }
  }
}
