import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { attachClient } from '../support/attachClient';
import { cli, liveAgents, makeSandbox, NODE, ROOT, Sandbox, withStore } from '../support/sandbox';
import { until } from '../support/wait';

// Issue 15 and 16: what a run is doing, read by its supervisor from the agent's output and
// the agent's terminal, in the database beside the run; `signal` for the agents' hooks.
const REPLAY = path.join(ROOT, 'test', 'fixtures', 'replayAgent.mjs');
const TTY_AGENT = path.join(ROOT, 'test', 'fixtures', 'ttyAgent.mjs');
const fixture = (name: string) => path.join(ROOT, 'test', 'fixtures', 'agentEvents', name);
const linux = process.platform === 'linux';

describe('run facts and attention marks (issues 15, 16)', function () {
  this.timeout(90_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s?.cleanup());

  const theRun = () => withStore(s, (store) => store.listRuns()[0]);
  const facts = () => withStore(s, (store) => store.runFacts(theRun().id));
  const status = async () => JSON.parse((await cli(s, ['status', '--json'])).stdout) as { runs: Array<{ id: string; status: string; facts: Record<string, unknown> | null; attention: { state: string; reason: string } | null }> };
  async function spawn(argv: string[], env: Record<string, string> = {}): Promise<void> {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify(argv)], env);
    assert.equal(r.exitCode, 0, r.stderr);
  }

  it('Claude Code stream-json: session, tokens, cost and the denial reach the database and status --json; needs-input stays after the run ends', async () => {
    await spawn([NODE, REPLAY, fixture('claude.jsonl')]);
    await until(() => theRun().status === 'succeeded' && facts()?.costUsd === 0.0421, 20_000);
    const f = facts()!;
    assert.equal(f.sessionId, '5f1c2a8e-2b1d-4c57-9a0e-7d1f3b6c9e21');
    assert.equal(f.tokensIn, 16 + 2700 + 51100);
    assert.equal(f.tokensOut, 214);
    assert.equal(f.denials, 1);
    assert.equal(f.deniedTool, 'Bash');
    assert.equal(f.attention, 'needs-input');
    assert.equal(f.attentionReason, 'permission denied: Bash');
    assert.equal(f.lastActivity, 'I created hello.txt but may not push: please allow git push.');
    const st = await status();
    assert.equal(st.runs[0].facts?.costUsd, 0.0421);
    assert.deepEqual({ state: st.runs[0].attention?.state, reason: st.runs[0].attention?.reason }, { state: 'needs-input', reason: 'permission denied: Bash' });
    const events = withStore(s, (store) => store.events(theRun().id).filter((e) => e.kind === 'attention'));
    assert.equal(events.length, 1, 'one attention event for one denial');
    const text = (await cli(s, ['status'])).stdout;
    assert.match(text, /\[needs-input: permission denied: Bash\]\s+53816 in \/ 214 out\s+\$0\.04/);
  });

  it('Codex exec --json and Gemini stream-json: thread/session id, tokens, last activity', async () => {
    await spawn([NODE, REPLAY, fixture('codex.jsonl')]);
    await until(() => theRun().status === 'succeeded' && facts()?.tokensOut === 122, 20_000);
    assert.equal(facts()!.sessionId, '0199a213-81c0-7800-8aa1-bbab2a035a53');
    assert.equal(facts()!.tokensIn, 24763);
    assert.equal(facts()!.lastActivity, 'Added hello.txt and committed it.');
    assert.equal(facts()!.attention, null);
    const r = await cli(s, ['spawn', 'US-037', '--agent-command', JSON.stringify([NODE, REPLAY, fixture('gemini.jsonl')])]);
    assert.equal(r.exitCode, 0, r.stderr);
    const gemini = () => withStore(s, (store) => {
      const run = store.listRuns().find((x) => x.priority === 'US-037')!;
      return { run, facts: store.runFacts(run.id) };
    });
    await until(() => gemini().run.status === 'succeeded' && gemini().facts?.tokensIn === 8800, 20_000);
    assert.equal(gemini().facts!.sessionId, 'c6b4e0a2-93d5-4f4e-9f55-3d2a1b0c9e8f');
    assert.equal(gemini().facts!.attention, 'needs-input');
  });

  it('stalled after stallSeconds without output while alive; the end clears the mark', async () => {
    await spawn([NODE, REPLAY, fixture('codex.jsonl'), '--hold', '6'], { WTO_STALL_SECONDS: '2' });
    await until(() => facts()?.attention === 'stalled', 15_000);
    assert.equal(theRun().status, 'running');
    assert.match(facts()!.attentionReason!, /no output for 2s/);
    await until(() => theRun().status === 'succeeded', 20_000);
    await until(() => facts()?.attention === null, 5000);
  });

  it('needs-input for any agent: silent after printing a question, blocked reading its terminal (/proc); output clears it', async function () {
    if (!linux) this.skip();
    await spawn([NODE, TTY_AGENT], { WTO_NEEDS_INPUT_SECONDS: '2', WTO_STALL_SECONDS: '600' });
    await until(() => facts()?.attention === 'needs-input', 20_000);
    assert.match(facts()!.attentionReason!, /waiting at its terminal after: What is your name\?/);
    // Answered through the terminal: the agent prints again, the mark goes.
    const c = await attachClient(path.join(s.state, 'runs', theRun().id));
    try {
      c.type('Ada\r');
      await c.waitFor(/Hello, Ada!/);
      await until(() => facts()?.attention === null, 10_000);
      // Silent again at the question: marked again (a new event).
      await until(() => facts()?.attention === 'needs-input', 20_000);
      const marks = withStore(s, (store) => store.events(theRun().id).filter((e) => e.kind === 'attention' && e.detail?.startsWith('needs-input')));
      assert.equal(marks.length, 2);
    } finally {
      c.socket.destroy();
    }
  });

  it('a busy agent that prints nothing for a while but is not reading its terminal is not needs-input', async function () {
    if (!linux) this.skip();
    // Prints, then sleeps in a timer (epoll without the terminal for input? Node watches stdin only when read).
    await spawn([NODE, '-e', 'console.log("working…"); setTimeout(() => {}, 8000)'], { WTO_NEEDS_INPUT_SECONDS: '1', WTO_STALL_SECONDS: '600' });
    await until(() => liveAgents(s).length === 1 || theRun().status === 'running', 10_000);
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(facts()?.attention ?? null, null);
  });

  it('signal: needs-input and working from a hook, whoever leads; clear errors for an unknown run, an ended run, a bad state', async () => {
    await spawn([NODE, REPLAY, fixture('codex.jsonl'), '--hold', '30']);
    await until(() => theRun().status === 'running', 15_000);
    let r = await cli(s, ['signal', 'US-036', 'needs-input', '--reason', 'claude: permission prompt']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /needs input — claude: permission prompt/);
    assert.equal(facts()!.attention, 'needs-input');
    assert.equal(facts()!.attentionReason, 'claude: permission prompt');
    r = await cli(s, ['signal', theRun().id, 'working']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(facts()!.attention, null);
    r = await cli(s, ['signal', 'US-999', 'needs-input']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /No run matches "US-999"/);
    r = await cli(s, ['signal', 'US-036', 'sleepy']);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /Unknown state "sleepy": signal takes needs-input or working/);
    r = await cli(s, ['signal', 'US-036']);
    assert.equal(r.exitCode, 2);
    await cli(s, ['stop', 'US-036']);
    await until(() => theRun().status === 'stopped', 20_000);
    r = await cli(s, ['signal', 'US-036', 'needs-input']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /has ended \(stopped\); signal is for a live run/);
  });

  it('a database locked by another writer never holds the agent up: its output flows, the facts land once the lock goes', async () => {
    await spawn([NODE, REPLAY, fixture('codex.jsonl'), '--delay', '300', '--hold', '2']);
    await until(() => theRun().status === 'running', 15_000);
    const log = theRun().logPath;
    const writer = new Database(path.join(s.state, 'state.db'), { timeout: 5000 });
    writer.exec('BEGIN IMMEDIATE'); // the write lock, held for the whole stream
    const started = Date.now();
    try {
      await until(() => fs.readFileSync(log, 'utf8').includes('"type":"turn.completed"'), 10_000);
      assert.ok(Date.now() - started < 6000, `the stream took ${Date.now() - started} ms under the lock (3 s unlocked)`);
    } finally {
      writer.exec('COMMIT');
      writer.close();
    }
    await until(() => facts()?.tokensOut === 122, 15_000);
    assert.equal(facts()!.sessionId, '0199a213-81c0-7800-8aa1-bbab2a035a53');
  });

});
