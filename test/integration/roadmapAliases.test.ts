import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { runLoopPass } from '../../src/core/roadmap/workLoop';
import { agentCommand, cli, FAKE_AGENT, makeSandbox, NODE, Sandbox, traces, withStore } from '../support/sandbox';
import { sleep, until } from '../support/wait';
import { ACTIVE_STATUSES } from '../../src/core/model/runStatus';

// Issue 14: a combined heading 'PRIORITY 20: US-104 - Search' is one priority reachable by
// either id, and both ids are ONE slot for the one-active-run guarantee: requests are
// canonicalised to PRIORITY-20 before the claim, so the database's unique index sees one
// priority. Real CLI processes, a real repository, a real SQLite file.
describe('roadmap aliases: one slot for both ids', function () {
  this.timeout(90_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  const activeRows = () => withStore(s, (store) => store.listRuns({ statuses: ACTIVE_STATUSES }).map((r) => r.priority));
  const writeRoadmap = (text: string) => fs.writeFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), text);

  it('six processes race `spawn PRIORITY 20` against `spawn US-104`: exactly one active run, under PRIORITY-20; five "already active"', async () => {
    const cmd = agentCommand('sleep:60000');
    const typed = ['PRIORITY 20', 'US-104', 'priority-20', 'us-104', 'PRIORITY-20', 'US-104'];
    const results = await Promise.all(typed.map((t) => cli(s, ['spawn', t, '--agent-command', cmd])));
    const won = results.filter((r) => r.exitCode === 0);
    const refused = results.filter((r) => r.exitCode === 3);
    assert.equal(won.length, 1, results.map((r) => `${r.exitCode} ${r.stderr}`).join('\n'));
    assert.equal(refused.length, 5, results.map((r) => `${r.exitCode} ${r.stderr}`).join('\n'));
    for (const r of refused) assert.match(r.stderr, /PRIORITY-20 already has an active run/);
    assert.deepEqual(activeRows(), ['PRIORITY-20']);
    await until(() => traces(s).length >= 1);
    await sleep(500);
    assert.deepEqual(traces(s).map((t) => t.priority), ['PRIORITY-20']);
  });

  it('a spawn by the alias is recorded under the canonical id, and the agent gets the clean title', async () => {
    const r = await cli(s, ['spawn', 'US-104', '--agent-command', JSON.stringify([NODE, FAKE_AGENT, 'sleep:60000', '${priority}', '${title}'])]);
    assert.equal(r.exitCode, 0, r.stderr);
    const [run] = withStore(s, (store) => store.listRuns());
    assert.deepEqual([run.priority, run.title, run.branch, run.command], ['PRIORITY-20', 'Search', 'code-developer/priority-20', [NODE, FAKE_AGENT, 'sleep:60000', 'PRIORITY-20', 'Search']]);
  });

  it('${title} hands the agent the title without its trailing tags', async () => {
    writeRoadmap('# Roadmap\n\n## 📝 PLANNED: US-201 - Analytics & Observability 🔴 NEW FOUNDATION\n');
    const r = await cli(s, ['spawn', 'US-201', '--agent-command', JSON.stringify([NODE, FAKE_AGENT, '${title}'])]);
    assert.equal(r.exitCode, 0, r.stderr);
    const [run] = withStore(s, (store) => store.listRuns());
    assert.deepEqual([run.title, run.command.at(-1)], ['Analytics & Observability', 'Analytics & Observability']);
  });

  it('`stop` finds the run by either id, or by the id typed with a space', async () => {
    for (const [spawnAs, stopAs, again] of [['PRIORITY 20', 'US-104', []], ['US-104', 'priority 20', ['--new-attempt']]] as const) {
      const r = await cli(s, ['spawn', spawnAs, ...again, '--agent-command', agentCommand('trap', 'sleep:60000')]);
      assert.equal(r.exitCode, 0, r.stderr);
      const stop = await cli(s, ['stop', stopAs]);
      assert.equal(stop.exitCode, 0, stop.stderr);
      assert.match(stop.stdout, /PRIORITY-20 #\d+ {2}stopped/, stop.stdout);
      assert.deepEqual(activeRows(), []);
    }
  });

  it('an active run recorded under the alias, before the roadmap combined the headings, still holds the slot', async () => {
    writeRoadmap('# Roadmap\n\n## US-104: Search 📝 Planned\n');
    const first = await cli(s, ['spawn', 'US-104', '--agent-command', agentCommand('sleep:60000')]);
    assert.equal(first.exitCode, 0, first.stderr);
    writeRoadmap('# Roadmap\n\n### PRIORITY 20: US-104 - Search 📝 Planned\n');
    const second = await cli(s, ['spawn', 'PRIORITY 20', '--agent-command', agentCommand('sleep:60000')]);
    assert.equal(second.exitCode, 3, second.stderr);
    assert.match(second.stderr, /US-104 already has an active run/);
    assert.deepEqual(activeRows(), ['US-104']);
  });

  it('the loop requests the combined priority once, under its canonical id, and a spawn by the alias is then "already active"', async () => {
    const store = Store.open(s.state);
    const logged: string[] = [];
    try {
      store.setLoop(s.repo, true, { agentCommand: ['agent'] });
      await runLoopPass(store, s.state, 10, (level, m) => logged.push(`${level} ${m}`));
      await runLoopPass(store, s.state, 10, (level, m) => logged.push(`${level} ${m}`));
      assert.deepEqual(store.listRuns().map((r) => r.priority).sort(), ['PRIORITY-20', 'US-036', 'US-037', 'US-038']);
    } finally {
      store.close();
    }
    assert.deepEqual(logged.filter((l) => l.startsWith('warn')), []);
    const r = await cli(s, ['spawn', 'US-104', '--agent-command', agentCommand('sleep:60000')]);
    assert.equal(r.exitCode, 3, r.stderr);
  });

  it('the loop counts a run recorded under an alias as a run of the canonical id', async () => {
    writeRoadmap('# Roadmap\n\n## US-104: Search 📝 Planned\n');
    const first = await cli(s, ['spawn', 'US-104', '--agent-command', agentCommand('sleep:60000')]);
    assert.equal(first.exitCode, 0, first.stderr);
    writeRoadmap('# Roadmap\n\n### PRIORITY 20: US-104 - Search 📝 Planned\n');
    const store = Store.open(s.state);
    const logged: string[] = [];
    try {
      store.setLoop(s.repo, true, { agentCommand: ['agent'] });
      await runLoopPass(store, s.state, 10, (level, m) => logged.push(`${level} ${m}`));
      assert.deepEqual(store.listRuns().map((r) => r.priority), ['US-104']);
    } finally {
      store.close();
    }
    assert.deepEqual(logged, [], 'skipped, not refused');
  });

  it('the loop logs the roadmap warnings once, with both line numbers of a duplicate', async () => {
    writeRoadmap('# Roadmap\n\n## US-1: One 📝\n\n## US-1: One again 📝\n');
    const store = Store.open(s.state);
    const logged: string[] = [];
    try {
      store.setLoop(s.repo, true, { agentCommand: ['agent'] });
      for (let i = 0; i < 3; i++) await runLoopPass(store, s.state, 10, (level, m) => logged.push(`${level} ${m}`));
    } finally {
      store.close();
    }
    assert.deepEqual(logged.filter((l) => l.startsWith('warn')), [
      `warn roadmap ${path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md')}: US-1 is defined on line 3 and again on line 5: line 3 is used, line 5 is ignored`,
    ]);
  });
});

