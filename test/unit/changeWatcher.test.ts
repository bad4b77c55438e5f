import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeWatcher } from '../../src/core/db/changeWatcher';
import { Store } from '../../src/core/db/store';
import { sleep } from '../support/wait';
import { rawDb } from '../support/rawDb';

describe('ChangeWatcher', () => {
  let dir: string;
  let store: Store;
  let other: Store;
  let watcher: ChangeWatcher;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-watch-'));
    store = Store.open(dir);
    other = Store.open(dir);
    watcher = new ChangeWatcher(store, 60_000).start(); // no safety poll during the test
  });
  afterEach(() => {
    watcher.dispose();
    store.close();
    other.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  const claim = (s: Store) => s.claimRun({ repo: '/repo', priority: `US-${++n}`, plan: (a, id) => ({ worktree: `/wt/${id}`, branch: `b/${id}`, baseRef: 'main', command: ['x'], logPath: '/l' }) });
  const count = () => {
    let runs = 0;
    watcher.on('runs', () => runs++);
    return () => runs;
  };

  it('sees a write by another connection (another process) through fs.watch and data_version', async () => {
    const runs = count();
    claim(other);
    await sleep(300);
    assert.equal(runs(), 1);
  });

  it('sees its own connection\'s writes, which data_version does not show', async () => {
    const runs = count();
    claim(store);
    await sleep(300);
    assert.equal(runs(), 1);
  });

  it('does not lose an own write that lands while a wake-up from fs.watch is pending', async () => {
    const runs = count();
    // As fs.watch does when the WAL changes: a plain (unforced) wake-up is scheduled…
    (watcher as unknown as { schedule(own: boolean): void }).schedule(false);
    // …and this process writes before it fires. Once, this write went unnoticed (a leader
    // then left a merge/remove request unanswered until the next change).
    claim(store);
    await sleep(300);
    assert.equal(runs(), 1);
  });

  /** How many times fs.watch woke the watcher (each wake-up schedules one check). */
  const wakeups = () => {
    let n = 0;
    const w = watcher as unknown as { schedule(own?: boolean): void };
    const schedule = w.schedule.bind(watcher);
    w.schedule = (own?: boolean) => {
      if (!own) n++;
      schedule(own);
    };
    return () => n;
  };

  it('is not woken at all by leader heartbeats (an idle standby sleeps), but is by a run change', async () => {
    await sleep(200); // the start-up probe's own wake-up has passed
    const woke = wakeups();
    for (let i = 0; i < 5; i++) {
      rawDb(other).prepare('UPDATE leader SET heartbeat_at = ? WHERE id = 1').run(Date.now() + i);
      await sleep(60);
    }
    assert.equal(woke(), 0, 'heartbeats write the WAL, not the change signal');
    claim(other);
    await sleep(300);
    assert.ok(woke() >= 1, 'a claim by another connection touches the signal');
  });

  it('does not report a leader heartbeat as a change of the runs', async () => {
    const runs = count();
    rawDb(other).prepare('UPDATE leader SET heartbeat_at = ? WHERE id = 1').run(Date.now());
    await sleep(300);
    assert.equal(runs(), 0);
  });
});
