import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { connectAttach, controlFrame, encodeFrame, FRAME_DATA, MAX_FRAME_BYTES } from '../../src/core/agent/attachProtocol';
import { PlainText } from '../../src/core/agent/agentTerminal';
import { isAlive } from '../../src/core/agent/processInfo';
import { attachClient, TestClient } from '../support/attachClient';
import { cli, liveAgents, makeSandbox, NODE, ROOT, Sandbox, startOrchestrator, withStore } from '../support/sandbox';
import { sleep, until } from '../support/wait';

// Issue 16: the supervisor hosts the agent in a pseudo-terminal and serves attach on a socket.
const TTY_AGENT = path.join(ROOT, 'test', 'fixtures', 'ttyAgent.mjs');
const posix = process.platform !== 'win32';

describe('the agent in a pseudo-terminal, attached through its socket (issue 16)', function () {
  this.timeout(60_000);
  let s: Sandbox;
  const clients: TestClient[] = [];
  beforeEach(function () {
    if (!posix) this.skip();
    s = makeSandbox();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.socket.destroy();
    s?.cleanup();
  });
  const theRun = () => withStore(s, (store) => store.listRuns()[0]);
  const runFolder = () => path.join(s.state, 'runs', theRun().id);
  const attach = async (hello?: { cols: number; rows: number }) => {
    const c = await attachClient(runFolder(), hello);
    clients.push(c);
    return c;
  };
  async function spawnTtyAgent(): Promise<void> {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => liveAgents(s).length === 1 && fs.existsSync(path.join(runFolder(), 'attach.sock')), 15_000);
  }

  it('the agent has a terminal; two clients see its question, one answers, both see the reply; the log is plain text', async () => {
    await spawnTtyAgent();
    const a = await attach();
    await a.waitFor(/What is your name\?/);
    const b = await attach();
    await b.waitFor(/What is your name\?/); // from the screen replay: it was printed before B came
    a.type('Ada\r');
    await a.waitFor(/Hello, Ada!/);
    await b.waitFor(/Hello, Ada!/);
    assert.deepEqual(a.controls[0]?.type, 'hello');
    assert.equal(a.controls[0]?.pid, liveAgents(s)[0].pid);
    const log = fs.readFileSync(theRun().logPath, 'utf8');
    assert.match(log, /tty agent \d+ cols=120 rows=32\n/, log);
    assert.match(log, /Hello, Ada!\n/);
    assert.doesNotMatch(log, /\x1b|\r/, 'no escape sequence and no CR in agent.log');
    assert.equal(theRun().status, 'running');
  });

  it('a resize from any client reaches the agent (SIGWINCH), and both clients see it', async () => {
    await spawnTtyAgent();
    const a = await attach();
    const b = await attach({ cols: 100, rows: 40 });
    await a.waitFor(/resized cols=100 rows=40/);
    b.resize(90, 20);
    await a.waitFor(/resized cols=90 rows=20/);
    await b.waitFor(/resized cols=90 rows=20/);
  });

  it('detach and reattach show the earlier screen; the socket is only the user\'s', async () => {
    await spawnTtyAgent();
    const a = await attach();
    await a.waitFor(/What is your name\?/);
    a.type('Grace\r');
    await a.waitFor(/Hello, Grace!/);
    a.detach();
    await a.closed;
    const again = await attach();
    await again.waitFor(/Hello, Grace![\s\S]*What is your name\?/);
    assert.ok(isAlive({ pid: liveAgents(s)[0].pid, start: null }));
    assert.equal(fs.statSync(path.join(runFolder(), 'attach.sock')).mode & 0o777, 0o600);
    assert.equal(fs.statSync(runFolder()).mode & 0o077, 0, 'the run folder is the user\'s only');
  });

  it('another user cannot connect, even with every folder on the way open to them (root only: runuser)', async function () {
    if (process.getuid?.() !== 0 || !fs.existsSync('/usr/sbin/runuser')) this.skip();
    // Under the most permissive umask (the supervisor inherits it): the socket's mode is its own doing.
    const umask = process.umask(0);
    try {
      await spawnTtyAgent();
    } finally {
      process.umask(umask);
    }
    const sock = path.join(runFolder(), 'attach.sock');
    const connectAs = (user: string) =>
      execFileSync('/usr/sbin/runuser', ['-u', user, '--', NODE, '-e', `require('node:net').connect(process.argv[1]).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(0)})`, sock], { encoding: 'utf8', timeout: 10_000 }).trim();
    // Open the folders to everyone (x: traversable), so that only the socket's own mode decides.
    const folders = [s.dir, s.state, path.join(s.state, 'runs'), runFolder()];
    const modes = folders.map((f) => fs.statSync(f).mode & 0o777);
    try {
      for (const f of folders) fs.chmodSync(f, 0o711);
      assert.equal(connectAs('nobody'), 'EACCES');
    } finally {
      folders.forEach((f, i) => fs.chmodSync(f, modes[i]));
    }
    assert.equal(connectAs('root'), 'connected', 'the user itself still can');
    assert.ok(isAlive({ pid: liveAgents(s)[0].pid, start: null }));
  });

  it('kill -9 of the leader and of every attached client leaves the agent running and attachable', async () => {
    const leader = startOrchestrator(s, ['--agent-command', JSON.stringify([NODE, TTY_AGENT])]);
    await leader.waitFor(/^leader/);
    await spawnTtyAgent();
    const pid = liveAgents(s)[0].pid;
    // Clients in processes of their own, killed -9 while attached and mid-frame.
    const script = `const net=require('node:net');const s=net.connect(process.argv[1]);s.on('data',()=>{});s.write(Buffer.from([1,0,0,0,50,104,105]));setInterval(()=>{},1000)`;
    const procs = [0, 1, 2].map(() => spawn(NODE, ['-e', script, path.join(runFolder(), 'attach.sock')], { stdio: 'ignore' }));
    await sleep(1500);
    for (const p of procs) p.kill('SIGKILL');
    await leader.kill('SIGKILL');
    await sleep(500);
    assert.ok(isAlive({ pid, start: null }), 'the agent lives on');
    const c = await attach();
    await c.waitFor(/What is your name\?/);
    c.type('Linus\r');
    await c.waitFor(/Hello, Linus!/);
    assert.equal(theRun().status, 'running');
  });

  it('garbage, oversized frames, bad control frames and 200 connect/disconnect cycles do not disturb the agent', async () => {
    await spawnTtyAgent();
    const pid = liveAgents(s)[0].pid;
    const watcher = await attach();
    const rawSend = async (bytes: Buffer, wait = false) => {
      const sock = await connectAttach(runFolder());
      sock.on('error', () => undefined);
      sock.resume(); // read, to see the supervisor hang up
      const closed = new Promise<void>((r) => sock.once('close', () => r()));
      sock.write(bytes);
      if (wait) assert.equal(await Promise.race([closed.then(() => "closed"), sleep(2000).then(() => "open")]), "closed", `dropped: ${JSON.stringify(bytes.subarray(0, 20).toString())}`);
      sock.destroy();
      return closed;
    };
    const header = Buffer.alloc(5);
    header[0] = FRAME_DATA;
    header.writeUInt32BE(MAX_FRAME_BYTES + 1, 1);
    await rawSend(header, true); // oversized: that connection is dropped
    await rawSend(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true); // unknown kind
    await rawSend(encodeFrame(0x02, '{not json'), true);
    await rawSend(encodeFrame(0x02, '[1,2]'), true);
    await rawSend(controlFrame({ type: 'resize', cols: -1, rows: 1e9 }), true);
    await rawSend(encodeFrame(0x02, JSON.stringify({ type: 'nonsense' })), true);
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) {
      const sock = net.connect(path.join(runFolder(), 'attach.sock'));
      sock.on('error', () => undefined);
      await new Promise<void>((r) => sock.once('connect', () => r()));
      if (i % 3 === 0) sock.write(Buffer.from([1, 0, 0])); // half a header, then gone
      sock.destroy();
    }
    const cycles = Date.now() - t0;
    assert.ok(isAlive({ pid, start: null }), 'the agent lives on');
    assert.equal(watcher.socket.destroyed, false, 'the well-behaved client stays attached');
    watcher.type('Barbara\r');
    await watcher.waitFor(/Hello, Barbara!/);
    // The screen the agent drew is what it printed, not garbage typed at it.
    const fresh = await attach();
    await fresh.waitFor(/Hello, Barbara!/);
    assert.doesNotMatch(fresh.text(), /HTTP|nonsense|not json/);
    // And it still ends as it decides to: "quit" exits 5, which the clients are told.
    fresh.type('quit\r');
    await fresh.closed;
    assert.deepEqual(fresh.controls.at(-1), { type: 'exit', code: 5, signal: null });
    await until(() => theRun().status === 'failed', 10_000);
    assert.equal(theRun().exitCode, 5);
    assert.equal(fs.existsSync(path.join(runFolder(), 'attach.sock')), false, 'the socket goes with the agent');
    console.log(`      200 connect/disconnect cycles in ${cycles} ms`);
  });

  it('a state folder too deep for a socket path (VS Code\'s global storage) is still attachable (Linux)', async function () {
    if (process.platform !== 'linux') this.skip();
    const deep: Sandbox = { ...s, state: path.join(s.dir, 'globalStorage', 'worktree-orchestrator.worktree-orchestrator', 'x'.repeat(40)) };
    const r = await cli(deep, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])]);
    assert.equal(r.exitCode, 0, r.stderr);
    const run = withStore(deep, (store) => store.listRuns()[0]);
    const folder = path.join(deep.state, 'runs', run.id);
    assert.ok(Buffer.byteLength(path.join(folder, 'attach.sock')) > 108, 'the test needs a path over sun_path\'s limit');
    await until(() => fs.existsSync(path.join(folder, 'attach.sock')), 15_000);
    const c = await attachClient(folder);
    clients.push(c);
    await c.waitFor(/What is your name\?/);
    c.type('Ken\r');
    await c.waitFor(/Hello, Ken!/);
    c.type('quit\r');
    await c.closed;
    await until(() => withStore(deep, (store) => store.getRun(run.id)!.status) === 'failed', 10_000);
  });

  it('where node-pty cannot load, the run falls back to pipes and says so in agent.log', async () => {
    // The supervisor bundle far from the project's node_modules: its require of node-pty fails.
    const lone = path.join(s.dir, 'lone');
    fs.mkdirSync(lone);
    fs.copyFileSync(path.join(ROOT, 'dist', 'supervisor.js'), path.join(lone, 'supervisor.js'));
    // SQLite it can still load (for recording the exit); node-pty it cannot.
    fs.mkdirSync(path.join(lone, 'node_modules'));
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'better-sqlite3'), path.join(lone, 'node_modules', 'better-sqlite3'));
    const state = path.join(s.dir, 'state-lone');
    const runFolder = path.join(state, 'runs', 'r-pipes');
    fs.mkdirSync(runFolder, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(runFolder, 'go'), '{}');
    const logPath = path.join(s.dir, 'lone.log');
    execFileSync(NODE, [path.join(lone, 'supervisor.js'), '--state-dir', state, '--run', 'r-pipes', '--log', logPath, '--cwd', s.repo, '--', NODE, TTY_AGENT], { cwd: runFolder, timeout: 20_000 });
    const log = fs.readFileSync(logPath, 'utf8');
    assert.match(log, /no pseudo-terminal \(.*node-pty.*\): the agent runs with pipes/);
    assert.match(log, /tty agent: no terminal/, 'the agent ran, with pipes');
    assert.equal(JSON.parse(fs.readFileSync(path.join(runFolder, 'exit.json'), 'utf8')).code, 3);
  });
});

describe('agent.log as plain text (issue 16)', () => {
  it('strips CSI, OSC and charset sequences, even split across chunks, and turns CR LF into LF', () => {
    const p = new PlainText();
    const chunks = ['a\x1b[3', '1mred\x1b[0m\r', '\nb\x1b]0;title\x07c\x1b]8;;http://x\x1b', '\\link\x1b(Bd\r\n'];
    assert.equal(chunks.map((c) => p.push(c)).join('') + p.flush(), 'ared\nbclinkd\n');
    assert.equal(new PlainText().push('50%\r100%\n'), '50%\r100%\n');
  });
});