describe('`worktree-orchestrator roadmap [--json]`', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());
  const writeRoadmap = (text: string) => fs.writeFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), text);
  const UNTIDY = [
    '# Roadmap',
    '## 📝 PLANNED: US-023 - Export 🔴 NEW FOUNDATION', // 2
    '**Status**: ✅ Complete',
    '### 🎯 [US-001] Bracketed',
    '### PRIORITY 20: US-104 - Search 📝 Planned', // 5
    '## US-104: Search, copied', // duplicate of the alias
    '### US-073 through US-077', // 7: a range
    '```',
    '## US-999: in a fence',
    '```',
  ].join('\n');

  it('--json prints every priority as parsed and the warnings, in the documented shape', async () => {
    writeRoadmap(UNTIDY);
    const r = await cli(s, ['roadmap', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      path: path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'),
      priorities: [
        { id: 'US-023', aliases: [], title: 'Export', status: 'complete', statusFrom: 'status-line', statusLine: 3, line: 2 },
        { id: 'US-001', aliases: [], title: 'Bracketed', status: 'unknown', statusFrom: 'none', statusLine: null, line: 4 },
        { id: 'PRIORITY-20', aliases: ['US-104'], title: 'Search', status: 'planned', statusFrom: 'heading', statusLine: null, line: 5 },
      ],
      warnings: [
        { kind: 'duplicate', line: 6, keptLine: 5, id: 'US-104', message: 'US-104 is defined on line 5 (as an alias of PRIORITY-20) and again on line 6: line 5 is used, line 6 is ignored' },
        { kind: 'not-taken', line: 7, keptLine: null, id: null, message: 'line 7: not read as a priority: it names several priorities (US-073 through US-077), not one' },
      ],
    });
  });

  it('without --json prints a table and the warnings with their line numbers', async () => {
    writeRoadmap(UNTIDY);
    const r = await cli(s, ['roadmap']);
    assert.equal(r.exitCode, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'docs/roadmap/ROADMAP.md: 3 priorities, 2 warnings');
    assert.match(lines[2], /^2 +US-023 +- +complete +status line 3 +Export$/);
    assert.match(lines[4], /^5 +PRIORITY-20 +US-104 +planned +heading +Search$/);
    assert.match(r.stdout, /Warnings:\n {2}US-104 is defined on line 5 .* line 6 is ignored\n {2}line 7: not read/);
  });

  it('refuses a repository without a roadmap, or one whose headings were all not taken, and says why', async () => {
    fs.rmSync(path.join(s.repo, 'docs'), { recursive: true });
    const missing = await cli(s, ['roadmap']);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr, /No roadmap found: looked for docs\/roadmap\/ROADMAP.md and ROADMAP.md/);
    fs.writeFileSync(path.join(s.repo, 'ROADMAP.md'), '# R\n## Epic: US-5 - Title\n');
    const none = await cli(s, ['roadmap', '--json']);
    assert.equal(none.exitCode, 1);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /has no priorities .*line 2: not read as a priority: 'Epic:' before US-5 is not a status/);
  });
});
