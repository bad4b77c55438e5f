// One racer of the claim-race bench (see claimRace.ts). Prints "ready", waits for "go" on
// stdin, runs, prints one JSON line with what it saw.
//   claimWorker.ts claims <stateDir> <repo> <attempts> <priorities> <worker>
//   claimWorker.ts inserts <dbFile> <count> <worker>
import Database from 'better-sqlite3';
import { AlreadyActiveError, Store } from '../src/core/db/store';
import { UserError } from '../src/core/model/userError';
import { rawDb } from '../test/support/rawDb';

const now = (): number => performance.timeOrigin + performance.now();

export interface ClaimWorkerResult {
  worker: number;
  start: number;
  end: number;
  attempts: number;
  claims: number;
  refused: number;
  busy: number;
  otherErrors: string[];
  /** Times the claimer, holding an active run, saw another active row for its priority. */
  inFlightDuplicates: number;
  /** [priority, claimed-at, end-started-at] of each successful claim: inside its true active span. */
  spans: Array<[string, number, number]>;
}

function waitForGo(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on('data', (d) => {
      if (String(d).includes('go')) resolve();
    });
  });
}

/** xorshift32: every racer picks its own, reproducible sequence of priorities. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

async function claims(stateDir: string, repo: string, attempts: number, priorities: number, worker: number): Promise<ClaimWorkerResult> {
  const store = Store.open(stateDir);
  const repoId = store.repoId(repo);
  const countActive = rawDb(store).prepare(`SELECT count(*) AS n FROM runs WHERE repo_id = ? AND agent_type = 'code_developer' AND priority = ?
    AND status IN ('requested','provisioning','running','stopping')`);
  const r: ClaimWorkerResult = { worker, start: 0, end: 0, attempts, claims: 0, refused: 0, busy: 0, otherErrors: [], inFlightDuplicates: 0, spans: [] };
  const pick = rng(0x9e3779b9 * (worker + 1));
  const plan = (attempt: number, runId: string) => ({
    worktree: `${repo}.worktrees/bench-${runId}`,
    branch: `bench/${runId}-${attempt}`,
    baseRef: 'main',
    command: ['true'],
    logPath: `${stateDir}/runs/${runId}/agent.log`,
  });
  process.stdout.write('ready\n');
  await waitForGo();
  r.start = now();
  for (let i = 0; i < attempts; i++) {
    const priority = `P-${Math.floor(pick() * priorities) + 1}`;
    try {
      const run = store.claimRun({ repo, priority, newAttempt: true, requestedBy: `bench worker ${worker}`, plan });
      const claimedAt = now();
      r.claims++;
      // While we hold it, nobody else may: the unique index says so, this checks it.
      if ((countActive.get(repoId, priority) as { n: number }).n !== 1) r.inFlightDuplicates++;
      const endAt = now();
      store.recordTransition(run.id, ['requested'], 'stopped', { endedAt: Date.now() }, 'bench: ended at once');
      r.spans.push([priority, claimedAt, endAt]);
    } catch (e) {
      if (e instanceof AlreadyActiveError) r.refused++;
      else if (e instanceof UserError && e.code === 'DB_LOCKED') r.busy++;
      else if (r.otherErrors.length < 5) r.otherErrors.push(String((e as Error).message ?? e));
    }
  }
  r.end = now();
  store.close();
  return r;
}

async function inserts(dbFile: string, count: number, worker: number): Promise<ClaimWorkerResult> {
  const db = new Database(dbFile, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare('INSERT INTO plain (id, priority, status, created_at) VALUES (?, ?, ?, ?)');
  const r: ClaimWorkerResult = { worker, start: 0, end: 0, attempts: count, claims: 0, refused: 0, busy: 0, otherErrors: [], inFlightDuplicates: 0, spans: [] };
  process.stdout.write('ready\n');
  await waitForGo();
  r.start = now();
  for (let i = 0; i < count; i++) {
    try {
      insert.run(`w${worker}-${i}`, `P-${(i % 50) + 1}`, 'requested', Date.now());
      r.claims++;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_BUSY') r.busy++;
      else if (r.otherErrors.length < 5) r.otherErrors.push(String((e as Error).message ?? e));
    }
  }
  r.end = now();
  db.close();
  return r;
}

async function main(): Promise<void> {
  const [mode, ...a] = process.argv.slice(2);
  const result =
    mode === 'claims' ? await claims(a[0], a[1], Number(a[2]), Number(a[3]), Number(a[4])) : await inserts(a[0], Number(a[1]), Number(a[2]));
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

void main().catch((e: unknown) => {
  process.stderr.write(`claim worker failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
