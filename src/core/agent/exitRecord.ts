import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExitRecord, writeJson } from './agents';

// The durable end of a supervised run: the agent's exit code is known only to its supervisor,
// and only once. It is written to exit.json first (a tiny file whose blocks were reserved when
// the supervisor started), then into the database, retried while the state folder is full or
// read-only. A leader that finds the supervisor gone reads exit.json (reconcile), so the code
// is never lost as long as either write lands.

/** Reserved bytes: more than any exit record (a longer error text is cut to fit). */
const SLOT_BYTES = 4096;
const SLOT_FILE = 'exit.slot';
const EXIT_FILE = 'exit.json';

export interface RecordRetry {
  /** How long the database write is retried while the folder takes no writes (default 24 h). */
  forMs?: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Called when the supervisor starts, before the agent: a file of SLOT_BYTES spaces, synced,
 * so that writing the exit record over it later needs no new block on a disk that has filled
 * up meanwhile. Best effort: without a slot the record is written the ordinary way.
 */
export function reserveExitSlot(dir: string): void {
  const slot = path.join(dir, SLOT_FILE);
  try {
    const fd = fs.openSync(slot, 'w', 0o600);
    try {
      fs.writeSync(fd, Buffer.alloc(SLOT_BYTES, 0x20));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    try {
      fs.rmSync(slot, { force: true }); // a partial slot could need new blocks after all
    } catch {
      // a read-only folder: nothing was made
    }
  }
}

/**
 * Writes exit.json: over the reserved bytes (then renamed, so a reader sees all or nothing)
 * when there is a slot, else through a temp file and a rename. Throws when it cannot.
 */
export function writeExitRecord(dir: string, exit: ExitRecord): void {
  const slot = path.join(dir, SLOT_FILE);
  const text = Buffer.from(JSON.stringify(fitted(exit)));
  if (!fs.existsSync(slot) || text.length > SLOT_BYTES) return writeJson(path.join(dir, EXIT_FILE), exit); // (a long list of leftovers)
  const fd = fs.openSync(slot, 'r+');
  try {
    fs.writeSync(fd, text, 0, text.length, 0);
    fs.ftruncateSync(fd, text.length); // shrinking frees blocks, never needs one
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(slot, path.join(dir, EXIT_FILE));
}

/** The record with its error text cut so that the JSON fits the slot. */
function fitted(exit: ExitRecord): ExitRecord {
  if (Buffer.byteLength(JSON.stringify(exit)) <= SLOT_BYTES || !exit.error) return exit;
  let error = exit.error.slice(0, SLOT_BYTES / 4);
  while (error && Buffer.byteLength(JSON.stringify({ ...exit, error: `${error}…` })) > SLOT_BYTES) error = error.slice(0, -64);
  return { ...exit, error: `${error}…` };
}

/**
 * The supervisor's last duty once the agent has ended: exit.json first, then the log's last
 * line and the database. While the state folder is full or read-only (or the database is
 * busy) the missing writes are retried with a growing delay, for a bounded but long time;
 * other database failures (damaged, newer schema) leave the fact to exit.json and the leader.
 */
export async function recordAgentExit(
  o: {
    stateDir: string;
    runId: string;
    dir: string;
    exit: ExitRecord;
    log: { write(text: string): void; close(): void };
    /** Runs once exit.json is written, before the database hears of the end (commit on exit). */
    beforeDatabase?: () => Promise<void>;
  },
  retry: RecordRetry = {},
): Promise<number> {
  const { exit } = o;
  let fileWritten = attempt(() => writeExitRecord(o.dir, exit));
  try {
    o.log.write(`[orchestrator] ${new Date().toISOString()} ended: ${exit.error ?? (exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`)}\n`);
  } catch {
    // a full disk refuses the log line; the record above is what counts
  }
  await o.beforeDatabase?.().catch(() => undefined);
  try {
    o.log.close();
  } catch {
    // already closed
  }
  // Loaded only now: SQLite is not needed to start the agent. (require, not import(): esbuild
  // bundles both lazily, and the tests' CommonJS loader resolves only this one.)
  const { Store, explainStateDirError } = require('../db/store') as typeof import('../db/store');
  const deadline = Date.now() + (retry.forMs ?? 24 * 60 * 60_000);
  let delay = retry.firstDelayMs ?? 200;
  for (;;) {
    let dbDone = false;
    let dbRetry = false;
    let store: import('../db/store').Store | undefined;
    try {
      store = Store.open(o.stateDir);
      store.recordExit(o.runId, exit); // a no-op when a leader recorded it first
      dbDone = true;
    } catch (e) {
      dbRetry = !!explainStateDirError(e, o.stateDir) || (e as { code?: string }).code === 'DB_LOCKED';
    } finally {
      try {
        store?.close();
      } catch {
        // closing checkpoints; a full disk may refuse that, the commit already landed
      }
    }
    if (!fileWritten && !dbDone) fileWritten = attempt(() => writeExitRecord(o.dir, exit));
    if (dbDone || (!dbRetry && fileWritten) || Date.now() >= deadline) return 0;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, retry.maxDelayMs ?? 30_000);
  }
}

function attempt(write: () => void): boolean {
  try {
    write();
    return true;
  } catch {
    return false;
  }
}
