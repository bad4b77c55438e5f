import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitRecord, runDir } from '../../src/core/agent/agents';
import { recordAgentExit, reserveExitSlot, writeExitRecord } from '../../src/core/agent/exitRecord';
import { Store } from '../../src/core/db/store';
import { rawDb } from '../support/rawDb';

// The durable exit record, on an ordinary folder (the full-disk cases are in
// stateDirFaults.test.ts, on a real tmpfs).
describe('exit record', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-exit-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is written over the reserved slot, which then becomes exit.json (all or nothing to a reader)', () => {
    reserveExitSlot(dir);
    const slot = path.join(dir, 'exit.slot');
    assert.equal(fs.statSync(slot).size, 4096, 'the bytes are reserved before the agent runs');
    assert.ok(!fs.existsSync(path.join(dir, 'exit.json')), 'no exit record before the end');
    writeExitRecord(dir, { code: 7, signal: null, error: null, at: 1 });
    assert.ok(!fs.existsSync(slot));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'exit.json'), 'utf8')), { code: 7, signal: null, error: null, at: 1 });
  });

  it('cuts a long error so that the record fits the slot, and writes one without a slot the ordinary way', () => {
    reserveExitSlot(dir);
    writeExitRecord(dir, { code: null, signal: null, error: `could not start ${'x'.repeat(20_000)}: ENOENT`, at: 2 });
    const text = fs.readFileSync(path.join(dir, 'exit.json'), 'utf8');
    assert.ok(text.length <= 4096, `${text.length} bytes`);
    assert.match((JSON.parse(text) as { error: string }).error, /^could not start x+…$/);
    fs.rmSync(path.join(dir, 'exit.json'));
    writeExitRecord(dir, { code: 0, signal: null, error: null, at: 3 });
    assert.equal((JSON.parse(fs.readFileSync(path.join(dir, 'exit.json'), 'utf8')) as { code: number }).code, 0);
  });

  it('recordAgentExit writes exit.json, the log line and the database, and stops retrying a database it cannot use', async () => {
    const state = path.join(dir, 'state');
    const store = Store.open(state);
    const run = store.claimRun({ repo: '/repos/demo', priority: 'US-1', plan: (_a, id) => ({ worktree: '/w', branch: 'b', baseRef: 'main', command: ['x'], logPath: path.join(runDir(state, id), 'agent.log') }) });
    store.close();
    const rd = runDir(state, run.id);
    fs.mkdirSync(rd, { recursive: true });
    reserveExitSlot(rd);
    const fd = fs.openSync(path.join(rd, 'agent.log'), 'a');
    const log = { write: (text: string) => fs.writeSync(fd, text), close: () => fs.closeSync(fd) };
    assert.equal(await recordAgentExit({ stateDir: state, runId: run.id, dir: rd, log, exit: { code: 3, signal: null, error: null, at: 4 } }), 0);
    assert.equal(exitRecord(state, run.id)?.code, 3);
    assert.match(fs.readFileSync(path.join(rd, 'agent.log'), 'utf8'), /ended: exit code 3/);
    const ended = Store.open(state);
    assert.equal(ended.getRun(run.id)?.status, 'failed');
    assert.equal(ended.getRun(run.id)?.exitCode, 3);
    ended.close();
    // A database written by a newer version is not a full disk: exit.json holds the fact, no retry.
    const newer = Store.open(state);
    rawDb(newer).pragma('user_version = 999');
    newer.close();
    const started = Date.now();
    const fd2 = fs.openSync(path.join(rd, 'agent.log'), 'a');
    const log2 = { write: (text: string) => fs.writeSync(fd2, text), close: () => fs.closeSync(fd2) };
    await recordAgentExit({ stateDir: state, runId: run.id, dir: rd, log: log2, exit: { code: 5, signal: null, error: null, at: 5 } }, { firstDelayMs: 5_000 });
    assert.ok(Date.now() - started < 4_000, 'did not wait to retry');
    assert.equal(exitRecord(state, run.id)?.code, 5);
  });
});
