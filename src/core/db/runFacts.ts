import type Database from 'better-sqlite3';

/**
 * What a run is doing, beside the run (issue 15): facts its supervisor reads from the
 * agent's output (agentEvents.ts) and the attention mark — 'needs-input' (a permission
 * denial, a question, an agent blocked reading its terminal, or an agent's hook through
 * `worktree-orchestrator signal`) or 'stalled' (alive, silent for stallSeconds). The table is
 * made by a migration in store.ts; all of its SQL is here.
 */
export type Attention = 'needs-input' | 'stalled';
export const ATTENTIONS: readonly Attention[] = ['needs-input', 'stalled'];

export interface RunFacts {
  runId: string;
  sessionId: string | null;
  lastActivity: string | null;
  lastActivityAt: number | null;
  tokensIn: number | null;
  tokensOut: number | null;
  costUsd: number | null;
  denials: number;
  deniedTool: string | null;
  attention: Attention | null;
  attentionReason: string | null;
  /** When the current mark was set (a new reason is a new mark): the notification's identity. */
  attentionAt: number | null;
  updatedAt: number;
}

/** Fields to change; undefined leaves one as it is, null (attention) clears it. */
export type RunFactsPatch = Partial<Omit<RunFacts, 'runId' | 'updatedAt' | 'attentionAt'>>;

const COLUMNS: Record<keyof Omit<RunFactsPatch, 'attention' | 'attentionReason'>, string> = {
  sessionId: 'session_id',
  lastActivity: 'last_activity',
  lastActivityAt: 'last_activity_at',
  tokensIn: 'tokens_in',
  tokensOut: 'tokens_out',
  costUsd: 'cost_usd',
  denials: 'denials',
  deniedTool: 'denied_tool',
};

interface Row {
  run_id: string;
  session_id: string | null;
  last_activity: string | null;
  last_activity_at: number | null;
  tokens_in: number | null;
  tokens_out: number | null;
  cost_usd: number | null;
  denials: number;
  denied_tool: string | null;
  attention: Attention | null;
  attention_reason: string | null;
  attention_at: number | null;
  updated_at: number;
}

function toFacts(r: Row): RunFacts {
  return {
    runId: r.run_id,
    sessionId: r.session_id,
    lastActivity: r.last_activity,
    lastActivityAt: r.last_activity_at,
    tokensIn: r.tokens_in,
    tokensOut: r.tokens_out,
    costUsd: r.cost_usd,
    denials: r.denials,
    deniedTool: r.denied_tool,
    attention: r.attention,
    attentionReason: r.attention_reason,
    attentionAt: r.attention_at,
    updatedAt: r.updated_at,
  };
}

export function readRunFacts(db: Database.Database, runId: string): RunFacts | undefined {
  const row = db.prepare('SELECT * FROM run_facts WHERE run_id = ?').get(runId) as Row | undefined;
  return row && toFacts(row);
}

/** The facts of many runs in one query (the views' page of runs), by run id. */
export function readFactsOf(db: Database.Database, runIds: readonly string[]): Map<string, RunFacts> {
  const out = new Map<string, RunFacts>();
  if (!runIds.length) return out;
  const rows = db.prepare('SELECT run_facts.* FROM run_facts WHERE run_id IN (SELECT value FROM json_each(?))').all(JSON.stringify(runIds)) as Row[];
  for (const row of rows) out.set(row.run_id, toFacts(row));
  return out;
}

/** The port blocks active runs hold, for many runs in one query, by run id. */
export function readPortBlocksOf(db: Database.Database, runIds: readonly string[]): Map<string, { first: number; count: number }> {
  const out = new Map<string, { first: number; count: number }>();
  if (!runIds.length) return out;
  const rows = db.prepare('SELECT run_id, MIN(first_port) AS first, MIN(count) AS count FROM port_leases WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id').all(JSON.stringify(runIds)) as Array<{ run_id: string; first: number; count: number }>;
  for (const r of rows) out.set(r.run_id, { first: r.first, count: r.count });
  return out;
}

/** Runs whose mark is set (for the status bar and the notices). */
export function readMarkedRuns(db: Database.Database, attention: Attention): RunFacts[] {
  return (db.prepare('SELECT * FROM run_facts WHERE attention = ?').all(attention) as Row[]).map(toFacts);
}

/**
 * Writes a patch (call inside a transaction). A changed mark or reason gets a new
 * attention_at and is returned as `marked` (the caller records the event); the same mark
 * again changes nothing. A run that does not exist is refused by the foreign key.
 */
export function writeRunFacts(
  db: Database.Database,
  runId: string,
  patch: RunFactsPatch,
  /** Whether the patch's attention part applies, given the facts as they are (in the same transaction). */
  guard?: (current: RunFacts | undefined) => boolean,
  now = Date.now(),
): { facts: RunFacts; marked?: { from: Attention | null; to: Attention | null; reason: string | null } } {
  const before = readRunFacts(db, runId);
  if (!before) db.prepare('INSERT INTO run_facts (run_id, denials, updated_at) VALUES (?, 0, ?)').run(runId, now);
  const sets: string[] = [];
  const args: unknown[] = [];
  for (const [key, column] of Object.entries(COLUMNS) as Array<[keyof typeof COLUMNS, string]>) {
    const value = patch[key];
    if (value === undefined || (before && before[key] === value)) continue;
    sets.push(`${column} = ?`);
    args.push(value);
  }
  let marked: { from: Attention | null; to: Attention | null; reason: string | null } | undefined;
  if (patch.attention !== undefined && (!guard || guard(before))) {
    const to = patch.attention;
    const reason = to ? (patch.attentionReason ?? null) : null;
    const from = before?.attention ?? null;
    if (from !== to || (to && (before?.attentionReason ?? null) !== reason)) {
      sets.push('attention = ?', 'attention_reason = ?', 'attention_at = ?');
      args.push(to, reason, to ? now : null);
      marked = { from, to, reason };
    }
  }
  if (sets.length) db.prepare(`UPDATE run_facts SET ${sets.join(', ')}, updated_at = ? WHERE run_id = ?`).run(...args, now, runId);
  return { facts: readRunFacts(db, runId)!, marked };
}
