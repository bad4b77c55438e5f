import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PORT_RANGE_START, portsInUse } from '../../src/core/db/ports';
import { Store } from '../../src/core/db/store';
import { cli, makeSandbox, NODE, ROOT, Sandbox, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { ACTIVE_STATUSES, isActive } from '../../src/core/model/runStatus';
import { rawDb } from '../support/rawDb';

const RACER = path.join(ROOT, 'test', 'fixtures', 'portRacer.ts');

function claimWithPorts(store: Store, priority: string, count = 10): { id: string; first: number } {
  let first = -1;
  const run = store.claimRun({
    repo: '/repo',
    priority,
    plan: (_a, runId) => {
      first = store.leasePorts(runId, count);
      return { worktree: `/wt/${runId}`, branch: `b/${runId}`, baseRef: 'main', command: ['agent', String(first)], logPath: '/dev/null' };
    },
  });
  return { id: run.id, first };
}

describe('port blocks per run', function () {
  this.timeout(180_000);
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-ports-'));
    store = Store.open(dir);
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each active run holds its own block; an ended run gives it back', () => {
    const none = () => new Set<number>();
    const a = claimWithPorts(store, 'US-1');
    const b = claimWithPorts(store, 'US-2');
    assert.equal(a.first % 10, 0);
    assert.equal(b.first, a.first + 10, 'the next free block');
    assert.deepEqual(store.portBlock(a.id), { first: a.first, count: 10 });
    assert.equal(store.leasePorts(a.id, 10, none), a.first, 'asking again returns the same block');
    store.recordExit(a.id, { code: 0 });
    assert.equal(store.portBlock(a.id), undefined, 'released when the run ends');
    assert.equal(claimWithPorts(store, 'US-3').first, a.first, 'and leased again');
    assert.throws(() => rawDb(store).prepare('INSERT INTO port_leases (port, run_id, first_port, count, leased_at) VALUES (?, ?, ?, ?, ?)').run(b.first + 3, 'other', b.first, 10, 0), /UNIQUE|PRIMARY/, 'the database itself refuses a second lease of a port');
  });

  it('a claim that fails leases nothing', () => {
    claimWithPorts(store, 'US-1');
    const before = rawDb(store).prepare('SELECT count(*) AS n FROM port_leases').get();
    assert.throws(() => claimWithPorts(store, 'US-1'), /already has an active run/);
    assert.deepEqual(rawDb(store).prepare('SELECT count(*) AS n FROM port_leases').get(), before);
  });

  it('skips a block with a port something on the machine listens on', async function () {
    const server = net.createServer();
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(PORT_RANGE_START + 4, '127.0.0.1', () => resolve(true));
    });
    if (!listening) return this.skip(); // someone else holds it: the check is the same
    try {
      assert.ok(portsInUse().has(PORT_RANGE_START + 4), 'seen in /proc/net/tcp');
      assert.equal(claimWithPorts(store, 'US-1').first, PORT_RANGE_START + 10);
    } finally {
      server.close();
    }
  });

  it('refuses a bad block size with a clear message', () => {
    assert.throws(() => store.leasePorts('r', 0), /portsPerRun must be a whole number/);
    assert.throws(() => store.leasePorts('r', 2.5), /portsPerRun must be a whole number/);
  });

  it('5 processes x 100 runs racing across repositories: 0 overlaps among active runs', async () => {
    const workers = 5;
    const rounds = 100;
    store.close();
    await Promise.all(
      Array.from({ length: workers }, (_, w) =>
        new Promise<void>((resolve, reject) =>
          execFile(NODE, ['-r', path.join(ROOT, 'test', 'register.cjs'), RACER, dir, String(w), String(rounds), '10'], { timeout: 150_000 }, (e, _out, err) => (e ? reject(new Error(`${e.message}\n${err}`)) : resolve())),
        ),
      ),
    );
    store = Store.open(dir);
    // Replay the history in the database's own order (events are written in the same
    // transaction as each claim and each end): at every instant, which ports did active runs hold?
    const runs = new Map(store.listRuns({}).map((r) => [r.id, Number(r.command[1])]));
    assert.equal(runs.size, workers * rounds);
    const events = rawDb(store).prepare("SELECT run_id AS runId, kind, to_status AS toStatus FROM events WHERE run_id IS NOT NULL ORDER BY id").all() as Array<{ runId: string; kind: string; toStatus: string }>;
    const holder = new Map<number, string>();
    let overlaps = 0;
    let maxActive = 0;
    const active = new Set<string>();
    for (const e of events) {
      const first = runs.get(e.runId)!;
      if (e.kind === 'claimed') {
        for (let p = first; p < first + 10; p++) {
          if (holder.has(p)) overlaps++;
          holder.set(p, e.runId);
        }
        active.add(e.runId);
        maxActive = Math.max(maxActive, active.size);
      } else if (e.toStatus && !(ACTIVE_STATUSES as readonly string[]).includes(e.toStatus) && active.delete(e.runId)) {
        for (let p = first; p < first + 10; p++) if (holder.get(p) === e.runId) holder.delete(p);
      }
    }
    console.log(`      ${workers * rounds} runs, at most ${maxActive} active at once, ${overlaps} overlapping ports`);
    assert.equal(overlaps, 0, 'no port held by two active runs at once');
    assert.ok(maxActive > 5, 'the racers really overlapped in time');
    // What the table holds now is exactly the blocks of the runs still active.
    const stillActive = store.listRuns({ statuses: [...ACTIVE_STATUSES] });
    const leases = rawDb(store).prepare('SELECT port, run_id AS runId FROM port_leases ORDER BY port').all() as Array<{ port: number; runId: string }>;
    assert.equal(leases.length, stillActive.length * 10);
    for (const r of stillActive) assert.deepEqual(store.portBlock(r.id), { first: Number(r.command[1]), count: 10 });
  });
});

