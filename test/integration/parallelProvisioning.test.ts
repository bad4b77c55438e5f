import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, cli, makeSandbox, NODE, Sandbox, startOrchestrator, StartedOrchestrator, traces, withStore } from '../support/sandbox';
import { until } from '../support/wait';

describe('parallel provisioning', function () {
  this.timeout(90_000);
  let s: Sandbox;
  let orch: StartedOrchestrator | undefined;
  beforeEach(() => (s = makeSandbox()));
  afterEach(async () => {
    await orch?.kill('SIGKILL');
    orch = undefined;
    s.cleanup();
  });

  /** Setup intervals [start, end] per priority, from what the setup command wrote. */
  const setups = (file: string) => {
    const spans = new Map<string, { start: number; end?: number }>();
    for (const line of fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []) {
      const [priority, what, at] = line.split(' ');
      if (what === 'start') spans.set(priority, { start: Number(at) });
      else spans.get(priority)!.end = Number(at);
    }
    return spans;
  };
  const maxOverlap = (spans: Array<{ start: number; end?: number }>) => {
    const edges = spans.flatMap((x) => [{ at: x.start, d: 1 }, { at: x.end ?? Infinity, d: -1 }]).sort((a, b) => a.at - b.at || a.d - b.d);
    let n = 0;
    let max = 0;
    for (const e of edges) max = Math.max(max, (n += e.d));
    return max;
  };

  it('maxParallel runs set up at once, never more; a stop during setup ends that run before its agent, the others go on', async () => {
    const log = path.join(s.dir, 'setups.log');
    const script = `const fs=require('fs');const p=process.env.WTO_PRIORITY;fs.appendFileSync(${JSON.stringify(log)}, p+' start '+Date.now()+'\\n');setTimeout(()=>fs.appendFileSync(${JSON.stringify(log)}, p+' end '+Date.now()+'\\n'),4000)`;
    const setup = JSON.stringify([NODE, '-e', script]);
    orch = startOrchestrator(s, ['--max-parallel', '3']);
    await orch.waitFor(/^leader/);
    for (const p of ['US-036', 'US-037', 'US-038', 'US-104']) {
      assert.equal((await cli(s, ['spawn', p, '--agent-command', agentCommand('sleep:500'), '--setup-command', setup])).exitCode, 0);
    }
    await until(() => setups(log).size >= 3, 20_000, 50, 'three setups started');
    const third = [...setups(log).keys()][2];
    assert.equal((await cli(s, ['stop', third])).exitCode, 0);
    const runs = () => withStore(s, (store) => store.listRuns());
    await until(() => runs().length === 4 && runs().every((r) => ['succeeded', 'stopped'].includes(r.status)), 60_000, 100, 'all ended');
    const spans = setups(log);
    assert.equal(spans.size, 4, 'every run set up once');
    assert.equal(maxOverlap([...spans.values()]), 3, `three setups at once, never four: ${JSON.stringify([...spans])}`);
    assert.deepEqual(runs().map((r) => `${r.priority} ${r.status}`).sort(), ['PRIORITY-20', 'US-036', 'US-037', 'US-038'].map((p) => `${p} ${p === third ? 'stopped' : 'succeeded'}`));
    const started = traces(s).map((t) => t.priority);
    assert.equal(started.length, 3, `one agent per run that was not stopped: ${started.join(', ')}`);
    assert.ok(!started.includes(third), `no agent for the stopped ${third}`);
  });
});
