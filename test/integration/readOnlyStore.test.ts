import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { NODE } from '../support/sandbox';

// Store.open(dir, { readOnly: true }) on ordinary folders (read-only mounts are in
// stateDirFaults.test.ts): it reads the latest writes, writes nothing, refuses writes.
describe('read-only store', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-ro-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const claim = (store: Store, priority: string) =>
    store.claimRun({ repo: '/repos/demo', priority, plan: (_a, id) => ({ worktree: `/w/${priority}`, branch: `b/${priority}`, baseRef: 'main', command: ['x'], logPath: `/l/${id}` }) });
  // Files only: a writer keeps its session under state.db-sessions/ (see dbSessions.ts).
  const files = () => fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();

  it('no database yet: an empty one in memory, nothing created in the folder', () => {
    const store = Store.open(dir, { readOnly: true });
    assert.deepEqual(store.listRuns(), []);
    assert.equal(store.leader().owner, null);
    store.close();
    assert.deepEqual(files(), []);
  });

  it('a -wal left without its -shm by a killed writer: the WAL rows are read (from a snapshot), the folder is left as it was', async () => {
    const script = `const {Store}=require(${JSON.stringify(path.resolve(__dirname, '../../src/core/db/store'))});const st=Store.open(process.argv[1]);for(const p of ['US-1','US-2'])st.claimRun({repo:'/repos/demo',priority:p,plan:(a,id)=>({worktree:'/w/'+p,branch:'b/'+p,baseRef:'main',command:['x'],logPath:'/l'})});process.stdout.write('ready\\n');setInterval(()=>{},1000);`;
    const child = spawn(NODE, ['-r', path.resolve(__dirname, '../register.cjs'), '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => child.stdout!.once('data', () => res()));
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    fs.rmSync(path.join(dir, 'state.db-shm'));
    const before = files().map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('hex')]);
    const store = Store.open(dir, { readOnly: true });
    assert.deepEqual(store.listRuns().map((r) => r.priority), ['US-1', 'US-2']);
    assert.throws(() => claim(store, 'US-3'), (e: Error) => /read-only|readonly/i.test(e.message));
    store.close();
    assert.deepEqual(files().map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('hex')]), before, 'nothing in the folder changed');
  });

  it('a cleanly closed database: read in place; writes are refused', () => {
    const writer = Store.open(dir);
    claim(writer, 'US-1');
    writer.close();
    const store = Store.open(dir, { readOnly: true });
    assert.deepEqual(store.listRuns().map((r) => r.priority), ['US-1']);
    assert.throws(() => claim(store, 'US-2'));
    store.close();
    const again = Store.open(dir);
    assert.deepEqual(again.listRuns().map((r) => r.priority), ['US-1'], 'the refused write left nothing');
    again.close();
  });
});
