import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { DbSessions } from './dbSessions';

/**
 * "A damaged file is never written to", at a cost that does not grow with the history.
 *
 * `PRAGMA integrity_check` reads every page (92 ms at 10,000 runs, growing), and quick_check is
 * O(n) too and misses damaged indexes. So the full check runs only when nothing vouches for the
 * file; otherwise an open costs a header read, two stats and a directory listing:
 *
 * - A record beside the database (`state.db-checked`) says which file a full check passed
 *   (device, inode) and, as of the last clean close, its size, mtime and ctime. Written only by a
 *   passing full check; refreshed by the last Store to close (SQLite's own writes of a sound file
 *   keep it sound); deleted when damage is found.
 * - The full check runs at open, synchronously, before anything can write, when the record is
 *   missing or names another file; when the file changed since the last clean close and no
 *   process has it open (damage while closed, a copy put in its place: ctime cannot be set back);
 *   when a session was left by a dead process (an unclean shutdown, see DbSessions); and when a
 *   -wal is left with no live session behind it. Synchronous because every caller (a CLI command,
 *   the supervisor recording an exit, a window's leader) writes right after opening, and only
 *   these rare cases pay it.
 * - Every `fullCheckEveryMs` (a day) a writable Store runs it again in a worker thread on its own
 *   read-only connection, for damage that no stat shows (a bad disk under a live process). Damage
 *   found there stops the Store's writes with a clear message (see Store.refuseWrites) and deletes
 *   the record, so the next open checks again and moves the file aside.
 */
export interface CheckRecord {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  /** When a full check last passed. */
  checkedAt: number;
  /** When a background check was started (another process does not start a second one meanwhile). */
  checkStartedAt?: number;
}

type FileIdentity = Omit<CheckRecord, 'checkedAt' | 'checkStartedAt'>;

export const DAY_MS = 24 * 60 * 60 * 1000;
/** A background check started this long ago and not finished is taken for abandoned (its process exited). */
const CHECK_ABANDONED_MS = 10 * 60 * 1000;

export const damaged = (why: string) => Object.assign(new Error(why), { code: 'SQLITE_CORRUPT' });

export const checkRecordFile = (dbFile: string) => `${dbFile}-checked`;

/** What decided the open: whether the full check ran, and why. */
export type OpenCheck = { full: false } | { full: true; why: string };

/**
 * The vouching for one open Store: decides at open whether the full check must run first, and at
 * close refreshes the record when this Store was the last one open.
 */
export class IntegrityGuard {
  private readonly sessions: DbSessions;
  private checking: Promise<string | undefined> | undefined;
  readonly opened: OpenCheck;

  private constructor(
    private readonly file: string,
    opened: OpenCheck,
    sessions: DbSessions,
  ) {
    this.opened = opened;
    this.sessions = sessions;
  }

  /**
   * Throws SQLITE_CORRUPT (moved aside by the caller) when the file is damaged. Call before the
   * writable connection exists: the full check reads through a read-only one, because the last
   * connection to close checkpoints a -wal into the file, and a read-only one never does. When
   * the record vouches for the file, the caller runs schemaSane on its own connection: then
   * there is no -wal (at rest) or only live writers' committed frames in it.
   */
  static atOpen(file: string): IntegrityGuard {
    const sessions = new DbSessions(file);
    const { live, stale } = sessions.others();
    const wal = sizeOf(`${file}-wal`);
    const atRest = live.length === 0 && wal === 0;
    if (checkHeader(file, atRest) === 'empty') {
      // A new database: sound by construction (a file being created by another process is too).
      if (live.length === 0) writeCheckRecord(file, { ...fileIdentity(file), checkedAt: Date.now() });
      sessions.register();
      return new IntegrityGuard(file, { full: false }, sessions);
    }
    const record = readCheckRecord(file);
    const id = fileIdentity(file);
    const why = untrusted(record, id, { live, stale, wal });
    if (why) {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        fullCheck(db);
        schemaSane(db);
      } finally {
        db.close();
      }
      writeCheckRecord(file, { ...id, checkedAt: Date.now() });
      sessions.clear(stale);
    }
    sessions.register();
    return new IntegrityGuard(file, why ? { full: true, why } : { full: false }, sessions);
  }

  /** After the connection closed: the last Store out vouches for the file as SQLite left it. */
  closed(): void {
    try {
      this.sessions.unregister();
      if (this.sessions.others().live.length > 0 || sizeOf(`${this.file}-wal`) > 0) return;
      const id = fileIdentity(this.file);
      const record = readCheckRecord(this.file);
      // No record (damage found meanwhile, or never vouched): nothing to refresh; a full check makes one.
      if (record && sameFile(record, id)) writeCheckRecord(this.file, { ...record, ...id });
    } catch {
      // no record: the next open runs the full check
    }
  }

  /** Whether a periodic full check is due (and no other process is running one). */
  checkDue(everyMs: number, now = Date.now()): boolean {
    const record = readCheckRecord(this.file);
    if (!record) return false; // nothing vouched yet: the next open checks anyway
    if (record.checkStartedAt && now - record.checkStartedAt < CHECK_ABANDONED_MS && record.checkStartedAt > record.checkedAt) return false;
    return now - record.checkedAt >= everyMs;
  }

  /**
   * The full check in a worker thread, on its own read-only connection: resolves undefined when
   * it passed (the record's checkedAt moves on), else the damage it found (the record is deleted).
   */
  checkInBackground(): Promise<string | undefined> {
    if (this.checking) return this.checking;
    const started = Date.now();
    updateCheckRecord(this.file, (r) => ({ ...r, checkStartedAt: started }));
    this.checking = checkInWorker(this.file)
      .then((problem) => {
        if (problem) fs.rmSync(checkRecordFile(this.file), { force: true });
        else updateCheckRecord(this.file, (r) => ({ ...r, checkedAt: started, checkStartedAt: undefined }));
        return problem;
      })
      .finally(() => (this.checking = undefined));
    return this.checking;
  }
}

