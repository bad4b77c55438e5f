// 2. Claim races: N processes claim (and at once end) runs on overlapping priorities of
// one state dir, as fast as they can. Throughput against the same number of plain INSERTs
// into an index-less table (same pragmas, same process count), and duplicates, which
// must be 0: checked by each claimer while it holds a run, and afterwards from the
// database and from the claimers' recorded active spans.
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { Store } from '../src/core/db/store';
import type { ClaimWorkerResult } from './claimWorker';
import { LineChild, rmrf, spawnWorker, tempDir } from './lib';
import { rawDb } from '../test/support/rawDb';

export interface ClaimBenchOptions {
  workers: number;
  attemptsPerWorker: number;
  priorities: number;
}

export interface ClaimBenchResult {
  workers: number;
  attempts: number;
  claims: number;
  refused: number;
  busy: number;
  otherErrors: string[];
  claimSeconds: number;
  claimsPerSecond: number;
  attemptsPerSecond: number;
  inserts: number;
  insertSeconds: number;
  insertsPerSecond: number;
  /** claim wall time / insert wall time, for the same number of operations. */
  ratio: number;
  duplicates: {
    inFlight: number;
    /** Active spans of one priority that overlap in time (measured inside the true spans). */
    overlappingSpans: number;
    /** Priorities with more than one active row at the end. */
    activeAtEnd: number;
    total: number;
  };
  integrity: {
    /** Priorities whose attempts are not exactly 1..n. */
    attemptAnomalies: number;
    /** |rows in the table - claims the racers reported|. */
    rowMismatch: number;
  };
}

async function race(workers: LineChild[]): Promise<ClaimWorkerResult[]> {
  await Promise.all(workers.map((w) => w.waitFor(/^ready$/, 60_000)));
  for (const w of workers) w.child.stdin!.write('go\n');
  const lines = await Promise.all(workers.map((w) => w.waitFor(/^\{/, 300_000)));
  await Promise.all(workers.map((w) => w.exited));
  return lines.map((l) => JSON.parse(l.line) as ClaimWorkerResult);
}

const wall = (rs: ClaimWorkerResult[]) => (Math.max(...rs.map((r) => r.end)) - Math.min(...rs.map((r) => r.start))) / 1000;

export async function measureClaims(o: ClaimBenchOptions): Promise<ClaimBenchResult> {
  const dir = tempDir('claims');
  try {
    const stateDir = path.join(dir, 'state');
    const repo = path.join(dir, 'repo');
    Store.open(stateDir).close(); // schema in place before the race
    const insertDb = path.join(dir, 'plain.db');
    {
      const db = new Database(insertDb);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE plain (id TEXT PRIMARY KEY, priority TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL)');
      db.close();
    }

    // Baseline first, then ours: both on a quiet database of their own.
    const total = o.workers * o.attemptsPerWorker;
    const base = await race(Array.from({ length: o.workers }, (_, w) => spawnWorker('claimWorker.ts', ['inserts', insertDb, String(o.attemptsPerWorker), String(w)])));
    const ours = await race(
      Array.from({ length: o.workers }, (_, w) => spawnWorker('claimWorker.ts', ['claims', stateDir, repo, String(o.attemptsPerWorker), String(o.priorities), String(w)])),
    );

    const claims = ours.reduce((a, r) => a + r.claims, 0);
    const claimSeconds = wall(ours);
    const insertSeconds = wall(base);
    const inserts = base.reduce((a, r) => a + r.claims, 0);

    // Afterwards, from the database.
    const store = Store.open(stateDir);
    const activeAtEnd = (
      rawDb(store)
        .prepare(`SELECT count(*) AS n FROM (SELECT priority FROM runs WHERE status IN ('requested','provisioning','running','stopping')
          GROUP BY repo_id, agent_type, priority HAVING count(*) > 1)`)
        .get() as { n: number }
    ).n;
    const perPriority = rawDb(store)
      .prepare('SELECT priority, count(*) AS n, count(DISTINCT attempt) AS d, min(attempt) AS lo, max(attempt) AS hi FROM runs GROUP BY repo_id, agent_type, priority')
      .all() as Array<{ priority: string; n: number; d: number; lo: number; hi: number }>;
    const attemptAnomalies = perPriority.filter((p) => p.n !== p.d || p.lo !== 1 || p.hi !== p.n).length;
    const rows = (rawDb(store).prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
    store.close();

    // From the racers' spans: one priority's spans, sorted, must not overlap.
    const spans = new Map<string, Array<[number, number]>>();
    for (const r of ours) for (const [p, a, b] of r.spans) (spans.get(p) ?? spans.set(p, []).get(p)!).push([a, b]);
    let overlappingSpans = 0;
    for (const list of spans.values()) {
      list.sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < list.length; i++) if (list[i][0] < list[i - 1][1]) overlappingSpans++;
    }
    const inFlight = ours.reduce((a, r) => a + r.inFlightDuplicates, 0);
    const rowMismatch = Math.abs(rows - claims);
    return {
      workers: o.workers,
      attempts: total,
      claims,
      refused: ours.reduce((a, r) => a + r.refused, 0),
      busy: ours.reduce((a, r) => a + r.busy, 0) + base.reduce((a, r) => a + r.busy, 0),
      otherErrors: [...ours, ...base].flatMap((r) => r.otherErrors),
      claimSeconds,
      claimsPerSecond: claims / claimSeconds,
      attemptsPerSecond: total / claimSeconds,
      inserts,
      insertSeconds,
      insertsPerSecond: inserts / insertSeconds,
      ratio: claimSeconds / insertSeconds,
      duplicates: { inFlight, overlappingSpans, activeAtEnd, total: inFlight + overlappingSpans + activeAtEnd },
      integrity: { attemptAnomalies, rowMismatch },
    };
  } finally {
    rmrf(dir);
  }
}
