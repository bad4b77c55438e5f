import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { LeaderLease } from '../../src/core/leader/leaderLease';
import { Store } from '../../src/core/db/store';
import { UserError } from '../../src/core/model/userError';
import { record, report, rngFor, scaled } from './lib';
import { rawDb } from '../support/rawDb';

// Scenario 5c: a real state.db, truncated at random lengths or with random bytes
// overwritten. The orchestrator must either refuse it with a clear message, having moved it
// aside byte for byte, or open it with nothing lost — never open a damaged file and write
// into it. (SQLite itself opens a truncated file without complaint: the damage shows only
// when a damaged page is read, or never, for a damaged index.)
describe('chaos 5c: truncated and corrupt database files', function () {
  this.timeout(120_000);
  const figures = { truncations: 0, corruptions: 0, refused: 0, accepted: 0 };
  const failures: string[] = [];
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failures.push(this.currentTest.title);
  });
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    record({
      scenario: '5c. truncated / corrupt state.db',
      runs: `${figures.truncations + figures.corruptions} files`,
      faults: `${figures.truncations} truncated + ${figures.corruptions} overwritten`,
      duplicates: 0,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      notes: `${figures.refused} refused (kept aside byte for byte), ${figures.accepted} opened intact${failures.length ? `; FAILED: ${failures.join('; ')}` : ''}`,
      ok: failures.length === 0,
    });
  });
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-chaos-db-'));
    dirs.push(d);
    return d;
  };

  /** A state.db as the orchestrator writes it: runs in every status, events, a leader, actions, a loop. */
  function realDatabase(): { bytes: Buffer; content: string } {
    const dir = tmp();
    const store = Store.open(dir);
    const lease = new LeaderLease(store);
    assert.ok(lease.tryAcquire());
    const fence = lease.currentFence();
    for (let i = 0; i < 120; i++) {
      const run = store.claimRun({
        repo: '/repos/demo',
        priority: `US-${100 + i}`,
        title: `Title ${i} ${'x'.repeat(i % 40)}`,
        plan: (attempt, id) => ({ worktree: `/repos/demo.worktrees/us-${100 + i}`, branch: `code-developer/us-${100 + i}`, baseRef: 'main', command: ['agent', '--task', `US-${100 + i}`], logPath: `/state/runs/${id}/agent.log` }),
      });
      store.fencedTransition(fence, run.id, ['requested'], 'provisioning', { step: 'worktree' });
      if (i % 3) store.fencedTransition(fence, run.id, ['provisioning'], 'running', { pid: 1000 + i, startedAt: Date.now(), step: null });
      if (i % 4 === 0) store.recordExit(run.id, { code: i % 8 === 0 ? 0 : 1 });
      if (i % 10 === 0) store.requestAction('merge', run.id);
    }
    store.setLoop('/repos/demo', true, { maxRetries: 2 });
    lease.dispose();
    const content = snapshot(store);
    store.close();
    const file = path.join(dir, 'state.db');
    for (const extra of ['-wal', '-shm']) assert.ok(!fs.existsSync(file + extra), 'checkpointed on close');
    return { bytes: fs.readFileSync(file), content };
  }
  const snapshot = (store: Store) => JSON.stringify([store.listRuns(), store.events(), store.leader(), store.loops(), store.pendingActions()]);

  type Outcome = 'refused' | 'fresh' | 'intact';
  /** Opens a damaged copy: refused with the file kept aside byte for byte, or opened with nothing lost. */
  function openDamaged(bytes: Buffer, original: string, label: string): Outcome {
    const dir = tmp();
    const file = path.join(dir, 'state.db');
    fs.writeFileSync(file, bytes, { mode: 0o600 });
    let store: Store;
    try {
      store = Store.open(dir);
    } catch (e) {
      assert.ok(e instanceof UserError, `${label}: not a clear error: ${(e as Error).stack}`);
      assert.equal(e.code, 'DB_CORRUPT', `${label}: ${e.message}`);
      const aside = /moved, untouched, to (\S+?)[;.]? the next start/.exec(e.message)?.[1] ?? '';
      assert.ok(fs.existsSync(aside), `${label}: the message names the file kept aside: ${e.message}`);
      assert.ok(fs.readFileSync(aside).equals(bytes), `${label}: kept aside byte for byte`);
      Store.open(dir).close(); // the next start begins with a fresh database
      assert.ok(fs.readFileSync(aside).equals(bytes), `${label}: still untouched after the next start`);
      return 'refused';
    }
    try {
      if (bytes.length === 0) return 'fresh'; // an empty file is an empty database: nothing to keep
      assert.equal(snapshot(store), original, `${label}: opened, so nothing may be missing or changed`);
      const check = rawDb(store).pragma('integrity_check', { simple: true });
      assert.equal(check, 'ok', `${label}: opened a database that fails integrity_check`);
      return 'intact';
    } finally {
      store.close();
    }
  }

  it('a real state.db truncated at random lengths: a clear error and the file kept aside untouched, or nothing lost', () => {
    const { bytes, content } = realDatabase();
    const page = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
    const rng = rngFor('truncation');
    const lengths = new Set([0, 1, 2, 15, 16, 99, 100, 101, page - 1, page, page + 1, bytes.length - page - 1, bytes.length - page, bytes.length - 1]);
    while (lengths.size < scaled(80, 20)) lengths.add(rng.chance(0.3) ? bytes.length - rng.int(1, page) : rng.int(0, bytes.length - 1));
    const outcomes: Record<Outcome, number> = { refused: 0, fresh: 0, intact: 0 };
    const problems: string[] = [];
    for (const len of [...lengths].sort((a, b) => a - b)) {
      figures.truncations++;
      try {
        outcomes[openDamaged(bytes.subarray(0, len), content, `truncated to ${len} of ${bytes.length}`)]++;
      } catch (e) {
        problems.push((e as Error).message.split('\n')[0]);
      }
    }
    figures.refused += outcomes.refused;
    figures.accepted += outcomes.fresh + outcomes.intact;
    report(`${lengths.size} truncations of a ${bytes.length}-byte state.db (page ${page}): ${JSON.stringify(outcomes)}; problems ${problems.length}`);
    for (const p of problems.slice(0, 5)) report(`  ${p}`);
    assert.deepEqual(problems, []);
  });

  it('a real state.db with random bytes overwritten: a clear error and the file kept aside, or a database that passes integrity_check', () => {
    const { bytes } = realDatabase();
    const rng = rngFor('corruption');
    const outcomes = { refused: 0, accepted: 0 };
    const problems: string[] = [];
    for (let i = 0; i < scaled(40, 10); i++) {
      figures.corruptions++;
      const damaged = Buffer.from(bytes);
      const at = rng.chance(0.2) ? rng.int(0, 99) : rng.int(100, bytes.length - 1);
      const len = rng.int(1, 512);
      for (let j = at; j < Math.min(bytes.length, at + len); j++) damaged[j] = rng.int(0, 255);
      const dir = tmp();
      fs.writeFileSync(path.join(dir, 'state.db'), damaged);
      try {
        let store: Store;
        try {
          store = Store.open(dir);
        } catch (e) {
          assert.ok(e instanceof UserError && (e.code === 'DB_CORRUPT' || e.code === 'DB_NEWER'), `bytes ${at}+${len}: ${(e as Error).stack}`);
          if (e.code === 'DB_NEWER') {
            // A damaged schema-version field reads as a newer version: refused, left in place untouched.
            assert.ok(fs.readFileSync(path.join(dir, 'state.db')).equals(damaged), `bytes ${at}+${len}: left untouched`);
            outcomes.refused++;
            continue;
          }
          const aside = fs.readdirSync(dir).find((f) => /^state\.db\.corrupt-[^.]*$/.test(f) && !/-(wal|shm)$/.test(f));
          assert.ok(aside && fs.readFileSync(path.join(dir, aside)).equals(damaged), `bytes ${at}+${len}: kept aside byte for byte`);
          outcomes.refused++;
          continue;
        }
        try {
          const ro = new Database(path.join(dir, 'state.db'), { readonly: true });
          const check = ro.pragma('integrity_check', { simple: true });
          ro.close();
          assert.equal(check, 'ok', `bytes ${at}+${len}: opened a database that fails integrity_check`);
          outcomes.accepted++;
        } finally {
          store.close();
        }
      } catch (e) {
        problems.push((e as Error).message.split('\n')[0]);
      }
    }
    figures.refused += outcomes.refused;
    figures.accepted += outcomes.accepted;
    report(`${figures.corruptions} corrupted copies: ${JSON.stringify(outcomes)}; problems ${problems.length}`);
    for (const p of problems.slice(0, 5)) report(`  ${p}`);
    assert.deepEqual(problems, []);
  });
});
