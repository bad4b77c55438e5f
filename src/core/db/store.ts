import Database from 'better-sqlite3';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeSignal } from './changeSignal';
import { DAY_MS, IntegrityGuard, OpenCheck, checkRecordFile, schemaSane } from './integrityCheck';
import { MAX_PORTS_PER_RUN, PORT_RANGE_END, PORT_RANGE_START, portsInUse } from './ports';
import { UserError } from '../model/userError';
import type { Action, ActionKind, RepoRequest } from '../model/action';
import type { Run, RunEvent } from '../model/run';
import { ACTIVE_STATUSES, RunStatus, isActive, sqlList } from '../model/runStatus';
import { Attention, readFactsOf, readMarkedRuns, readPortBlocksOf, readRunFacts, RunFacts, RunFactsPatch, writeRunFacts } from './runFacts';

const ACTIVE_SQL = sqlList(ACTIVE_STATUSES);

export interface LeaderRow {
  epoch: number;
  owner: string | null;
  pid: number | null;
  pidStart: string | null;
  host: string | null;
  label: string | null;
  heartbeatAt: number | null;
}

export interface ClaimRequest {
  repo: string;
  priority: string;
  title?: string;
  agentType?: string;
  newAttempt?: boolean;
  requestedBy?: string;
  /** Everything that depends on the attempt number, computed inside the claim. */
  plan: (attempt: number, runId: string) => { worktree: string; branch: string; baseRef: string; command: string[]; logPath: string; setupCommand?: string[] | null };
}

/** Thrown when the database itself refuses a second active run for a priority. */
export class AlreadyActiveError extends UserError {
  constructor(readonly run: Run) {
    super(`${run.priority} already has an active run (#${run.attempt}, ${run.status}${run.pid ? `, pid ${run.pid}` : ''}); not starting another.`, 'ALREADY_ACTIVE');
  }
}

export class PreviousRunError extends UserError {
  constructor(readonly run: Run) {
    super(`${run.priority} already ran (#${run.attempt}, ${run.status}). Use "New attempt" (CLI: --new-attempt) to run it again.`, 'PREVIOUS_RUN');
  }
}

/** The caller's leadership epoch is no longer current: it must stop acting. */
export class FencedError extends Error {
  constructor(readonly epoch: number) {
    super(`leadership epoch ${epoch} is no longer current`);
    this.name = 'FencedError';
  }
}

/** A transition whose precondition no longer holds (someone else moved the run). */
export class StaleRunError extends Error {
  constructor(runId: string, expected: readonly RunStatus[], actual: RunStatus | undefined) {
    super(`run ${runId} is ${actual ?? 'missing'}, expected ${expected.join('|')}`);
    this.name = 'StaleRunError';
  }
}

const DB_FILE = 'state.db';
const SCHEMA_VERSION = 8;

