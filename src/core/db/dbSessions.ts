import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { currentIdentity, hostName, isAlive } from '../agent/processInfo';

/**
 * Who has the database open for writing: one empty file per open Store in `state.db-sessions/`,
 * named after its process (host, pid, start time), removed when the Store closes. A file whose
 * process is gone is an unclean shutdown (a crash, kill -9, a lost power): the next opener runs
 * the full integrity check before anything writes. Best effort throughout: a session that could
 * not be recorded (a full disk) only costs the next opener a full check, because a -wal with no
 * live session behind it is treated the same way.
 */
export class DbSessions {
  private own: string | undefined;

  constructor(private readonly dbFile: string) {}

  private get dir(): string {
    return `${this.dbFile}-sessions`;
  }

  /** The other sessions: those of live processes (or another host, which cannot be told), and those left by dead ones. */
  others(): { live: string[]; stale: string[] } {
    const live: string[] = [];
    const stale: string[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return { live, stale };
    }
    for (const name of names) {
      if (name === this.own) continue;
      (sessionAlive(name) ? live : stale).push(name);
    }
    return { live, stale };
  }

  register(): void {
    const me = currentIdentity();
    const name = `${safeHost()}.${me.pid}.${me.start ?? ''}.${crypto.randomBytes(3).toString('hex')}`;
    try {
      fs.mkdirSync(this.dir, { mode: 0o700, recursive: true });
      fs.closeSync(fs.openSync(path.join(this.dir, name), 'w', 0o600));
      this.own = name;
    } catch {
      // see the class comment
    }
  }

  unregister(): void {
    if (!this.own) return;
    const own = path.join(this.dir, this.own);
    this.own = undefined;
    try {
      fs.rmSync(own, { force: true });
    } catch {
      // left behind: read as an unclean shutdown, which costs the next opener a full check
    }
  }

  /** After a full check has passed: the crashes it covered are no longer pending. */
  clear(stale: readonly string[]): void {
    for (const name of stale) {
      try {
        fs.rmSync(path.join(this.dir, name), { force: true });
      } catch {
        // a read-only folder: the next opener checks again
      }
    }
  }
}

const safeHost = () => hostName.replace(/[^A-Za-z0-9-]/g, '_');

function sessionAlive(name: string): boolean {
  const [host, pid, start] = name.split('.');
  if (host !== safeHost()) return true;
  return isAlive({ pid: Number(pid), start: start || null });
}