describe('a run and its ports, through the CLI', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  it('the agent gets its first port in ${port} and WTO_PORT; two active runs get different blocks; ending releases', async () => {
    const record = (name: string) => JSON.stringify([NODE, '-e', 'require("fs").writeFileSync(process.argv[1], JSON.stringify({arg: process.argv[2], env: process.env.WTO_PORT, count: process.env.WTO_PORT_COUNT})); setTimeout(() => {}, Number(process.argv[3]))', path.join(s.dir, name), '${port}', '1500']);
    const a = await cli(s, ['--agent-command', record('a.json'), '--max-parallel', '2', 'spawn', 'US-036', '--wait']);
    assert.equal(a.exitCode, 0, a.stderr);
    const b = await cli(s, ['--agent-command', record('b.json'), '--max-parallel', '2', '--ports-per-run', '5', 'spawn', 'US-037', '--wait']);
    assert.equal(b.exitCode, 0, b.stderr);
    await until(() => fs.existsSync(path.join(s.dir, 'a.json')) && fs.existsSync(path.join(s.dir, 'b.json')));
    const got = (f: string) => JSON.parse(fs.readFileSync(path.join(s.dir, f), 'utf8')) as { arg: string; env: string; count: string };
    const [ra, rb] = [got('a.json'), got('b.json')];
    assert.equal(ra.arg, ra.env, '${port} is WTO_PORT');
    assert.equal(ra.count, '10');
    assert.equal(rb.count, '5');
    const [pa, pb] = [Number(ra.env), Number(rb.env)];
    assert.ok(pa >= PORT_RANGE_START && pb >= PORT_RANGE_START);
    assert.ok(pb >= pa + 10 || pa >= pb + 5, `blocks ${pa}+10 and ${pb}+5 do not overlap`);
    // Each agent's supervisor records its exit; the trigger releases in that same write.
    await until(() => withStore(s, (st) => st.listRuns({}).every((r) => !isActive(r.status))), 20_000);
    assert.equal(withStore(s, (st) => rawDb(st).prepare('SELECT count(*) AS n FROM port_leases').get() as { n: number }).n, 0, 'both blocks released when the runs ended');
  });

  it('--ports-per-run must be a whole number', async () => {
    const r = await cli(s, ['--agent-command', '["x"]', '--ports-per-run', 'ten', 'spawn', 'US-036']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /--ports-per-run must be a whole number of at least 0, got "ten"/);
  });
});
