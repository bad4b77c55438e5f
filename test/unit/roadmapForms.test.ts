import * as assert from 'node:assert/strict';
import { findPriority, parseRoadmap, readRoadmap } from '../../src/core/roadmap/roadmap';

// Issue 14: read real roadmaps as their authors meant them. One test per heading form and
// per rule; the lines are the shapes seen in the roadmap of the system this replaces.

const md = (...lines: string[]) => lines.join('\n');
const one = (...lines: string[]) => {
  const all = parseRoadmap(md(...lines));
  assert.equal(all.length, 1, `expected one priority, got ${JSON.stringify(all)}`);
  return all[0];
};
const brief = (...lines: string[]) => {
  const p = one(...lines);
  return { id: p.id, aliases: p.aliases, title: p.title, status: p.status, statusFrom: p.statusFrom };
};

describe('roadmap forms: status-prefixed headings', () => {
  for (const [heading, id, title, status] of [
    ['## 📝 PLANNED: US-023 - Title', 'US-023', 'Title', 'planned'],
    ['## ✅ COMPLETE: US-010 - Title', 'US-010', 'Title', 'complete'],
    ['## ✅ RECENTLY COMPLETED: US-011 - Title', 'US-011', 'Title', 'complete'],
    ['## 📝 READY TO IMPLEMENT: US-012 - Title', 'US-012', 'Title', 'planned'],
    ['### 🔄 IN PROGRESS: US-013: Streaming logs', 'US-013', 'Streaming logs', 'in-progress'],
    ['## ✅ **COMPLETE**: US-014 - Bold prefix', 'US-014', 'Bold prefix', 'complete'],
    ['## BLOCKED: PRIORITY 7 - Waiting on infra', 'PRIORITY-7', 'Waiting on infra', 'blocked'],
    ['#### PLANNED: [US-015] Bracketed after a prefix', 'US-015', 'Bracketed after a prefix', 'planned'],
  ] as const) {
    it(`'${heading}' is ${id} '${title}', ${status} from its prefix`, () => {
      assert.deepEqual(brief(heading), { id, aliases: [], title, status, statusFrom: 'prefix' });
    });
  }

  it('the prefix gives the status unless a Status line under the heading says otherwise', () => {
    const p = one('## 📝 PLANNED: US-023 - Title', '', '**Status**: ✅ Complete (2025-10-19)');
    assert.deepEqual([p.status, p.statusFrom, p.statusLine], ['complete', 'status-line', 3]);
  });

  it('a prefix that is not a status is not taken, and the warning says why', () => {
    const r = readRoadmap(md('# Roadmap', '## Epic: US-12 - Title', '## Notes: nothing here'));
    assert.deepEqual(r.priorities, []);
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.line]), [['not-taken', 2]]);
    assert.match(r.warnings[0].message, /line 2: .*'Epic:' before US-12 is not a status/);
  });
});

describe('roadmap forms: bracketed headings', () => {
  it("'### 🎯 [US-001] Title' is US-001 'Title', with no status (🎯 is not one)", () => {
    assert.deepEqual(brief('### 🎯 [US-001] Title'), { id: 'US-001', aliases: [], title: 'Title', status: 'unknown', statusFrom: 'none' });
  });

  it('reads brackets with a separator after them, a PRIORITY id, and a status emoji', () => {
    assert.deepEqual(brief('## [PRIORITY 3]: Search ✅ Complete'), { id: 'PRIORITY-3', aliases: [], title: 'Search', status: 'complete', statusFrom: 'heading' });
    assert.deepEqual(brief('## ✅ [US-002] - Done thing'), { id: 'US-002', aliases: [], title: 'Done thing', status: 'complete', statusFrom: 'heading' });
  });

  it('an unclosed bracket is not taken, with a warning', () => {
    const r = readRoadmap('## [US-003 Title');
    assert.deepEqual(r.priorities, []);
    assert.match(r.warnings[0].message, /not closed by '\]'/);
  });
});