// Each entry migrates from version i to i+1; never edit a released entry, append.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE repositories (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    repo_id INTEGER NOT NULL REFERENCES repositories(id),
    agent_type TEXT NOT NULL,
    priority TEXT NOT NULL,
    title TEXT,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested','provisioning','running','stopping','succeeded','failed','stopped','lost')),
    step TEXT,
    requested_by TEXT,
    pid INTEGER,
    pid_start TEXT,
    supervisor_pid INTEGER,
    command TEXT NOT NULL,
    worktree TEXT NOT NULL,
    branch TEXT NOT NULL,
    base_ref TEXT NOT NULL,
    base_commit TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    exit_code INTEGER,
    error TEXT,
    log_path TEXT NOT NULL,
    epoch INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    worktree_locked INTEGER NOT NULL DEFAULT 0,
    UNIQUE (repo_id, agent_type, priority, attempt)
  );
  -- Invariant 1 lives here: the database refuses a second active run per priority.
  CREATE UNIQUE INDEX runs_one_active ON runs (repo_id, agent_type, priority)
    WHERE status IN ('requested','provisioning','running','stopping');
  CREATE INDEX runs_by_status ON runs (status);
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    epoch INTEGER,
    detail TEXT
  );
  CREATE INDEX events_by_run ON events (run_id);
  CREATE TABLE leader (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    owner TEXT,
    pid INTEGER,
    pid_start TEXT,
    host TEXT,
    label TEXT,
    heartbeat_at INTEGER,
    acquired_at INTEGER
  );
  INSERT INTO leader (id, epoch) VALUES (1, 0);
  CREATE TABLE loop_state (
    repo_id INTEGER PRIMARY KEY REFERENCES repositories(id),
    enabled INTEGER NOT NULL,
    config TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  -- Bumped by triggers on what the views show, so watchers can tell a view-relevant
  -- change from a leader heartbeat without re-reading everything.
  CREATE TABLE change_gen (id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL);
  INSERT INTO change_gen VALUES (1, 0);
  CREATE TRIGGER runs_ins AFTER INSERT ON runs BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER runs_upd AFTER UPDATE ON runs BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER runs_del AFTER DELETE ON runs BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER loop_ins AFTER INSERT ON loop_state BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER loop_upd AFTER UPDATE ON loop_state BEGIN UPDATE change_gen SET gen = gen + 1; END;
  `,
  // 2: requests for the leader to act on a run (merge, remove), and a run's setup command.
  `
  CREATE TABLE actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('merge','remove')),
    run_id TEXT NOT NULL REFERENCES runs(id),
    force INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending','done','failed')),
    requested_by TEXT,
    result TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
  );
  CREATE TRIGGER actions_ins AFTER INSERT ON actions BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER actions_upd AFTER UPDATE ON actions BEGIN UPDATE change_gen SET gen = gen + 1; END;
  ALTER TABLE runs ADD COLUMN setup_command TEXT;
  `,
  // 3: port blocks leased to runs (see ports.ts). The port is the key: at most one lease per
  // port whoever asks; a run that ends (or is deleted) gives its ports back in the same write.
  // No foreign key: the lease is written inside the claim, just before the run's own row.
  `
  CREATE TABLE port_leases (
    port INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    first_port INTEGER NOT NULL,
    count INTEGER NOT NULL,
    leased_at INTEGER NOT NULL
  );
  CREATE INDEX port_leases_run ON port_leases(run_id);
  CREATE TRIGGER runs_release_ports AFTER UPDATE OF status ON runs
    WHEN NEW.status NOT IN ('requested','provisioning','running','stopping')
    BEGIN DELETE FROM port_leases WHERE run_id = NEW.id; END;
  CREATE TRIGGER runs_del_ports AFTER DELETE ON runs BEGIN DELETE FROM port_leases WHERE run_id = OLD.id; END;
  `,
  // 4: the views read a page of a repository's newest runs (activeRunsPage, latestEndedRuns),
  // the runs that ended recently and the runs of listed worktrees, whatever the length of the history.
  `
  -- Partial, so that only queries naming the same conditions use them (the planner would
  -- otherwise prefer repo_id over runs_by_status for a repository's active runs).
  CREATE INDEX runs_ended_by_repo_created ON runs (repo_id, created_at, id)
    WHERE status NOT IN ('requested','provisioning','running','stopping');
  CREATE INDEX runs_active_by_repo_created ON runs (repo_id, created_at, id)
    WHERE status IN ('requested','provisioning','running','stopping');
  CREATE INDEX runs_by_ended ON runs (ended_at) WHERE ended_at IS NOT NULL;
  CREATE INDEX runs_by_worktree ON runs (repo_id, worktree);
  `,
  // 5: requests for the leader to act on a whole repository (gc), answered in the same row.
  `
  CREATE TABLE repo_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('gc')),
    repo TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','done','failed')),
    requested_by TEXT,
    result TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
  );
  CREATE INDEX repo_requests_pending ON repo_requests (id) WHERE status = 'pending';
  CREATE TRIGGER repo_requests_ins AFTER INSERT ON repo_requests BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER repo_requests_upd AFTER UPDATE ON repo_requests BEGIN UPDATE change_gen SET gen = gen + 1; END;
  `,
  // 6: run facts (runFacts.ts): what a run is doing, read from its agent's output by the
  // supervisor, and the attention mark (needs input, stalled). One row per run, written at
  // most about once a second per run; the views re-read on the change counter.
  `
  CREATE TABLE run_facts (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    session_id TEXT,
    last_activity TEXT,
    last_activity_at INTEGER,
    tokens_in INTEGER,
    tokens_out INTEGER,
    cost_usd REAL,
    denials INTEGER NOT NULL DEFAULT 0,
    denied_tool TEXT,
    attention TEXT NULL CHECK (attention IN ('needs-input','stalled')),
    attention_reason TEXT,
    attention_at INTEGER,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX run_facts_attention ON run_facts (attention) WHERE attention IS NOT NULL;
  CREATE TRIGGER run_facts_ins AFTER INSERT ON run_facts BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER run_facts_upd AFTER UPDATE ON run_facts BEGIN UPDATE change_gen SET gen = gen + 1; END;
  `,
  // 7: what a follow-up needs (core/followUp.ts). The agent session a run started with (the
  // ${sessionId} it was given), and, for a follow-up, the run it continues in the same worktree
  // and branch. Rows of their own (no foreign key): written inside the claim, before the run's row.
  `
  CREATE TABLE run_sessions (
    run_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
  );
  CREATE TABLE follow_ups (
    run_id TEXT PRIMARY KEY,
    previous_run_id TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TRIGGER runs_del_follow_up AFTER DELETE ON runs BEGIN
    DELETE FROM run_sessions WHERE run_id = OLD.id;
    DELETE FROM follow_ups WHERE run_id = OLD.id;
  END;
  `,
  // 8: a reconcile asked of the leader (cli reconcile while another leads) is a repository
  // request too. A CHECK cannot be altered in SQLite: the table is made again, rows kept.
  `
  CREATE TABLE repo_requests_8 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('gc','reconcile')),
    repo TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','done','failed')),
    requested_by TEXT,
    result TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
  );
  INSERT INTO repo_requests_8 SELECT id, kind, repo, status, requested_by, result, created_at, done_at FROM repo_requests;
  DROP TABLE repo_requests;
  ALTER TABLE repo_requests_8 RENAME TO repo_requests;
  CREATE INDEX repo_requests_pending ON repo_requests (id) WHERE status = 'pending';
  CREATE TRIGGER repo_requests_ins AFTER INSERT ON repo_requests BEGIN UPDATE change_gen SET gen = gen + 1; END;
  CREATE TRIGGER repo_requests_upd AFTER UPDATE ON repo_requests BEGIN UPDATE change_gen SET gen = gen + 1; END;
  `,
];

interface RunRow {
  id: string;
  repo_id: number;
  repo: string;
  agent_type: string;
  priority: string;
  title: string | null;
  attempt: number;
  status: RunStatus;
  step: string | null;
  requested_by: string | null;
  pid: number | null;
  pid_start: string | null;
  supervisor_pid: number | null;
  command: string;
  worktree: string;
  branch: string;
  base_ref: string;
  base_commit: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  error: string | null;
  log_path: string;
  epoch: number | null;
  stop_requested: number;
  worktree_locked: number;
  setup_command: string | null;
}

const RUN_SELECT = `SELECT runs.*, repositories.path AS repo FROM runs JOIN repositories ON repositories.id = runs.repo_id`;

function toRun(r: RunRow): Run {
  return {
    id: r.id,
    repoId: r.repo_id,
    repo: r.repo,
    agentType: r.agent_type,
    priority: r.priority,
    title: r.title,
    attempt: r.attempt,
    status: r.status,
    step: r.step,
    requestedBy: r.requested_by,
    pid: r.pid,
    pidStart: r.pid_start,
    supervisorPid: r.supervisor_pid,
    command: JSON.parse(r.command) as string[],
    worktree: r.worktree,
    branch: r.branch,
    baseRef: r.base_ref,
    baseCommit: r.base_commit,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    exitCode: r.exit_code,
    error: r.error,
    logPath: r.log_path,
    epoch: r.epoch,
    stopRequested: r.stop_requested !== 0,
    worktreeLocked: r.worktree_locked !== 0,
    setupCommand: r.setup_command ? (JSON.parse(r.setup_command) as string[]) : null,
  };
}

export type RunPatch = Partial<{
  step: string | null;
  pid: number | null;
  pidStart: string | null;
  supervisorPid: number | null;
  baseCommit: string | null;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  error: string | null;
  stopRequested: boolean;
  worktreeLocked: boolean;
}>;

const PATCH_COLUMNS: Record<keyof RunPatch, string> = {
  step: 'step',
  pid: 'pid',
  pidStart: 'pid_start',
  supervisorPid: 'supervisor_pid',
  baseCommit: 'base_commit',
  startedAt: 'started_at',
  endedAt: 'ended_at',
  exitCode: 'exit_code',
  error: 'error',
  stopRequested: 'stop_requested',
  worktreeLocked: 'worktree_locked',
};

export interface StoreOptions {
  /** How long a write waits for another writer before failing with a clear message. */
  busyTimeoutMs?: number;
  /**
   * For pure readers (status) when the folder cannot be written (read-only or full): opens
   * nothing for writing, creates nothing there, and refuses every write. See openForReading.
   */
  readOnly?: boolean;
  /**
   * How often a writable Store runs the full integrity check again, in a worker thread (see
   * integrityCheck.ts); null: never in the background (the checks at open still run). Default a day.
   */
  fullCheckEveryMs?: number | null;
}

/**
 * The one source of truth: every run, every transition, the leader lease. All writes
 * go through short IMMEDIATE transactions so that concurrent processes serialise on
 * the database, never on memory.
 */
export class Store {
  private readonly db: Database.Database;
  readonly file: string;
  // SQLite's data_version does not change for a connection's own writes: tell our own watchers.
  private readonly writeListeners = new Set<() => void>();
  /** Vouches for the file (writable Stores only); undefined for a reader. */
  private guard: IntegrityGuard | undefined;
  /** Set when damage was found while open: every write is refused with it. */
  private refusal: UserError | undefined;

  private constructor(db: Database.Database, file: string) {
    this.db = db;
    this.file = file;
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared once per SQL text: the leader's pass asks the same few questions after every change (bench: throughput). */
  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }

  static open(stateDir: string, options: StoreOptions = {}): Store {
    const file = path.join(stateDir, DB_FILE);
    const timeout = options.busyTimeoutMs ?? Number(process.env.WTO_BUSY_TIMEOUT_MS ?? 5000);
    if (options.readOnly) {
      const { db, empty } = openForReading(file, timeout);
      try {
        const store = new Store(db, file);
        if (empty) store.migrate(); // no database yet: an empty one, in memory
        else store.readableVersion();
        db.pragma('query_only = ON');
        return store;
      } catch (e) {
        db.close();
        throw explainOpenError(e, file);
      }
    }
    let db: Database.Database | undefined;
    let store: Store | undefined;
    try {
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      if (!fs.existsSync(file)) fs.closeSync(fs.openSync(file, 'a', 0o600));
      const guard = IntegrityGuard.atOpen(file); // before anything can write to it
      db = new Database(file, { timeout });
      schemaSane(db);
      store = new Store(db, file);
      store.guard = guard;
      openStores.add(store);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      store.migrate();
      store.signalChanges(new ChangeSignal(file).ensure());
      store.scheduleFullCheck(options.fullCheckEveryMs === undefined ? DAY_MS : options.fullCheckEveryMs);
      return store;
    } catch (e) {
      if (store) store.close();
      else db?.close();
      throw explainOpenError(e, file);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
    openStores.delete(this);
    this.guard?.closed();
    this.guard = undefined;
  }

  /** What the open decided: whether it ran the full integrity check, and why. */
  get openCheck(): OpenCheck | undefined {
    return this.guard?.opened;
  }

  /** After each transaction that changed rows (not a heartbeat, which writes outside immediate()): wake the other processes' watchers. */
  private signalChanges(signal: ChangeSignal): void {
    const totalChanges = this.db.prepare('SELECT total_changes()').pluck();
    let seen = totalChanges.get();
    this.onDidWrite(() => {
      const n = totalChanges.get();
      if (n === seen) return;
      seen = n;
      signal.touch();
    });
  }

  /** The periodic full check, when due, in the background: it never delays the open. */
  private scheduleFullCheck(everyMs: number | null): void {
    if (everyMs === null || !this.guard?.checkDue(everyMs)) return;
    void this.checkInBackground();
  }

  /**
   * Runs the full integrity check in a worker thread now. Resolves undefined when it passed;
   * when it found damage, this Store refuses every write from then on and the damage is returned.
   */
  async checkInBackground(): Promise<string | undefined> {
    const problem = await this.guard?.checkInBackground();
    if (problem) this.refuseWrites(problem);
    return problem;
  }

  /** Damage found while open: no write reaches the file again (query_only catches the ones outside immediate()). */
  private refuseWrites(problem: string): void {
    this.refusal = new UserError(
      `The orchestrator database ${this.file} is damaged (${problem}), found by the background integrity check; nothing more is written to it and nothing was changed. Close the windows and CLI commands that use it: the next start moves it aside, untouched, and begins a new one.`,
      'DB_CORRUPT',
    );
    if (this.db.open) this.db.pragma('query_only = ON');
  }

  /** A reader cannot migrate: it reads an older schema as it is, and refuses a newer one. */
  private readableVersion(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new UserError(`The orchestrator database ${this.file} was written by a newer version (schema ${version}); update the extension.`, 'DB_NEWER');
    }
  }

  private migrate(): void {
    this.readableVersion();
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version === SCHEMA_VERSION) {
      this.statement('SELECT 1 FROM runs LIMIT 1').get(); // fail early on an unreadable file (count(*) would read every page)
      return;
    }
    this.immediate(() => {
      const current = this.db.pragma('user_version', { simple: true }) as number;
      for (let v = current; v < SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v]);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    });
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction: the write lock is taken before any read. */
  immediate<T>(fn: () => T): T {
    if (this.refusal) throw this.refusal;
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (e) {
      throw explainBusy(e, this.file);
    }
    for (const listener of this.writeListeners) listener();
    return result;
  }

  onDidWrite(listener: () => void): { dispose(): void } {
    this.writeListeners.add(listener);
    return { dispose: () => this.writeListeners.delete(listener) };
  }

  repoId(repoPath: string): number {
    const found = this.statement('SELECT id FROM repositories WHERE path = ?').get(repoPath) as { id: number } | undefined;
    if (found) return found.id;
    return this.immediate(() => {
      this.statement('INSERT OR IGNORE INTO repositories (path, created_at) VALUES (?, ?)').run(repoPath, Date.now());
      return (this.statement('SELECT id FROM repositories WHERE path = ?').get(repoPath) as { id: number }).id;
    });
  }

  /**
   * Claims a priority: inserts a 'requested' run. The unique partial index makes a
   * second active run impossible whatever process tries; a previous ended run needs
   * an explicit new attempt.
   */
  claimRun(req: ClaimRequest): Run {
    const repoId = this.repoId(req.repo);
    const agentType = req.agentType ?? 'code_developer';
    return this.immediate(() => {
      const last = this.latestRun(req.repo, req.priority, agentType);
      if (last && !isActive(last.status) && !req.newAttempt) throw new PreviousRunError(last);
      const attempt = (last?.attempt ?? 0) + 1;
      const id = newRunId();
      const plan = req.plan(attempt, id);
      const now = Date.now();
      try {
        this.statement(
            `INSERT INTO runs (id, repo_id, agent_type, priority, title, attempt, status, step, requested_by,
               command, worktree, branch, base_ref, log_path, created_at, setup_command)
             VALUES (?, ?, ?, ?, ?, ?, 'requested', 'claimed', ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(id, repoId, agentType, req.priority, req.title ?? null, attempt, req.requestedBy ?? null,
            JSON.stringify(plan.command), plan.worktree, plan.branch, plan.baseRef, plan.logPath, now,
            plan.setupCommand?.length ? JSON.stringify(plan.setupCommand) : null);
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          const active = this.activeRun(req.repo, req.priority, agentType);
          if (active) throw new AlreadyActiveError(active);
        }
        throw e;
      }
      this.addEvent(id, 'claimed', null, 'requested', null, `attempt ${attempt}`);
      return this.getRun(id)!;
    });
  }

  /**
   * Leases the lowest block of `count` consecutive ports that no active run holds and nothing
   * on this machine uses, to a run; returns its first port. Called inside the claim's
   * transaction, so the lease and the run are written together (or not at all).
   */
  leasePorts(runId: string, count: number, inUse: () => Set<number> = portsInUse): number {
    if (!Number.isInteger(count) || count < 1 || count > MAX_PORTS_PER_RUN) throw new UserError(`portsPerRun must be a whole number from 0 to ${MAX_PORTS_PER_RUN}, got ${count}.`, 'BAD_PORTS');
    const lease = () => {
      const held = this.portBlock(runId);
      if (held) return held.first;
      const leased = new Set((this.statement('SELECT port FROM port_leases').all() as Array<{ port: number }>).map((r) => r.port));
      const used = inUse();
      const insert = this.statement('INSERT INTO port_leases (port, run_id, first_port, count, leased_at) VALUES (?, ?, ?, ?, ?)');
      for (let first = PORT_RANGE_START; first + count <= PORT_RANGE_END; first += count) {
        let free = true;
        for (let p = first; p < first + count && free; p++) free = !leased.has(p) && !used.has(p);
        if (!free) continue;
        const now = Date.now();
        for (let p = first; p < first + count; p++) insert.run(p, runId, first, count, now);
        return first;
      }
      throw new UserError(`No block of ${count} free ports is left between ${PORT_RANGE_START} and ${PORT_RANGE_END - 1} (${leased.size} leased to active runs); lower portsPerRun or end some runs.`, 'NO_PORTS');
    };
    return this.db.inTransaction ? lease() : this.immediate(lease);
  }

  /** The ports an active run holds, if any. */
  portBlock(runId: string): { first: number; count: number } | undefined {
    const row = this.statement('SELECT first_port AS first, count FROM port_leases WHERE run_id = ? LIMIT 1').get(runId) as { first: number; count: number } | undefined;
    return row && { first: row.first, count: row.count };
  }

  /** The agent session a run was started with (its ${sessionId}); one statement, so it may run inside a claim. */
  recordSessionId(runId: string, sessionId: string): void {
    this.statement('INSERT OR REPLACE INTO run_sessions (run_id, session_id, recorded_at) VALUES (?, ?, ?)').run(runId, sessionId, Date.now());
  }

  /** The session recorded for a run at its start, if any (core/followUp.ts sessionIdOf decides which to resume). */
  runSessionId(runId: string): string | undefined {
    return (this.statement('SELECT session_id FROM run_sessions WHERE run_id = ?').get(runId) as { session_id: string } | undefined)?.session_id;
  }

  /** Marks a run as the follow-up of another (same worktree and branch); call inside the run's claim. */
  recordFollowUp(runId: string, previousRunId: string, message: string): void {
    this.statement('INSERT INTO follow_ups (run_id, previous_run_id, message, created_at) VALUES (?, ?, ?, ?)').run(runId, previousRunId, message, Date.now());
  }

  /** For a follow-up run: the run it continues and the message it was given. */
  followUpOf(runId: string): { previousRunId: string; message: string } | undefined {
    const row = this.statement('SELECT previous_run_id, message FROM follow_ups WHERE run_id = ?').get(runId) as { previous_run_id: string; message: string } | undefined;
    return row && { previousRunId: row.previous_run_id, message: row.message };
  }

  /** The highest attempt of a priority, whatever its status. */
  latestRun(repo: string, priority: string, agentType = 'code_developer'): Run | undefined {
    const row = this.statement(`${RUN_SELECT} WHERE repositories.path = ? AND agent_type = ? AND priority = ? ORDER BY attempt DESC LIMIT 1`)
      .get(repo, agentType, priority) as RunRow | undefined;
    return row && toRun(row);
  }

  getRun(id: string): Run | undefined {
    const row = this.statement(`${RUN_SELECT} WHERE runs.id = ?`).get(id) as RunRow | undefined;
    return row && toRun(row);
  }

  activeRun(repo: string, priority: string, agentType = 'code_developer'): Run | undefined {
    const row = this.statement(`${RUN_SELECT} WHERE repositories.path = ? AND agent_type = ? AND priority = ?
        AND status IN ${ACTIVE_SQL}`)
      .get(repo, agentType, priority) as RunRow | undefined;
    return row && toRun(row);
  }

  listRuns(filter: { repo?: string; statuses?: readonly RunStatus[]; worktreeLocked?: boolean } = {}): Run[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.worktreeLocked !== undefined) {
      where.push('worktree_locked = ?');
      args.push(Number(filter.worktreeLocked));
    }
    if (filter.repo) {
      where.push('repositories.path = ?');
      args.push(filter.repo);
    }
    if (filter.statuses) {
      where.push(`status IN (${filter.statuses.map(() => '?').join(',')})`);
      args.push(...filter.statuses);
    }
    const sql = `${RUN_SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY runs.created_at, runs.attempt`;
    return (this.statement(sql).all(...args) as RunRow[]).map(toRun);
  }

  /**
   * One page of the priorities of `repo` whose latest attempt has ended, as that attempt,
   * newest first, strictly after `after` (the last run of the previous page). Costs the
   * page, not the history: it walks runs_ended_by_repo_created backwards and skips superseded
   * attempts through the unique (repo, agent type, priority, attempt) index.
   */
  latestEndedRuns(repo: string, limit: number, after?: Pick<Run, 'createdAt' | 'id'>): Run[] {
    const rows = this.statement(
        `${RUN_SELECT} WHERE repositories.path = ? AND runs.status NOT IN ${ACTIVE_SQL}
          ${after ? 'AND (runs.created_at, runs.id) < (?, ?)' : ''}
          AND NOT EXISTS (SELECT 1 FROM runs AS later WHERE later.repo_id = runs.repo_id AND later.agent_type = runs.agent_type
            AND later.priority = runs.priority AND later.attempt > runs.attempt)
        ORDER BY runs.created_at DESC, runs.id DESC LIMIT ?`,
      )
      .all(...(after ? [repo, after.createdAt, after.id, limit] : [repo, limit])) as RunRow[];
    return rows.map(toRun);
  }

  /** One page of the active runs of `repo`, newest first, strictly after `after` (runs_active_by_repo_created serves it). */
  activeRunsPage(repo: string, limit: number, after?: Pick<Run, 'createdAt' | 'id'>): Run[] {
    const rows = this.statement(
        `${RUN_SELECT} WHERE repositories.path = ? AND runs.status IN ${ACTIVE_SQL}
          ${after ? 'AND (runs.created_at, runs.id) < (?, ?)' : ''}
        ORDER BY runs.created_at DESC, runs.id DESC LIMIT ?`,
      )
      .all(...(after ? [repo, after.createdAt, after.id, limit] : [repo, limit])) as RunRow[];
    return rows.map(toRun);
  }

  /** Attempts of a priority below `belowAttempt`, highest first, at most `limit` (the unique index serves it). */
  earlierAttempts(repo: string, priority: string, belowAttempt: number, limit: number, agentType = 'code_developer'): Run[] {
    const rows = this.statement(`${RUN_SELECT} WHERE repositories.path = ? AND agent_type = ? AND priority = ? AND attempt < ? ORDER BY attempt DESC LIMIT ?`)
      .all(repo, agentType, priority, belowAttempt, limit) as RunRow[];
    return rows.map(toRun);
  }

  /** The runs of `repo` recorded at these worktree paths (exactly as given), through runs_by_worktree. */
  runsAtWorktrees(repo: string, worktrees: readonly string[]): Run[] {
    const out: Run[] = [];
    // In chunks: SQLite caps the number of parameters of one statement.
    for (let i = 0; i < worktrees.length; i += 500) {
      const chunk = worktrees.slice(i, i + 500);
      const rows = this.db
        .prepare(`${RUN_SELECT} WHERE repositories.path = ? AND runs.worktree IN (${chunk.map(() => '?').join(',')})`)
        .all(repo, ...chunk) as RunRow[];
      out.push(...rows.map(toRun));
    }
    return out;
  }

  /** Runs of `repo` that ended at or after `since` (runs_by_ended serves it). */
  endedSince(repo: string, since: number): Run[] {
    const rows = this.statement(
        `SELECT runs.*, repositories.path AS repo FROM runs INDEXED BY runs_by_ended JOIN repositories ON repositories.id = runs.repo_id
        WHERE runs.ended_at >= ? AND repositories.path = ? AND status NOT IN ${ACTIVE_SQL} ORDER BY runs.ended_at`,
      )
      .all(since, repo) as RunRow[];
    return rows.map(toRun);
  }

  /** Finds a run by id, or the latest run of a priority. */
  findRun(idOrPriority: string, repo?: string): Run | undefined {
    const byId = this.getRun(idOrPriority);
    if (byId) return byId;
    const row = this.statement(`${RUN_SELECT} WHERE priority = ? COLLATE NOCASE ${repo ? 'AND repositories.path = ?' : ''}
        ORDER BY (status IN ${ACTIVE_SQL}) DESC, attempt DESC LIMIT 1`)
      .get(...(repo ? [idOrPriority, repo] : [idOrPriority])) as RunRow | undefined;
    return row && toRun(row);
  }

  events(runId?: string): RunEvent[] {
    const rows = runId
      ? this.statement('SELECT * FROM events WHERE run_id = ? ORDER BY id').all(runId)
      : this.statement('SELECT * FROM events ORDER BY id').all();
    return (rows as Array<Record<string, unknown>>).map((r) => ({
      id: r.id as number,
      runId: r.run_id as string | null,
      at: r.at as number,
      kind: r.kind as string,
      fromStatus: r.from_status as string | null,
      toStatus: r.to_status as string | null,
      epoch: r.epoch as number | null,
      detail: r.detail as string | null,
    }));
  }

  addEvent(runId: string | null, kind: string, from: string | null, to: string | null, epoch: number | null, detail?: string): void {
    this.statement('INSERT INTO events (run_id, at, kind, from_status, to_status, epoch, detail) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(runId, Date.now(), kind, from, to, epoch, detail ?? null);
  }

  /** Throws FencedError unless `epoch` is the current leader epoch held by `owner`. Call inside a transaction. */
  assertEpoch(epoch: number, owner: string): void {
    const row = this.statement('SELECT epoch, owner FROM leader WHERE id = 1').get() as { epoch: number; owner: string | null };
    if (row.epoch !== epoch || row.owner !== owner) throw new FencedError(epoch);
  }

  /**
   * A leader's transition: confirms the epoch, checks the run is still in one of `from`,
   * writes the new state and its event — all in one transaction, before the act.
   */
  fencedTransition(
    fence: { epoch: number; owner: string },
    runId: string,
    from: readonly RunStatus[],
    to: RunStatus,
    patch: RunPatch = {},
    detail?: string,
  ): Run {
    return this.immediate(() => {
      this.assertEpoch(fence.epoch, fence.owner);
      return this.transitionInTx(runId, from, to, patch, fence.epoch, detail);
    });
  }

  /** A recorded fact that needs no leadership (an exit seen by the supervisor, a cancelled request). */
  recordTransition(runId: string, from: readonly RunStatus[], to: RunStatus, patch: RunPatch = {}, detail?: string): Run {
    return this.immediate(() => this.transitionInTx(runId, from, to, patch, null, detail));
  }

  private transitionInTx(runId: string, from: readonly RunStatus[], to: RunStatus, patch: RunPatch, epoch: number | null, detail?: string): Run {
    const current = this.statement('SELECT status FROM runs WHERE id = ?').get(runId) as { status: RunStatus } | undefined;
    if (!current || !from.includes(current.status)) throw new StaleRunError(runId, from, current?.status);
    const sets = ['status = ?'];
    const args: unknown[] = [to];
    for (const [key, value] of Object.entries(patch) as Array<[keyof RunPatch, unknown]>) {
      sets.push(`${PATCH_COLUMNS[key]} = ?`);
      args.push(typeof value === 'boolean' ? Number(value) : value);
    }
    if (epoch !== null) {
      sets.push('epoch = ?');
      args.push(epoch);
    }
    this.statement(`UPDATE runs SET ${sets.join(', ')} WHERE id = ?`).run(...args, runId);
    this.addEvent(runId, current.status === to ? 'step' : 'transition', current.status, to, epoch, detail);
    return this.getRun(runId)!;
  }

  /**
   * Records how an agent ended — by its supervisor, or by a leader that found it gone.
   * A no-op when the run has already ended (whoever saw it first wrote it).
   */
  recordExit(runId: string, exit: { code: number | null; signal?: string | null; error?: string | null }, lost = false): Run | undefined {
    return this.immediate(() => {
      const run = this.getRun(runId);
      if (!run || !isActive(run.status)) return run;
      const to: RunStatus = run.status === 'stopping' || run.stopRequested ? 'stopped' : lost ? 'lost' : exit.code === 0 ? 'succeeded' : 'failed';
      const detail = exit.error ?? (exit.signal ? `signal ${exit.signal}` : exit.code !== null ? `exit code ${exit.code}` : 'exit unknown');
      return this.transitionInTx(runId, [run.status], to, { exitCode: exit.code, endedAt: Date.now(), error: exit.error ?? run.error }, null, detail);
    });
  }

  /** Marks a run for stopping; the leader carries it out. Unleaded requests are simply cancelled. */
  requestStop(runId: string): Run {
    return this.immediate(() => {
      const run = this.getRun(runId);
      if (!run) throw new UserError(`No run ${runId}.`, 'NO_RUN');
      if (run.status === 'requested') return this.transitionInTx(runId, ['requested'], 'stopped', { endedAt: Date.now(), stopRequested: true }, null, 'cancelled before provisioning');
      if (!isActive(run.status)) return run;
      this.statement('UPDATE runs SET stop_requested = 1 WHERE id = ?').run(runId);
      this.addEvent(runId, 'stop-requested', run.status, run.status, null);
      return this.getRun(runId)!;
    });
  }

  /** Asks the leader to act on a run; the answer comes back in the same row. */
  requestAction(kind: ActionKind, runId: string, o: { force?: boolean; requestedBy?: string } = {}): Action {
    return this.immediate(() => {
      if (!this.getRun(runId)) throw new UserError(`No run ${runId}.`, 'NO_RUN');
      const r = this.statement("INSERT INTO actions (kind, run_id, force, status, requested_by, created_at) VALUES (?, ?, ?, 'pending', ?, ?)")
        .run(kind, runId, Number(!!o.force), o.requestedBy ?? null, Date.now());
      this.addEvent(runId, `${kind}-requested`, null, null, null, o.force ? 'force' : undefined);
      return this.getAction(Number(r.lastInsertRowid))!;
    });
  }

  getAction(id: number): Action | undefined {
    const r = this.statement('SELECT * FROM actions WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r && toAction(r);
  }

  pendingActions(): Action[] {
    return (this.statement("SELECT * FROM actions WHERE status = 'pending' ORDER BY id").all() as Array<Record<string, unknown>>).map(toAction);
  }

  /** Asks the leader to act on a whole repository (gc), or to reconcile (asked from `repo`); the answer comes back in the same row. */
  requestForRepo(kind: RepoRequest['kind'], repo: string, requestedBy?: string): RepoRequest {
    const r = this.statement("INSERT INTO repo_requests (kind, repo, status, requested_by, created_at) VALUES (?, ?, 'pending', ?, ?)")
      .run(kind, repo, requestedBy ?? null, Date.now());
    return this.getRepoRequest(Number(r.lastInsertRowid))!;
  }

  getRepoRequest(id: number): RepoRequest | undefined {
    const r = this.statement('SELECT * FROM repo_requests WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r && toRepoRequest(r);
  }

  pendingRepoRequests(): RepoRequest[] {
    return (this.statement("SELECT * FROM repo_requests WHERE status = 'pending' ORDER BY id").all() as Array<Record<string, unknown>>).map(toRepoRequest);
  }

  /** The leader's answer to a repository request, fenced. */
  finishRepoRequest(fence: { epoch: number; owner: string }, id: number, status: 'done' | 'failed', result: string): void {
    this.immediate(() => {
      this.assertEpoch(fence.epoch, fence.owner);
      this.statement("UPDATE repo_requests SET status = ?, result = ?, done_at = ? WHERE id = ? AND status = 'pending'").run(status, result, Date.now(), id);
    });
  }

  /** The leader's answer, fenced like every side effect it reports. */
  finishAction(fence: { epoch: number; owner: string }, id: number, status: 'done' | 'failed', result: string): void {
    this.immediate(() => {
      this.assertEpoch(fence.epoch, fence.owner);
      this.statement("UPDATE actions SET status = ?, result = ?, done_at = ? WHERE id = ? AND status = 'pending'").run(status, result, Date.now(), id);
    });
  }

  /** Records a side effect's intent under the caller's epoch; throws FencedError if deposed. */
  fencedEvent(fence: { epoch: number; owner: string }, runId: string | null, kind: string, detail?: string): void {
    this.immediate(() => {
      this.assertEpoch(fence.epoch, fence.owner);
      this.addEvent(runId, kind, null, null, fence.epoch, detail);
    });
  }

  /** Writes a new leader into the row (inside the caller's immediate transaction). */
  setLeader(l: { epoch: number; owner: string; pid: number; pidStart: string | null; host: string; label: string | null; at: number }): void {
    this.statement('UPDATE leader SET epoch = ?, owner = ?, pid = ?, pid_start = ?, host = ?, label = ?, heartbeat_at = ?, acquired_at = ? WHERE id = 1')
      .run(l.epoch, l.owner, l.pid, l.pidStart, l.host, l.label, l.at, l.at);
  }

  /** Clears the owner if `epoch`/`owner` still lead; whether it did. */
  clearLeader(epoch: number, owner: string): boolean {
    return this.statement('UPDATE leader SET owner = NULL WHERE id = 1 AND epoch = ? AND owner = ?').run(epoch, owner).changes === 1;
  }

  /** The heartbeat, guarded by the epoch: false when another process holds the lease now. */
  renewLeader(epoch: number, owner: string, at: number): boolean {
    return this.statement('UPDATE leader SET heartbeat_at = ? WHERE id = 1 AND epoch = ? AND owner = ?').run(at, epoch, owner).changes === 1;
  }

  leader(): LeaderRow {
    const r = this.statement('SELECT * FROM leader WHERE id = 1').get() as Record<string, unknown>;
    return {
      epoch: r.epoch as number,
      owner: r.owner as string | null,
      pid: r.pid as number | null,
      pidStart: r.pid_start as string | null,
      host: r.host as string | null,
      label: r.label as string | null,
      heartbeatAt: r.heartbeat_at as number | null,
    };
  }

  changeGeneration(): number {
    return (this.statement('SELECT gen FROM change_gen WHERE id = 1').get() as { gen: number }).gen;
  }

  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  setLoop(repo: string, enabled: boolean, config: unknown): void {
    const repoId = this.repoId(repo);
    this.immediate(() => {
      this.statement(`INSERT INTO loop_state (repo_id, enabled, config, updated_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (repo_id) DO UPDATE SET enabled = excluded.enabled, config = excluded.config, updated_at = excluded.updated_at`)
        .run(repoId, Number(enabled), JSON.stringify(config), Date.now());
      this.addEvent(null, enabled ? 'loop-on' : 'loop-off', null, null, null, repo);
    });
  }

  loops(): Array<{ repo: string; enabled: boolean; config: unknown }> {
    return (
      this.statement('SELECT repositories.path AS repo, enabled, config FROM loop_state JOIN repositories ON repositories.id = loop_state.repo_id')
        .all() as Array<{ repo: string; enabled: number; config: string }>
    ).map((r) => ({ repo: r.repo, enabled: r.enabled !== 0, config: JSON.parse(r.config) as unknown }));
  }
  /**
   * Records what a run is doing (runFacts.ts): a fact, like an exit, that needs no leadership.
   * A new or cleared attention mark is also an event of the run.
   */
  recordRunFacts(runId: string, patch: RunFactsPatch, guard?: (current: RunFacts | undefined) => boolean): RunFacts {
    return this.immediate(() => {
      const { facts, marked } = writeRunFacts(this.db, runId, patch, guard);
      if (marked) this.addEvent(runId, 'attention', null, null, null, marked.to ? `${marked.to}${marked.reason ? `: ${marked.reason}` : ''}` : `cleared (was ${marked.from})`);
      return facts;
    });
  }

  runFacts(runId: string): RunFacts | undefined {
    return readRunFacts(this.db, runId);
  }

  /** The facts of the runs a view shows, in one query. */
  factsOf(runIds: readonly string[]): Map<string, RunFacts> {
    return readFactsOf(this.db, runIds);
  }

  /** The port blocks of the runs a view shows (active ones hold one), in one query. */
  portBlocksOf(runIds: readonly string[]): Map<string, { first: number; count: number }> {
    return readPortBlocksOf(this.db, runIds);
  }

  /** The facts of every run marked so (the status bar's count, the needs-input notices). */
  markedRuns(attention: Attention): RunFacts[] {
    return readMarkedRuns(this.db, attention);
  }
}

function toAction(r: Record<string, unknown>): Action {
  return {
    id: r.id as number,
    kind: r.kind as ActionKind,
    runId: r.run_id as string,
    force: r.force !== 0,
    status: r.status as Action['status'],
    requestedBy: r.requested_by as string | null,
    result: r.result as string | null,
    createdAt: r.created_at as number,
    doneAt: r.done_at as number | null,
  };
}

function toRepoRequest(r: Record<string, unknown>): RepoRequest {
  return {
    id: r.id as number,
    kind: r.kind as RepoRequest['kind'],
    repo: r.repo as string,
    status: r.status as RepoRequest['status'],
    requestedBy: r.requested_by as string | null,
    result: r.result as string | null,
    createdAt: r.created_at as number,
    doneAt: r.done_at as number | null,
  };
}

function newRunId(): string {
  return `r${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;
}

/** A process that exits without closing (process.exit) still closes its Stores: that is a clean shutdown. */
const openStores = new Set<Store>();
process.once('exit', () => {
  for (const store of [...openStores]) store.close();
});

function explainBusy(e: unknown, file: string): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new UserError(`The orchestrator database ${file} is locked by another process; nothing was changed. Try again in a moment.`, 'DB_LOCKED');
  }
  return explainStateDirError(e, path.dirname(file)) ?? e;
}

export type StateDirErrorCode = 'STATE_DIR_FULL' | 'STATE_DIR_READONLY';

/** The state folder cannot take a write: it is full (STATE_DIR_FULL) or read-only (STATE_DIR_READONLY). */
export class StateDirError extends UserError {
  constructor(
    message: string,
    code: StateDirErrorCode,
    readonly stateDir: string,
  ) {
    super(message, code);
    this.name = 'StateDirError';
  }
}

/**
 * Turns a failed write into the state folder (SQLite's FULL, READONLY, or the I/O and
 * can't-open errors it gives when the -shm file cannot be made or grown; ENOSPC, EDQUOT,
 * EROFS from a run record) into a message that names the folder and says what is wrong,
 * by trying a one-byte file there. Undefined for anything else, and for a file error about
 * another folder (a worktree on a full disk is not the state folder's problem).
 */
export function explainStateDirError(e: unknown, stateDir: string): StateDirError | undefined {
  if (e instanceof StateDirError) return e;
  const code = String((e as { code?: unknown } | null)?.code ?? '');
  const errPath = (e as { path?: unknown } | null)?.path;
  if (typeof errPath === 'string' && !isInside(path.resolve(errPath), path.resolve(stateDir))) return undefined;
  const said = ['ENOSPC', 'EDQUOT', 'SQLITE_FULL'].includes(code) ? 'full' : code === 'EROFS' || code.startsWith('SQLITE_READONLY') ? 'read-only' : undefined;
  // (A recursive mkdir on a read-only file system says ENOENT.)
  const mkdirRefused = code === 'ENOENT' && (e as { syscall?: unknown }).syscall === 'mkdir';
  if (!said && !mkdirRefused && !/^(SQLITE_IOERR|SQLITE_CANTOPEN|EACCES$|EPERM$)/.test(code)) return undefined;
  const probed = probeStateDir(stateDir);
  return stateDirError(stateDir, probed.kind ?? said, probed.why ?? code); // no kind: the folder takes writes, some other failure
}

/** The state folder's problem now, if it has one (a one-byte file there is refused). */
export function checkStateDir(stateDir: string): StateDirError | undefined {
  const probed = probeStateDir(stateDir);
  return stateDirError(stateDir, probed.kind, probed.why);
}

function stateDirError(stateDir: string, kind: 'full' | 'read-only' | undefined, why: string | undefined): StateDirError | undefined {
  if (kind === 'full') {
    return new StateDirError(`The state folder ${stateDir} is full (${freeSpace(stateDir)}): the orchestrator cannot write its database or run records there. Free some space there, or use another state folder (--state-dir, worktreeOrchestrator.stateDir).`, 'STATE_DIR_FULL', stateDir);
  }
  if (kind === 'read-only') {
    return new StateDirError(`The state folder ${stateDir} is read-only (${why ?? 'writes refused'}): the orchestrator cannot record anything there ("worktree-orchestrator status" still shows what it holds). Make it writable (remount it read-write) or use another state folder (--state-dir, worktreeOrchestrator.stateDir).`, 'STATE_DIR_READONLY', stateDir);
  }
  return undefined;
}

const isInside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/** Writes, and removes, a one-byte file in the folder (or its nearest existing parent). */
function probeStateDir(stateDir: string): { kind?: 'full' | 'read-only'; why?: string } {
  let dir = path.resolve(stateDir);
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const probe = path.join(dir, `.wto-probe-${process.pid}-${crypto.randomBytes(3).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(probe, 'wx', 0o600);
    fs.writeSync(fd, 'x');
    return {};
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return { kind: 'full' };
    if (code === 'EROFS') return { kind: 'read-only', why: 'a read-only file system' };
    if (code === 'EACCES' || code === 'EPERM') return { kind: 'read-only', why: 'this user may not write there' };
    return {};
  } finally {
    if (fd !== undefined) {
      fs.closeSync(fd);
      fs.rmSync(probe, { force: true });
    }
  }
}

/** "12 KiB free of 2.0 MiB", from statfs (what an unprivileged user may still use). */
export function freeSpace(dir: string): string {
  try {
    const s = fs.statfsSync(dir);
    return `${bytes(s.bavail * s.bsize)} free of ${bytes(s.blocks * s.bsize)}`;
  } catch {
    return 'free space unknown';
  }
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * A reader's connection that writes nothing into the state folder. SQLite reads a WAL
 * database read-only only when its -shm file exists or can be made; on a read-only or full
 * folder it often cannot (a cleanly closed database has none). Then the database and its
 * -wal are copied to a private temp folder, opened there (which replays the WAL), and read
 * from memory: a snapshot, which is what a status needs. No database yet: an empty one.
 */
function openForReading(file: string, timeout: number): { db: Database.Database; empty: boolean } {
  const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
  // A new database's first pages may live only in its -wal: empty means both are.
  if (size(file) === 0 && size(`${file}-wal`) === 0) return { db: new Database(':memory:'), empty: true };
  // With a -wal but no -shm, a read-only connection does not fail: it silently reads the
  // main file without the WAL's pages (seen with SQLite 3.54). So in place only with a -shm, or no WAL.
  const inPlace = size(`${file}-wal`) === 0 || fs.existsSync(`${file}-shm`) ? openInPlace(file, timeout) : undefined;
  if (inPlace) return { db: inPlace, empty: false };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-read-'));
  try {
    const copy = path.join(tmp, DB_FILE);
    fs.copyFileSync(file, copy);
    if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
    const replay = new Database(copy, { fileMustExist: true });
    try {
      replay.pragma('wal_checkpoint(TRUNCATE)'); // the WAL's pages, into the copy
    } finally {
      replay.close();
    }
    const image = fs.readFileSync(copy);
    image[18] = image[19] = 1; // an in-memory database has no WAL: mark it a rollback-journal one
    return { db: new Database(image, { readonly: true }), empty: false };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A read-only connection to the file itself; undefined when SQLite cannot make its -shm there. */
function openInPlace(file: string, timeout: number): Database.Database | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout });
    db.prepare('SELECT count(*) FROM sqlite_master').get(); // the WAL index is made (or not) here
    return db;
  } catch (e) {
    db?.close();
    if (/^(SQLITE_CANTOPEN|SQLITE_IOERR|SQLITE_READONLY)/.test(String((e as { code?: string }).code))) return undefined;
    throw e;
  }
}

/**
 * A damaged database is never overwritten: it is moved aside, untouched, so the user
 * keeps it, and the next start begins with a fresh one.
 */
function explainOpenError(e: unknown, file: string): unknown {
  const code = (e as { code?: string }).code;
  const stateDir = explainStateDirError(e, path.dirname(file));
  if (stateDir) return new StateDirError(`${stateDir.message} Nothing was changed.`, stateDir.code as StateDirErrorCode, stateDir.stateDir);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      fs.renameSync(file, aside);
      fs.rmSync(checkRecordFile(file), { force: true });
      for (const extra of ['-wal', '-shm']) if (fs.existsSync(file + extra)) fs.renameSync(file + extra, aside + extra);
    } catch {
      return new UserError(`The orchestrator database ${file} is damaged (${(e as Error).message}) and could not be moved aside; it was left as it is.`, 'DB_CORRUPT');
    }
    return new UserError(`The orchestrator database ${file} is damaged (${(e as Error).message}). It was moved, untouched, to ${aside}; the next start creates a new one.`, 'DB_CORRUPT');
  }
  return explainBusy(e, file);
}
