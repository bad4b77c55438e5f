import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive } from '../../src/core/agent/processInfo';
import { NODE, Sandbox, agentCommand, cli, makeSandbox, traces, withStore } from '../support/sandbox';
import { stopped } from '../support/procScan';
import { STACK_LINE, SmallDisk, mountSmallDisk, signalIfAlive, supervisorPids } from '../support/stateDirMount';
import { until } from '../support/wait';
import { Run } from '../../src/core/model/run';

// Issue 12, items 5 and 6: a full and a read-only state folder, on a real small tmpfs.
describe('a full or read-only state folder (real tmpfs)', function () {
  this.timeout(120_000);
  let s: Sandbox;
  let disk: SmallDisk;

  beforeEach(function () {
    disk = undefined as unknown as SmallDisk;
    s = makeSandbox();
    const mounted = mountSmallDisk(s.state);
    if (typeof mounted === 'string') {
      console.log(`      skipped: ${mounted}`);
      s.cleanup();
      this.skip();
    }
    disk = mounted as SmallDisk;
  });
  afterEach(() => {
    if (!disk) return;
    try {
      disk.readWrite();
    } catch {
      // already read-write
    }
    disk.free();
    // Supervisors still retrying would keep the mount busy: end them before unmounting.
    for (const sup of supervisors()) signal(sup, 'SIGKILL');
    disk.unmount();
    s.cleanup();
  });

  const runs = (): Run[] => withStore(s, (store) => store.listRuns());
  const supervisors = () => supervisorPids(s.state);
  const signal = signalIfAlive;
  const noStack = (r: { stdout: string; stderr: string }, what: string) => assert.doesNotMatch(`${r.stdout}\n${r.stderr}`, STACK_LINE, `${what} printed a stack trace:\n${r.stderr}`);

  it('spawn on a full state folder: exit 4 with the folder and its free space, no stack trace, nothing recorded', async () => {
    assert.equal((await cli(s, ['status'])).exitCode, 0); // the database exists, as after any use
    disk.fill();
    const r = await cli(s, ['--agent-command', agentCommand('exit:0'), 'spawn', 'US-036']);
    noStack(r, 'spawn');
    assert.equal(r.exitCode, 4, `exit code: ${r.exitCode}\n${r.stderr}`);
    assert.match(r.stderr, /is full/);
    assert.ok(r.stderr.includes(s.state), `names the folder: ${r.stderr}`);
    assert.match(r.stderr, /\d+(\.\d+)? ?(B|KiB|MiB|GiB) free of \d+(\.\d+)? ?(B|KiB|MiB|GiB)/, `says how much is free: ${r.stderr}`);
    disk.free();
    assert.deepEqual(runs(), [], 'nothing was recorded');
  });

  it('a spawn whose provisioning fills the state folder: exit 4, the run waits at its recorded step and the next leader finishes it', async () => {
    // The setup command fills the state folder (once): the next step cannot be recorded.
    const filled = path.join(s.dir, 'filled-once');
    const fill = `const fs=require('fs');if(!fs.existsSync(${JSON.stringify(filled)})){fs.writeFileSync(${JSON.stringify(filled)},'');const fd=fs.openSync(process.env.WTO_STATE_DIR+'/filler','a');for(const n of [65536,4096,1]){const b=Buffer.alloc(n);for(;;){try{fs.writeSync(fd,b)}catch{break}}}}`;
    const r = await cli(s, ['--agent-command', agentCommand('exit:0'), '--setup-command', JSON.stringify([NODE, '-e', fill]), 'spawn', 'US-036']);
    noStack(r, 'spawn');
    assert.equal(r.exitCode, 4, `exit code: ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /is full/);
    assert.match(r.stderr, /resume/i, `says what happens to the run: ${r.stderr}`);
    assert.ok(fs.existsSync(filled), 'the setup command ran');
    disk.free();
    const [run] = runs();
    assert.ok(run && ['requested', 'provisioning'].includes(run.status), `the run waits at its last recorded step: ${run?.status} ${run?.error}`);
    const next = await cli(s, ['reconcile']); // any leader resumes it
    noStack(next, 'reconcile');
    assert.equal(next.exitCode, 0, next.stderr);
    await until(() => runs()[0].status === 'succeeded', 20_000).catch(() => assert.fail(`not finished: ${JSON.stringify(runs()[0])}`));
    assert.equal(runs()[0].exitCode, 0);
    assert.equal(traces(s).length, 1, 'the agent started once');
  });

  it('the supervisor on a full state folder: the agent exit code is recorded once space returns, not lost', async () => {
    const r = await cli(s, ['--agent-command', agentCommand('sleep:2500', 'exit:7'), 'spawn', 'US-036']);
    assert.equal(r.exitCode, 0, r.stderr);
    const [run] = runs();
    assert.equal(run.status, 'running');
    disk.fill();
    await until(() => !isAlive({ pid: run.pid!, start: run.pidStart }), 15_000);
    await new Promise((res) => setTimeout(res, 1500)); // the supervisor meets the full disk
    const exitFile = path.join(s.state, 'runs', run.id, 'exit.json');
    assert.ok(fs.existsSync(exitFile), 'exit.json was written on the full disk');
    assert.equal((JSON.parse(fs.readFileSync(exitFile, 'utf8')) as { code: number }).code, 7);
    disk.free();
    // A leader looking now must not take the ended agent for lost; the supervisor records it.
    await cli(s, ['reconcile']);
    await until(() => runs()[0].status !== 'running', 20_000).catch(() => assert.fail(`still running: ${JSON.stringify(runs()[0])}`));
    const ended = runs()[0];
    assert.equal(ended.status, 'failed', `status ${ended.status}: ${ended.error}`);
    assert.equal(ended.exitCode, 7);
  });

  it('the supervisor on a full state folder where even exit.json cannot be written: it keeps the code and records it itself once space returns', async () => {
    const r = await cli(s, ['--agent-command', agentCommand('sleep:2500', 'exit:9'), 'spawn', 'US-036']);
    assert.equal(r.exitCode, 0, r.stderr);
    const [run] = runs();
    const dir = path.join(s.state, 'runs', run.id);
    fs.rmSync(path.join(dir, 'exit.slot'), { force: true }); // no reserved bytes: exit.json needs a new block
    disk.fill();
    await until(() => !isAlive({ pid: run.pid!, start: run.pidStart }), 15_000);
    await new Promise((res) => setTimeout(res, 1500));
    assert.ok(!fs.existsSync(path.join(dir, 'exit.json')), 'exit.json could not be written');
    assert.ok(isAlive({ pid: run.supervisorPid!, start: null }), 'the supervisor stays, holding the exit code');
    disk.free();
    // No leader runs: the supervisor records it on its own.
    await until(() => runs()[0].status !== 'running', 20_000).catch(() => assert.fail(`still running: ${JSON.stringify(runs()[0])}`));
    assert.equal(runs()[0].status, 'failed');
    assert.equal(runs()[0].exitCode, 9);
    await until(() => !isAlive({ pid: run.supervisorPid!, start: null }), 5_000);
  });

  it('the state folder fills the moment the agent starts: the supervisor keeps watching it and records its exit code, not lost', async () => {
    // WTO_PAUSE_AT freezes the supervisor right after it started the agent, before agent.json.
    const spawning = cli(s, ['--agent-command', agentCommand('sleep:2000', 'exit:5'), 'spawn', 'US-036'], { WTO_PAUSE_AT: 'supervisor-before-agent-record' });
    await until(() => supervisors().some(stopped), 15_000);
    const [sup] = supervisors();
    disk.fill();
    signal(sup, 'SIGCONT');
    await new Promise((res) => setTimeout(res, 1000)); // the supervisor meets the full disk
    assert.ok(isAlive({ pid: sup, start: null }), 'the supervisor survived a failed agent.json');
    disk.free();
    await spawning;
    await cli(s, ['reconcile']);
    await until(() => !['provisioning', 'running'].includes(runs()[0].status), 20_000).catch(() => assert.fail(`still active: ${JSON.stringify(runs()[0])}`));
    assert.equal(runs()[0].status, 'failed', `${runs()[0].status}: ${runs()[0].error}`);
    assert.equal(runs()[0].exitCode, 5);
  });

  it('an agent that prints while the state folder is full: its supervisor stays and records the exit code once space returns', async () => {
    const talker = `setTimeout(() => { for (let i = 0; i < 5000; i++) console.log('line ' + i + ' ' + 'x'.repeat(80)); process.exitCode = 6; }, 1500)`;
    const r = await cli(s, ['--agent-command', JSON.stringify([NODE, '-e', talker]), 'spawn', 'US-036']);
    assert.equal(r.exitCode, 0, r.stderr);
    const [run] = runs();
    disk.fill();
    await until(() => !isAlive({ pid: run.pid!, start: run.pidStart }), 15_000);
    await new Promise((res) => setTimeout(res, 1000));
    assert.ok(isAlive({ pid: run.supervisorPid!, start: null }), 'the supervisor survived the output it could not write');
    disk.free();
    await until(() => runs()[0].status !== 'running', 20_000).catch(() => assert.fail(`still running: ${JSON.stringify(runs()[0])}`));
    assert.equal(runs()[0].status, 'failed', `${runs()[0].status}: ${runs()[0].error}`);
    assert.equal(runs()[0].exitCode, 6);
  });

  it('a read-only state folder: status still reads, every writer refuses clearly with exit 4, nothing changes', async () => {
    assert.equal((await cli(s, ['--agent-command', agentCommand('exit:0'), 'spawn', 'US-036'])).exitCode, 0);
    await until(() => runs()[0]?.status === 'succeeded', 15_000);
    await until(() => supervisors().every((pid) => !isAlive({ pid, start: null })), 10_000);
    const db = path.join(s.state, 'state.db');
    const before = crypto.createHash('sha256').update(fs.readFileSync(db)).digest('hex');
    disk.readOnly();
    const status = await cli(s, ['status']);
    noStack(status, 'status');
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /US-036 #1\s+succeeded/);
    const json = await cli(s, ['status', '--json']);
    assert.equal(json.exitCode, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { runs: Array<{ status: string }> }).runs[0].status, 'succeeded');
    const roadmap = await cli(s, ['roadmap']); // reads no state at all
    noStack(roadmap, 'roadmap');
    assert.equal(roadmap.exitCode, 0, roadmap.stderr);
    for (const args of [['--agent-command', agentCommand('exit:0'), 'spawn', 'US-037'], ['stop', 'US-036'], ['loop', 'on'], ['reconcile'], ['gc'], ['remove', 'US-036']]) {
      const w = await cli(s, args);
      noStack(w, args.join(' '));
      assert.equal(w.exitCode, 4, `${args.join(' ')}: exit ${w.exitCode}\n${w.stdout}\n${w.stderr}`);
      assert.match(w.stderr, /read-only/, `${args.join(' ')}: ${w.stderr}`);
      assert.ok(w.stderr.includes(s.state), `${args.join(' ')} names the folder: ${w.stderr}`);
    }
    assert.equal(crypto.createHash('sha256').update(fs.readFileSync(db)).digest('hex'), before, 'the database is unchanged');
  });

  it('a read-only state folder left by a killed leader (-wal and -shm present, or only -wal): status reads the latest writes', async () => {
    // A writer killed with -9 leaves its WAL un-checkpointed: the latest runs live only there.
    const { spawn } = await import('node:child_process');
    const script = `const {Store}=require(${JSON.stringify(path.resolve(__dirname, '../../src/core/db/store'))});const st=Store.open(process.argv[1]);for(const p of ['US-036','US-037'])st.claimRun({repo:process.argv[2],priority:p,plan:(a,id)=>({worktree:process.argv[2]+'.worktrees/'+p,branch:'b/'+p,baseRef:'main',command:['x'],logPath:'/l'})});process.stdout.write('ready\\n');setInterval(()=>{},1000);`;
    const child = spawn(NODE, ['-r', path.resolve(__dirname, '../register.cjs'), '-e', script, s.state, s.repo], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => child.stdout!.once('data', () => res()));
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    assert.ok(fs.existsSync(path.join(s.state, 'state.db-wal')), 'the WAL was left behind');
    for (const withShm of [true, false]) {
      if (!withShm) {
        disk.readWrite();
        fs.rmSync(path.join(s.state, 'state.db-shm'), { force: true });
      }
      disk.readOnly();
      const r = await cli(s, ['status', '--json']);
      noStack(r, `status ${withShm ? 'with' : 'without'} -shm`);
      assert.equal(r.exitCode, 0, `${withShm ? 'with' : 'without'} -shm: ${r.stderr}`);
      assert.deepEqual((JSON.parse(r.stdout) as { runs: Array<{ priority: string }> }).runs.map((x) => x.priority), ['US-036', 'US-037'], `${withShm ? 'with' : 'without'} -shm`);
    }
  });
});