describe('roadmap forms: the forms read before, with where their status came from', () => {
  for (const [heading, id, aliases, title, status, from] of [
    ['## US-036: Title', 'US-036', [], 'Title', 'unknown', 'none'],
    ['### PRIORITY 2.5: UX Documentation ✅ Complete', 'PRIORITY-2.5', [], 'UX Documentation', 'complete', 'heading'],
    ['### 🟢 **PRIORITY 8: Something** ✅ **COMPLETE** (2025-10-19)', 'PRIORITY-8', [], 'Something', 'complete', 'heading'],
    ['### PRIORITY 20: US-104 - Title', 'PRIORITY-20', ['US-104'], 'Title', 'unknown', 'none'],
    ['### PRIORITY 21: US-105: Colon title 📝 Planned', 'PRIORITY-21', ['US-105'], 'Colon title', 'planned', 'heading'],
    ['## PRIORITY 22 - US-106 - Dashes all along', 'PRIORITY-22', ['US-106'], 'Dashes all along', 'unknown', 'none'],
  ] as const) {
    it(`'${heading}'`, () => {
      assert.deepEqual(brief(heading), { id, aliases, title, status, statusFrom: from });
    });
  }
});

describe('roadmap forms: headings that are not priorities', () => {
  it('ranges and lists of ids are not priorities, and say so', () => {
    const r = readRoadmap(md('### US-073 through US-077', '### US-073 – US-077: Analytics suite', '## US-1 & US-2', '## PRIORITY 3 to PRIORITY 5'));
    assert.deepEqual(r.priorities, []);
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.line]), [['not-taken', 1], ['not-taken', 2], ['not-taken', 3], ['not-taken', 4]]);
    assert.match(r.warnings[0].message, /line 1: .*several priorities \(US-073 through US-077\)/);
    assert.match(r.warnings[1].message, /line 2: .*a range of priorities/);
  });

  it('headings that only mention a priority are not priorities, and are not warned about', () => {
    const r = readRoadmap(md(
      '## 🔴 TOP PRIORITY FOR code_developer (START HERE)',
      '#### Future Enhancements (Post-PRIORITY 4)',
      '#### Week 1: Setup 🔴 PRIORITY 1',
      '## Priority list',
      '## us-036: lowercase prefix is prose',
    ));
    assert.deepEqual(r, { priorities: [], warnings: [] });
  });

  it('a heading that starts with an id but goes on wrongly is warned about', () => {
    const r = readRoadmap(md('### PRIORITY 4) Not a separator', '## US-036-2: Sub-id', '## US-1234567890: ten digits'));
    assert.deepEqual(r.priorities, []);
    assert.deepEqual(r.warnings.map((w) => w.line), [1, 2, 3]);
    assert.match(r.warnings[0].message, /PRIORITY-4 is followed by '\) Not a separator'/);
    assert.match(r.warnings[2].message, /too long/);
  });
});

describe('roadmap rules: status', () => {
  it('a Status line wins over the heading emoji (heading still 📝, status line ✅)', () => {
    const p = one('### 📝 US-5: Export 📝 Planned', 'text', '**Status**: ✅ Complete');
    assert.deepEqual([p.status, p.statusFrom, p.statusLine], ['complete', 'status-line', 3]);
  });

  for (const heading of ['## 🔴 US-6: Urgent thing', '## 🚨 US-7: Alarm ⚡', '## 🎯 US-8: Target', '## US-9: Fast ⚡ 🔥', '## 🟢 US-10: Green']) {
    it(`urgency markers are not statuses: '${heading}' has none`, () => {
      const p = one(heading);
      assert.deepEqual([p.status, p.statusFrom], ['unknown', 'none']);
    });
  }

  it('an urgency marker in a Status line is not a status either: the heading keeps its own, with a warning', () => {
    const r = readRoadmap(md('## US-1: a 📝', '**Status**: 🔴 CRITICAL'));
    assert.deepEqual(r.priorities.map((p) => [p.status, p.statusFrom]), [['planned', 'heading']]);
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.line, w.id]), [['status-unknown', 2, 'US-1']]);
    assert.match(r.warnings[0].message, /🔴 CRITICAL/);
  });

  it('a Status line with an urgency marker before the status reads the status', () => {
    assert.equal(one('## US-1: a', '**Status**: 🚨 URGENT - 📝 Planned').status, 'planned');
  });
});

