import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/core/db/store';
import { fileIdentity, readCheckRecord, writeCheckRecord } from '../../src/core/db/integrityCheck';
import { UserError } from '../../src/core/model/userError';
import { until } from '../support/wait';
import { rawDb } from '../support/rawDb';

const NODE = process.execPath;

// Store.open runs the full integrity check only when nothing vouches for the file (see
// integrityCheck.ts). These pin each case: a clean close opens without it; a file changed while
// closed, an unclean shutdown, or damage found later by the background check never gets a write.
describe('the database integrity check: at open only when needed, in the background otherwise', function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-integrity-'));
    file = path.join(dir, 'state.db');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const claim = (store: Store, priority: string) =>
    store.claimRun({ repo: '/repos/demo', priority, plan: (_a, id) => ({ worktree: `/w/${priority}`, branch: `b/${priority}`, baseRef: 'main', command: ['x'], logPath: `/l/${id}` }) });

  /** A database with some history, closed cleanly (checkpointed into the main file). */
  function history(): void {
    const store = Store.open(dir);
    for (let i = 0; i < 150; i++) claim(store, `US-${i}`);
    store.close();
    assert.ok(!fs.existsSync(`${file}-wal`), 'checkpointed on close');
  }

  /** Zeroes the root page of the runs_by_status index: the runs read fine, integrity_check does not pass. */
  function damageIndex(): Buffer {
    const ro = new Database(file, { readonly: true });
    const root = (ro.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'runs_by_status'").get() as { rootpage: number }).rootpage;
    ro.close();
    const bytes = fs.readFileSync(file);
    const page = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(page), 0, page, (root - 1) * page);
    fs.closeSync(fd);
    return fs.readFileSync(file);
  }

  /** Makes the record vouch for the file as it is now: only the rule under test can then catch the damage. */
  function forgeRecord(): void {
    const record = readCheckRecord(file);
    assert.ok(record, 'a record of the last check');
    writeCheckRecord(file, { ...record, ...fileIdentity(file) });
  }

  function assertMovedAside(damaged: Buffer): void {
    let error: unknown;
    try {
      Store.open(dir).close();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof UserError && error.code === 'DB_CORRUPT', `refused as damaged: ${String(error)}`);
    const aside = /moved, untouched, to (\S+?)[;.]? the next start/.exec(error.message)?.[1] ?? '';
    assert.ok(fs.existsSync(aside) && fs.readFileSync(aside).equals(damaged), `kept aside byte for byte: ${error.message}`);
  }

  it('a cleanly closed database opens without the full check, and keeps what it held', () => {
    history();
    const store = Store.open(dir);
    assert.deepEqual(store.openCheck, { full: false });
    assert.equal(store.listRuns().length, 150);
    claim(store, 'US-new');
    store.close();
    const again = Store.open(dir);
    assert.deepEqual(again.openCheck, { full: false }, 'its own close vouched for it again');
    again.close();
  });

  it('a file changed while closed (its mtime put back) gets the full check first: refused, moved aside untouched', () => {
    history();
    const { atime, mtime } = fs.statSync(file);
    fs.utimesSync(file, atime, mtime);
    const damaged = damageIndex();
    fs.utimesSync(file, atime, mtime); // ctime still moves: that is what gives it away
    assertMovedAside(damaged);
  });

  it('an unclean shutdown (a writer killed -9): the full check runs before anything writes, damage is refused and moved aside untouched', async () => {
    history();
    await writerKilled();
    const damaged = damageIndex();
    forgeRecord(); // the file as the record knows it: only the dead writer's session is left to tell
    assertMovedAside(damaged);
  });

  it('an unclean shutdown of a sound file: one full check, then opens are cheap again', async () => {
    history();
    await writerKilled();
    const store = Store.open(dir);
    assert.equal(store.openCheck?.full, true);
    assert.match(store.openCheck?.full ? store.openCheck.why : '', /unclean shutdown/);
    assert.equal(store.listRuns().length, 150);
    claim(store, 'US-after');
    store.close();
    const again = Store.open(dir);
    assert.deepEqual(again.openCheck, { full: false });
    again.close();
  });

  it('damage that no stat shows, found by the background check: the store stops writing with a clear message; the next open moves it aside', async () => {
    history();
    const damaged = damageIndex();
    forgeRecord(); // a bad disk under an unchanged file: nothing at open can see it
    const store = Store.open(dir, { fullCheckEveryMs: 0 }); // due at once: started by the open itself
    assert.deepEqual(store.openCheck, { full: false }, 'the open did not wait for it');
    assert.equal(store.listRuns().length, 150, 'reads still work');
    await until(() => {
      try {
        claim(store, 'US-probe');
        return false;
      } catch (e) {
        return e instanceof UserError && e.code === 'DB_CORRUPT';
      }
    }, 20_000, 50, 'the background check refuses writes');
    assert.throws(() => claim(store, 'US-x'), /damaged \(integrity_check: .*\), found by the background integrity check; nothing more is written to it/);
    assert.throws(() => rawDb(store).prepare('UPDATE leader SET heartbeat_at = 1').run(), /readonly|read-only/i, 'a write outside a transaction is refused too');
    store.close();
    assert.equal(readCheckRecord(file), undefined, 'the record that vouched for it is gone');
    assert.ok(fs.readFileSync(file).equals(damaged), 'nothing was written into it');
    assertMovedAside(damaged);
  });

  it('a sound file passes the background check: the record moves on, writes continue', async () => {
    history();
    const before = readCheckRecord(file)!;
    const store = Store.open(dir, { fullCheckEveryMs: null });
    assert.equal(await store.checkInBackground(), undefined);
    assert.ok(readCheckRecord(file)!.checkedAt >= before.checkedAt);
    claim(store, 'US-more');
    store.close();
  });

  /** A real writer that opens the database, writes a row nothing above reads, and is killed -9. */
  async function writerKilled(): Promise<void> {
    const script = `const {Store}=require(${JSON.stringify(path.resolve(__dirname, '../../src/core/db/store'))});const st=Store.open(process.argv[1]);st.repoId('/repos/other');process.stdout.write('ready\\n');setInterval(()=>{},1000);`;
    const child = spawn(NODE, ['-r', path.resolve(__dirname, '../register.cjs'), '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => child.stdout!.once('data', () => res()));
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    assert.ok(fs.existsSync(`${file}-wal`), 'the killed writer left its -wal');
  }
});