/** Why the record does not vouch for the file now; undefined when it does. */
function untrusted(record: CheckRecord | undefined, id: FileIdentity, o: { live: string[]; stale: string[]; wal: number }): string | undefined {
  if (!record) return 'no record of a passed check';
  if (!sameFile(record, id)) return 'another file than the one checked';
  if (o.stale.length) return `unclean shutdown (${o.stale.length} session(s) of processes that are gone)`;
  if (o.live.length) return undefined; // the processes that have it open vouched for it and write it through SQLite
  if (o.wal > 0) return 'a -wal left with no process behind it';
  if (record.size !== id.size || record.mtimeNs !== id.mtimeNs || record.ctimeNs !== id.ctimeNs) return 'changed since its last clean close';
  return undefined;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const HEADER_BYTES = 100;

/**
 * The file's header, in one read: the magic string, a page size SQLite can have, and, when no
 * process has the file open (a checkpointed file at rest), a size at least the page count the
 * header gives (a truncated file reads as zeros past its end). 'empty' for a new database.
 */
export function checkHeader(file: string, atRest: boolean): 'empty' | 'ok' {
  const head = Buffer.alloc(HEADER_BYTES);
  const fd = fs.openSync(file, 'r');
  let read: number;
  let size: number;
  try {
    read = fs.readSync(fd, head, 0, head.length, 0);
    size = fs.fstatSync(fd).size;
  } finally {
    fs.closeSync(fd);
  }
  if (read === 0) return 'empty';
  if (read < SQLITE_MAGIC.length || !head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) throw damaged('file is not a database');
  if (read < HEADER_BYTES) throw damaged(`file is ${read} bytes, shorter than a database header`);
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw damaged(`page size ${raw} in the header`);
  // The header's page count is valid only when its version-valid-for number matches the change counter.
  const pages = head.readUInt32BE(28);
  if (atRest && pages > 0 && head.readUInt32BE(92) === head.readUInt32BE(24) && size < pages * pageSize) {
    throw damaged(`file is ${size} bytes, its header says ${pages} pages of ${pageSize}`);
  }
  return 'ok';
}

/**
 * `PRAGMA integrity_check` (not quick_check: a damaged index, runs_one_active included, passes
 * quick_check). Throws SQLITE_CORRUPT with what it found.
 */
export function fullCheck(db: Database.Database): void {
  let check: unknown;
  try {
    check = db.pragma('integrity_check', { simple: true });
  } catch (e) {
    throw asDamage(e);
  }
  if (check !== 'ok') throw damaged(`integrity_check: ${String(check).split('\n').slice(0, 2).join(' ')}`);
}

/** The cheap part of every open: the schema is readable and its version matches its tables. */
export function schemaSane(db: Database.Database): void {
  let version: number;
  let tables: number;
  try {
    version = db.pragma('user_version', { simple: true }) as number;
    tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
  } catch (e) {
    throw asDamage(e);
  }
  if (version < 0 || (version === 0 && tables > 0)) throw damaged(`schema version ${version} does not match its ${tables} tables`);
}

function asDamage(e: unknown): unknown {
  const code = String((e as { code?: string }).code ?? '');
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || /malformed|unsupported file format|not a database/i.test((e as Error).message)) return damaged((e as Error).message);
  return e;
}

// The worker loads better-sqlite3 from where this process found it (node_modules beside dist/ in
// the bundle, the package in tests), opens the file read-only and reports the check's verdict.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
let verdict;
try {
  const db = new Database(workerData.file, { readonly: true, fileMustExist: true, timeout: 5000 });
  try { verdict = String(db.pragma('integrity_check', { simple: true })); } finally { db.close(); }
} catch (e) {
  const code = String(e.code || '');
  verdict = code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || /malformed|not a database/i.test(e.message) ? e.message : 'error: ' + e.message;
}
parentPort.postMessage(verdict);
`;

/** Undefined when the check passed (or could not run: busy, gone), else what it found. */
export function checkInWorker(file: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, sqlite: require.resolve('better-sqlite3') } });
    worker.unref(); // a process may exit before its check ends: the next one starts it again
    worker.once('message', (verdict: string) => resolve(verdict === 'ok' || verdict.startsWith('error: ') ? undefined : `integrity_check: ${verdict.split('\n').slice(0, 2).join(' ')}`));
    worker.once('error', () => resolve(undefined));
    worker.once('exit', () => resolve(undefined));
  });
}

export function fileIdentity(file: string): FileIdentity {
  const s = fs.statSync(file, { bigint: true });
  return { dev: String(s.dev), ino: String(s.ino), size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs) };
}

const sameFile = (a: FileIdentity, b: FileIdentity) => a.dev === b.dev && a.ino === b.ino;

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export function readCheckRecord(dbFile: string): CheckRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(checkRecordFile(dbFile), 'utf8')) as CheckRecord;
    return typeof r.ino === 'string' && typeof r.checkedAt === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole (a temp file renamed over it), so a reader never sees half a record. Best effort. */
export function writeCheckRecord(dbFile: string, record: CheckRecord): void {
  const target = checkRecordFile(dbFile);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
    fs.renameSync(tmp, target);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

function updateCheckRecord(dbFile: string, change: (r: CheckRecord) => CheckRecord): void {
  const record = readCheckRecord(dbFile);
  if (record) writeCheckRecord(dbFile, change(record));
}