describe('roadmap rules: titles stop before trailing tag words', () => {
  for (const [heading, title] of [
    ['## US-201: Analytics & Observability 🔴 NEW FOUNDATION', 'Analytics & Observability'],
    ['## US-202: Fix the spawn race P0 CRITICAL - DO THIS FIRST!', 'Fix the spawn race'],
    ['## US-203: Login page - HIGH PRIORITY', 'Login page'],
    ['## US-204: Login page (P1)', 'Login page'],
    ['## 📝 PLANNED: US-205 - Metrics 🚨 URGENT 📝', 'Metrics'],
    // what is title stays title
    ['## US-206: Expose the REST API', 'Expose the REST API'],
    ['## US-207: Support 🌍 internationalisation', 'Support internationalisation'],
    ['## US-208: Fix P0 bug in login', 'Fix P0 bug in login'],
    ['## US-209: 🚀 Launch', 'Launch'],
    ['## US-210: NEW', 'NEW'],
    ['## US-211: Title (see ADR-7) 🔴 CRITICAL', 'Title (see ADR-7)'],
  ] as const) {
    it(`'${heading}' is titled '${title}'`, () => {
      assert.equal(one(heading).title, title);
    });
  }
});

describe('roadmap rules: aliases', () => {
  const list = parseRoadmap(md('## US-036: a', '### PRIORITY 20: US-104 - Search', '## US-020: d'));

  it('a combined heading is reachable by either id, in any case, and gives the canonical one', () => {
    for (const typed of ['PRIORITY 20', 'priority-20', 'US-104', 'us-104', ' US-104 ', 'US-0104', '104']) {
      assert.equal(findPriority(list, typed)?.id, 'PRIORITY-20', typed);
    }
    assert.equal(findPriority(list, '20'), undefined, 'PRIORITY-20 and US-020 both match 20');
  });

  it('an alias equal to the id is no alias', () => {
    assert.deepEqual(one('## US-5: US-5 - Same').aliases, []);
  });
});

describe('roadmap rules: duplicates (the first definition wins, both lines are named)', () => {
  it('a second heading with the same id is ignored, with a warning naming both lines', () => {
    const r = readRoadmap(md('## US-1: First ✅', '## US-2: Other', '## US-1: Second 📝', '**Status**: Blocked'));
    assert.deepEqual(r.priorities.map((p) => [p.id, p.title, p.status, p.line]), [['US-1', 'First', 'complete', 1], ['US-2', 'Other', 'unknown', 2]]);
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.id, w.line, w.keptLine]), [['duplicate', 'US-1', 3, 1]]);
    assert.equal(r.warnings[0].message, 'US-1 is defined on line 1 and again on line 3: line 1 is used, line 3 is ignored');
  });

  it('a heading whose id is an earlier alias is a duplicate of that priority', () => {
    const r = readRoadmap(md('### PRIORITY 20: US-104 - Search', 'x', '## US-104: Search again'));
    assert.deepEqual(r.priorities.map((p) => p.id), ['PRIORITY-20']);
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.id, w.line, w.keptLine]), [['duplicate', 'US-104', 3, 1]]);
    assert.match(r.warnings[0].message, /US-104 is defined on line 1 \(as an alias of PRIORITY-20\) and again on line 3/);
  });

  it('an alias that is already taken is dropped from the later heading, with a warning', () => {
    const r = readRoadmap(md('## US-104: Search', '### PRIORITY 20: US-104 - Search, renumbered'));
    assert.deepEqual(r.priorities.map((p) => [p.id, p.aliases]), [['US-104', []], ['PRIORITY-20', []]]);
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.id, w.line, w.keptLine]), [['alias-taken', 'US-104', 2, 1]]);
    assert.match(r.warnings[0].message, /on line 1, so line 2 \(PRIORITY-20\) does not get it/);
  });

  it('PRIORITY 20 and PRIORITY-20 are the same id, so the second is a duplicate', () => {
    const r = readRoadmap(md('## PRIORITY 20: a', '## PRIORITY-20: b'));
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.line, w.keptLine]), [['duplicate', 2, 1]]);
  });
});
