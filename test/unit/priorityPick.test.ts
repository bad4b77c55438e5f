import * as assert from 'node:assert/strict';
import { readRoadmap } from '../../src/core/roadmap/roadmap';
import { pickEntries } from '../../src/core/roadmap/priorityPickItems';
import type { RunStatus } from '../../src/core/model/runStatus';
import type { Run } from '../../src/core/model/run';

// The Spawn quick pick's entries (plain data; priorityPick.ts only wraps them for vscode).
describe('spawn quick pick entries: aliases and roadmap warnings', () => {
  const roadmap = readRoadmap(
    ['# Roadmap', '## US-036: Login 📝', '### PRIORITY 20: US-104 - Search 📝 Planned', '## US-104: Search, copied', '## US-039: Done ✅'].join('\n'),
  );
  const label = (s: RunStatus) => s;
  const run = (priority: string, status: RunStatus, attempt = 1) => ({ id: `r-${priority}-${attempt}`, priority, status, attempt, pid: 42 }) as unknown as Run;
  const spawnable = (entries: ReturnType<typeof pickEntries>) => entries.filter((e) => e.choice?.kind === 'spawn').map((e) => [e.label, e.description, e.choice]);

  it('lists a combined heading once, under its canonical id, with its alias in the label so typing either id finds it', () => {
    const entries = pickEntries(roadmap, [], '', false, label);
    assert.deepEqual(spawnable(entries), [
      ['US-036', 'Login', { kind: 'spawn', id: 'US-036' }],
      ['PRIORITY-20 · US-104', 'Search', { kind: 'spawn', id: 'PRIORITY-20' }],
    ]);
  });

  it('does not offer "spawn as typed" for an alias (or an id typed with a space)', () => {
    for (const typed of ['US-104', 'us-104', 'PRIORITY 20', 'priority-20']) {
      assert.equal(pickEntries(roadmap, [], typed, false, label).filter((e) => e.label.startsWith('$(edit)')).length, 0, typed);
    }
    assert.equal(pickEntries(roadmap, [], 'US-777', false, label)[0].label, '$(edit) Spawn "US-777"');
  });

  it('marks the priority active when a run holds it under its id or under an alias', () => {
    for (const held of ['PRIORITY-20', 'US-104']) {
      const entries = pickEntries(roadmap, [run(held, 'running')], '', false, label);
      const search = entries.find((e) => e.description === 'Search')!;
      assert.equal(search.choice?.kind, 'active', held);
      assert.match(search.label, /^\$\(sync~spin\) PRIORITY-20 · US-104$/);
    }
  });

  it('lists the roadmap warnings last, each with its line, to open the roadmap there', () => {
    const entries = pickEntries(roadmap, [], '', false, label);
    const at = entries.findIndex((e) => e.separator && e.label === 'Roadmap warnings (1)');
    assert.ok(at > 0);
    assert.deepEqual(entries.slice(at + 1).map((e) => [e.label, e.description, e.warningLine, e.choice]), [
      ['$(warning) line 4', 'US-104 is defined on line 3 (as an alias of PRIORITY-20) and again on line 4: line 3 is used, line 4 is ignored', 4, undefined],
    ]);
  });
});
