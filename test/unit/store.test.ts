import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LeaderLease } from '../../src/core/leader/leaderLease';
import { AlreadyActiveError, FencedError, PreviousRunError, Store } from '../../src/core/db/store';
import { rawDb } from '../support/rawDb';

describe('Store (real SQLite file)', () => {
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-store-'));
    store = Store.open(dir);
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const plan = (attempt: number, id: string) => ({ worktree: `/wt/us-036-${attempt}`, branch: `code-developer/us-036-${attempt}`, baseRef: 'main', command: ['agent'], logPath: `/logs/${id}` });
  const claim = (s: Store, newAttempt = false) => s.claimRun({ repo: '/repo', priority: 'US-036', plan, newAttempt });

  it('refuses a second active run for a priority, from a second connection too', () => {
    const first = claim(store);
    assert.equal(first.status, 'requested');
    assert.throws(() => claim(store), AlreadyActiveError);
    const other = Store.open(dir);
    try {
      assert.throws(() => claim(other), (e: unknown) => e instanceof AlreadyActiveError && e.run.id === first.id);
    } finally {
      other.close();
    }
    assert.equal(store.listRuns().length, 1);
  });

  it('enforces the invariant in the schema itself, not in code: a raw INSERT of a second active row fails', () => {
    const first = claim(store);
    const raw = rawDb(store).prepare(`INSERT INTO runs (id, repo_id, agent_type, priority, attempt, status, command, worktree, branch, base_ref, log_path, created_at)
      VALUES ('x', ?, 'code_developer', 'US-036', 2, 'running', '[]', '/x', 'b', 'main', '/l', 0)`);
    assert.throws(() => raw.run(first.repoId), /UNIQUE constraint failed/);
  });

  it('asks for an explicit new attempt once the previous run has ended, and numbers it', () => {
    const first = claim(store);
    store.recordTransition(first.id, ['requested'], 'failed', { endedAt: Date.now() });
    assert.throws(() => claim(store), PreviousRunError);
    const second = claim(store, true);
    assert.equal(second.attempt, 2);
    assert.equal(second.branch, 'code-developer/us-036-2');
  });

  it('records every transition in the event log', () => {
    const run = claim(store);
    store.recordTransition(run.id, ['requested'], 'stopped', { endedAt: 1 });
    const kinds = store.events(run.id).map((e) => `${e.fromStatus ?? ''}>${e.toStatus}`);
    assert.deepEqual(kinds, ['>requested', 'requested>stopped']);
  });

  it('fences: a leader whose epoch was taken over cannot record a side effect', () => {
    const a = new LeaderLease(store, { label: 'a' });
    assert.ok(a.tryAcquire());
    const fenceA = a.currentFence();
    const run = claim(store);
    const b = new LeaderLease(Store.open(dir), { label: 'b' });
    assert.equal(b.tryAcquire(), false, 'a live leader is not taken over without force');
    assert.ok(b.tryAcquire(true));
    assert.ok(b.currentFence().epoch > fenceA.epoch, 'epochs strictly increase');
    assert.throws(() => store.fencedTransition(fenceA, run.id, ['requested'], 'provisioning'), FencedError);
    assert.equal(store.getRun(run.id)!.status, 'requested', 'nothing was written');
    store.fencedTransition(b.currentFence(), run.id, ['requested'], 'provisioning');
    b.dispose();
    a.dispose();
  });

  it('moves a corrupt database aside, untouched, with a clear message', () => {
    store.close();
    const file = path.join(dir, 'state.db');
    for (const extra of ['-wal', '-shm']) fs.rmSync(file + extra, { force: true });
    const garbage = Buffer.from('this is not a database '.repeat(200));
    fs.writeFileSync(file, garbage);
    assert.throws(() => Store.open(dir), /damaged .* moved, untouched, to (.*corrupt[^ ]*)/);
    const aside = fs.readdirSync(dir).find((f) => f.startsWith('state.db.corrupt-'))!;
    assert.ok(aside, 'kept aside');
    assert.deepEqual(fs.readFileSync(path.join(dir, aside)), garbage, 'byte for byte');
    store = Store.open(dir); // the next start begins fresh
    assert.equal(store.listRuns().length, 0);
  });

  it('migrates schema 7 to 8 keeping the repository requests; the leader can then be asked to reconcile', () => {
    const db = rawDb(store);
    db.exec(`DROP TABLE repo_requests;
      CREATE TABLE repo_requests (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL CHECK (kind IN ('gc')), repo TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending','done','failed')), requested_by TEXT, result TEXT, created_at INTEGER NOT NULL, done_at INTEGER);
      INSERT INTO repo_requests (kind, repo, status, result, created_at) VALUES ('gc', '/repo', 'done', '[]', 1);`);
    db.pragma('user_version = 7');
    assert.throws(() => store.requestForRepo('reconcile', '/repo'), /CHECK constraint/, 'schema 7 refuses the kind');
    store.close();
    store = Store.open(dir);
    assert.equal(rawDb(store).pragma('user_version', { simple: true }), 8);
    assert.deepEqual({ ...store.getRepoRequest(1)!, createdAt: 0 }, { id: 1, kind: 'gc', repo: '/repo', status: 'done', requestedBy: null, result: '[]', createdAt: 0, doneAt: null });
    const asked = store.requestForRepo('reconcile', '/repo', 'cli pid 1');
    assert.equal(asked.id, 2);
    assert.deepEqual(store.pendingRepoRequests().map((r) => r.kind), ['reconcile']);
  });

  it('creates the state folder and database readable only by the user', () => {
    assert.equal(fs.statSync(dir).mode & 0o077, 0, 'state dir');
    const fresh = path.join(dir, 'nested', 'state');
    Store.open(fresh).close();
    assert.equal(fs.statSync(fresh).mode & 0o077, 0);
    assert.equal(fs.statSync(path.join(fresh, 'state.db')).mode & 0o077, 0);
  });
});
