import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { planLoop } from '../../src/core/roadmap/workLoop';
import { agentCommand, cli, liveAgents, makeSandbox, Sandbox, startOrchestrator, StartedOrchestrator, traces, withStore } from '../support/sandbox';
import { sleep, until } from '../support/wait';
import { Run } from '../../src/core/model/run';

const LOOP_ROADMAP = `# Roadmap

## US-101: One 📝 Planned

## US-102: Two

**Status**: 📝 Planned

## US-103: Already done ✅ Complete

## US-104: Four 📝

\`\`\`
## US-199: an example inside a fence 📝 Planned
\`\`\`

## US-105: Five 📝 Planned

## US-106: Six 📝 Planned
`;
const PLANNED = ['US-101', 'US-102', 'US-104', 'US-105', 'US-106'];

describe('continuous work loop: planLoop (pure)', () => {
  const run = (priority: string, attempt: number, status: Run['status'], endedAt = 0) => ({ priority, attempt, status, endedAt }) as Run;
  it('requests planned priorities in order up to the free capacity', () => {
    const d = planLoop(['A-1', 'A-2', 'A-3'], [], 2, {}, 0);
    assert.deepEqual(d.map((x) => x.action), ['request', 'request', 'wait']);
  });
  it('never requests a priority with an active or succeeded run, nor one the user stopped', () => {
    const d = planLoop(['A-1', 'A-2', 'A-3'], [run('A-1', 1, 'running'), run('A-2', 1, 'succeeded'), run('A-3', 1, 'stopped')], 5, {}, 0);
    assert.deepEqual(d.map((x) => x.action), ['skip', 'skip', 'skip']);
  });
  it('retries a failure after a doubling delay, within the bound', () => {
    const cfg = { maxRetries: 2, retryDelayMs: 1000 };
    assert.equal(planLoop(['A-1'], [run('A-1', 1, 'failed', 0)], 1, cfg, 999)[0].action, 'wait');
    assert.equal(planLoop(['A-1'], [run('A-1', 1, 'failed', 0)], 1, cfg, 1000)[0].action, 'retry');
    assert.equal(planLoop(['A-1'], [run('A-1', 1, 'failed', 0), run('A-1', 2, 'lost', 0)], 1, cfg, 1999)[0].action, 'wait');
    assert.equal(planLoop(['A-1'], [run('A-1', 1, 'failed', 0), run('A-1', 2, 'lost', 0)], 1, cfg, 2000)[0].action, 'retry');
    const exhausted = planLoop(['A-1'], [1, 2, 3].map((a) => run('A-1', a, 'failed', 0)), 1, cfg, 1e9)[0];
    assert.equal(exhausted.action, 'skip');
    assert.match(exhausted.reason, /retries exhausted/);
  });
});

describe('continuous work loop: real orchestrators, real agents', function () {
  this.timeout(120_000);
  let s: Sandbox;
  let orch: StartedOrchestrator | undefined;
  beforeEach(() => (s = makeSandbox(LOOP_ROADMAP)));
  afterEach(async () => {
    await orch?.kill('SIGKILL');
    orch = undefined;
    s.cleanup();
  });

  const runs = () => withStore(s, (store) => store.listRuns());

  for (const maxParallel of [1, 2]) {
    it(`maxParallel ${maxParallel}: spawns each planned priority exactly once, in order, never more than ${maxParallel} at once, across a kill -9 and restart`, async () => {
      const flags = ['--max-parallel', String(maxParallel), '--agent-command', agentCommand('sleep:700', 'write:done.txt', 'commit:done ${priority}')];
      orch = startOrchestrator(s, [...flags, '--loop']);
      let maxLive = 0;
      let maxActive = 0;
      const store = Store.open(s.state);
      const sample = setInterval(() => {
        maxLive = Math.max(maxLive, liveAgents(s).length);
        maxActive = Math.max(maxActive, store.listRuns({ statuses: ['provisioning', 'running', 'stopping'] }).length);
      }, 15);
      try {
        await until(() => runs().filter((r) => r.status === 'succeeded').length >= 2, 30_000);
        await orch.kill('SIGKILL');
        orch = startOrchestrator(s, flags); // no --loop: the loop's state is in the database
        await until(() => runs().filter((r) => r.status === 'succeeded').length === PLANNED.length, 60_000);
        await sleep(1000); // a loop that would re-spawn has had its chance
      } finally {
        clearInterval(sample);
        store.close();
      }
      const started = traces(s).sort((a, b) => a.at - b.at).map((t) => t.priority);
      assert.deepEqual([...started].sort(), [...PLANNED].sort(), 'each planned priority exactly once; US-103 (complete) and the fenced example never');
      if (maxParallel === 1) assert.deepEqual(started, PLANNED, 'in roadmap order');
      else for (let i = 0; i < PLANNED.length; i++) assert.ok(Math.abs(started.indexOf(PLANNED[i]) - i) <= 1, `order ${started}`);
      assert.ok(maxLive <= maxParallel, `live agents peaked at ${maxLive}`);
      assert.ok(maxActive <= maxParallel, `active runs peaked at ${maxActive}`);
      if (maxParallel === 2) assert.equal(maxActive, 2, 'the second slot was used');
      assert.ok(runs().every((r) => r.attempt === 1));
    });
  }

  it('retries a failing agent within its bound, then leaves it failed', async () => {
    fs.writeFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), '## US-101: Fails 📝 Planned\n\n## US-102: Works 📝 Planned\n');
    orch = startOrchestrator(s, ['--max-parallel', '1', '--max-retries', '2', '--retry-delay-ms', '200', '--agent-command', agentCommand('sleep:100', 'exitif:US-101=3'), '--loop']);
    await until(() => runs().filter((r) => r.priority === 'US-101').length === 3 && runs().every((r) => ['failed', 'succeeded'].includes(r.status)) && runs().some((r) => r.priority === 'US-102'), 30_000);
    await sleep(2000);
    const us101 = runs().filter((r) => r.priority === 'US-101');
    assert.deepEqual(us101.map((r) => [r.attempt, r.status, r.exitCode]), [[1, 'failed', 3], [2, 'failed', 3], [3, 'failed', 3]]);
    assert.deepEqual(runs().filter((r) => r.priority === 'US-102').map((r) => r.status), ['succeeded']);
  });

  it('picks up an edit of the roadmap while it runs', async () => {
    fs.writeFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), '## US-101: Only one 📝 Planned\n');
    orch = startOrchestrator(s, ['--agent-command', agentCommand('sleep:100'), '--loop']);
    await until(() => runs().some((r) => r.status === 'succeeded'), 20_000);
    fs.appendFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), '\n## US-107: Added later 📝 Planned\n');
    await until(() => runs().some((r) => r.priority === 'US-107' && r.status === 'succeeded'), 20_000);
    assert.deepEqual(traces(s).map((t) => t.priority), ['US-101', 'US-107']);
  });

  it('loop off stops requesting; the CLI refuses a loop over no roadmap', async () => {
    assert.equal((await cli(s, ['loop', 'off'])).exitCode, 0);
    orch = startOrchestrator(s, ['--agent-command', agentCommand('sleep:100')]);
    await orch.waitFor(/^reconciled/);
    await sleep(800);
    assert.equal(runs().length, 0);
    fs.rmSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'));
    const r = await cli(s, ['loop', 'on']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /No roadmap found/);
  });
});
