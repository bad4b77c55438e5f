import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attentionFromEnv, RunWatch } from '../../src/core/agent/runWatch';
import { Store } from '../../src/core/db/store';

// The supervisor's judgement of its agent, against a real database and a fake clock: when a
// mark is set, when output clears it, and whose mark it never overwrites.
describe('run watch: facts and marks from output and silence', () => {
  let dir: string;
  let store: Store;
  let runId: string;
  let now: number;
  let waiting: boolean | undefined;
  let writes: number;
  let busy: boolean;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-watch-'));
    store = Store.open(dir);
    runId = store.claimRun({ repo: '/repo', priority: 'US-1', plan: (_a, id) => ({ worktree: `/wt/${id}`, branch: 'b', baseRef: 'main', command: ['x'], logPath: `${dir}/${id}.log` }) }).id;
    now = 1_000_000;
    waiting = false;
    writes = 0;
    busy = false;
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const watch = () =>
    new RunWatch({ needsInputSeconds: 30, stallSeconds: 300 }, (patch, guard) => {
      if (busy) throw new Error('SQLITE_BUSY');
      writes++;
      store.recordRunFacts(runId, patch, guard);
    }, () => waiting, () => now);
  const facts = () => store.runFacts(runId);
  const marks = () => store.events(runId).filter((e) => e.kind === 'attention').map((e) => e.detail);

  it('writes coalesced: many events between ticks are one write, nothing new is no write', () => {
    const w = watch();
    for (let i = 0; i < 50; i++) w.output(`{"type":"turn.completed","usage":{"input_tokens":${i},"output_tokens":1}}\n`);
    w.tick(true);
    assert.equal(writes, 1);
    assert.equal(facts()!.tokensIn, (49 * 50) / 2);
    w.tick(true);
    assert.equal(writes, 1, 'nothing changed: nothing written');
  });

  it('needs input after needsInputSeconds of silence only while the agent waits at its terminal; output clears it; a new silence is a new mark', () => {
    const w = watch();
    w.output('What is your name? ');
    w.tick(true);
    now += 31_000;
    w.tick(true);
    assert.equal(facts()?.attention ?? null, null, 'silent but not reading its terminal: not needs-input');
    waiting = true;
    w.tick(true);
    assert.equal(facts()!.attention, 'needs-input');
    assert.equal(facts()!.attentionReason, 'waiting at its terminal after: What is your name?');
    w.tick(true);
    assert.equal(marks().length, 1, 'the same mark is not written again');
    now += 500;
    w.output('Ada\r\nHello, Ada!\r\n');
    w.tick(true);
    assert.equal(facts()!.attention, null, 'output (even right after the mark) clears its own mark');
    now += 31_000;
    w.tick(true);
    assert.equal(facts()!.attention, 'needs-input');
    assert.equal(marks().filter((m) => m?.startsWith('needs-input')).length, 2);
  });

  it('stalled after stallSeconds without output while alive, never over needs-input; needs-input from events stays through later output', () => {
    const w = watch();
    now += 301_000;
    w.tick(true);
    assert.equal(facts()!.attention, 'stalled');
    w.output('{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t","is_error":true,"content":"Claude requested permissions to use Bash, but you haven\'t granted it yet."}]}}\n');
    w.tick(true);
    assert.equal(facts()!.attention, 'needs-input');
    assert.equal(facts()!.attentionReason, 'permission denied');
    now += 5000;
    w.output('{"type":"assistant","message":{"id":"m","content":[{"type":"text","text":"carrying on"}]}}\n');
    w.tick(true);
    assert.equal(facts()!.attention, 'needs-input', 'the denial still wants the user');
    now += 301_000;
    w.tick(true);
    assert.equal(facts()!.attention, 'needs-input', 'stalled does not replace needs-input');
  });

  it("never clears a hook's fresh mark on output drawn just after it, but does once the agent works on", () => {
    const w = watch();
    w.output('drawing a permission prompt…\n');
    w.tick(true);
    store.recordRunFacts(runId, { attention: 'needs-input', attentionReason: 'claude: permission prompt' });
    now = Date.now(); // the hook's mark carries the wall clock
    w.output('│ Allow Bash(git push)? │\n');
    w.tick(true);
    assert.equal(facts()!.attention, 'needs-input', 'output within the grace after the mark');
    now += 10_000;
    w.output('pushed.\n');
    w.tick(true);
    assert.equal(facts()!.attention, null);
  });

  it('a busy database loses nothing: the facts and the mark go with a later tick', () => {
    const w = watch();
    busy = true;
    w.output('{"type":"thread.started","thread_id":"th-1"}\n');
    now += 301_000;
    w.tick(true);
    assert.equal(facts(), undefined);
    busy = false;
    w.tick(true);
    assert.equal(facts()!.sessionId, 'th-1');
    now += 301_000;
    w.tick(true);
    assert.equal(facts()!.attention, 'stalled');
    w.finish();
    assert.equal(facts()!.attention, null, 'the end clears a silence mark');
  });

  it('reads the times from the environment, with defaults for missing or bad values', () => {
    assert.deepEqual(attentionFromEnv({}), { needsInputSeconds: 30, stallSeconds: 300 });
    assert.deepEqual(attentionFromEnv({ WTO_NEEDS_INPUT_SECONDS: '2', WTO_STALL_SECONDS: 'soon' }), { needsInputSeconds: 2, stallSeconds: 300 });
    assert.deepEqual(attentionFromEnv({ WTO_NEEDS_INPUT_SECONDS: '-1', WTO_STALL_SECONDS: '0.5' }), { needsInputSeconds: 30, stallSeconds: 0.5 });
  });
});
