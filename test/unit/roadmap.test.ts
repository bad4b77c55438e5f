import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  findPriority,
  findRoadmapPath,
  loadRoadmap,
  parseRoadmap,
  PRIORITY_ID_RE,
  RoadmapError,
  type RoadmapPriority,
} from '../../src/core/roadmap/roadmap';
import { generateBigRoadmap } from '../fixtures/bigRoadmap';

/** Lines joined with '\n', so tests read like the markdown they feed in. */
const md = (...lines: string[]) => lines.join('\n');
const one = (...lines: string[]) => {
  const all = parseRoadmap(md(...lines));
  assert.equal(all.length, 1, `expected one priority, got ${JSON.stringify(all)}`);
  return all[0];
};
const ids = (text: string) => parseRoadmap(text).map((p) => p.id);

describe('roadmap: parseRoadmap headings', () => {
  it('reads a user-story heading with id, title and 1-based line', () => {
    assert.deepEqual(parseRoadmap(md('# Roadmap', '', '## US-036: Spawn agents in worktrees')), [
      { id: 'US-036', aliases: [], title: 'Spawn agents in worktrees', status: 'unknown', statusFrom: 'none', line: 3 },
    ]);
  });

  it("reads 'PRIORITY N' with a space as PRIORITY-N, and status from the heading emoji", () => {
    assert.deepEqual(one('### PRIORITY 20: Title 📝 Planned'), {
      id: 'PRIORITY-20', aliases: [], title: 'Title', status: 'planned', statusFrom: 'heading', line: 1,
    });
  });

  it('reads decimal numbers', () => {
    const p = one('### PRIORITY 2.5: UX Documentation ✅ Complete');
    assert.equal(p.id, 'PRIORITY-2.5');
    assert.equal(p.title, 'UX Documentation');
    assert.equal(p.status, 'complete');
  });

  it('reads bold and coloured headings', () => {
    const p = one('### 🟢 **PRIORITY 8: Something** ✅ **COMPLETE** (2025-10-19)');
    assert.deepEqual([p.id, p.title, p.status], ['PRIORITY-8', 'Something', 'complete']);
    assert.equal(one('## **PRIORITY 9**: Bold id only').id, 'PRIORITY-9');
    assert.equal(one('## **PRIORITY 9**: Bold id only').title, 'Bold id only');
  });

  // Changed by issue 14: the second id used to be left in the title; it is an alias now.
  it('reads a combined heading as one priority: the first id, the second as its alias, the title after both', () => {
    const p = one('### PRIORITY 20: US-104 - Title');
    assert.deepEqual([p.id, p.aliases, p.title], ['PRIORITY-20', ['US-104'], 'Title']);
  });

  it("accepts ':' or a spaced dash or the end after the id", () => {
    assert.deepEqual(ids(md('## US-104 - Dash title', '## US-105 — Em dash', '## US-106', '## PRIORITY-7: Dashed priority')), [
      'US-104', 'US-105', 'US-106', 'PRIORITY-7',
    ]);
    assert.equal(one('## US-104 - Dash title').title, 'Dash title');
    assert.equal(one('## US-106').title, '');
  });

  it('accepts any case of the word priority but canonicalises it to uppercase', () => {
    assert.equal(one('### Priority 3: Mixed case').id, 'PRIORITY-3');
  });

  it('uses heading levels 2 to 4 only', () => {
    assert.deepEqual(ids(md('# US-1: h1', '## US-2: h2', '### US-3: h3', '#### US-4: h4', '##### US-5: h5', '###### US-6: h6')), [
      'US-2', 'US-3', 'US-4',
    ]);
  });

  it('allows up to 3 spaces of indentation, a closing # sequence and trailing blanks', () => {
    const p = one('   ## US-7: Closed heading ##   ');
    assert.deepEqual([p.id, p.title], ['US-7', 'Closed heading']);
    assert.deepEqual(ids(md('    ## US-8: indented code, not a heading', '##US-9: no space after hashes')), []);
  });

  it('ignores headings that mention a priority without starting with one', () => {
    assert.deepEqual(
      ids(md(
        '## 🔴 TOP PRIORITY FOR code_developer (START HERE)',
        '#### Future Enhancements (Post-PRIORITY 4)',
        '#### Week 1: Setup 🔴 PRIORITY 1',
        '### PRIORITY 4) Not a separator',
        '### PRIORITY 1 of 3',
        '## US-036-2: Sub-id is not an id',
        '## US-036x: glued letters',
        '## us-036: lowercase prefix is prose',
        '## Step-2: mixed case prefix is prose',
        '## Priority list',
        '## PRIORITY: no number',
      )),
      [],
    );
  });

  it('rejects ids whose number is too long to be safe', () => {
    assert.deepEqual(ids(md('## US-1234567890: ten digits', '## PRIORITY 2.1234567890: long decimal', '## ABCDEFGHIJKLMNOPQ-1: long prefix')), []);
  });

  it('keeps the first of duplicate ids', () => {
    const all = parseRoadmap(md('## US-1: First ✅', '## US-2: Other', '## US-1: Second 📝', '**Status**: Blocked'));
    assert.deepEqual(all.map((p) => [p.id, p.title, p.status, p.line]), [
      ['US-1', 'First', 'complete', 1],
      ['US-2', 'Other', 'unknown', 2],
    ]);
  });

  it('treats PRIORITY 20 and PRIORITY-20 as the same id', () => {
    assert.deepEqual(ids(md('## PRIORITY 20: a', '## PRIORITY-20: b')), ['PRIORITY-20']);
  });

  it('counts lines with CRLF and CR line ends and ignores a BOM', () => {
    assert.deepEqual(parseRoadmap('\uFEFF## US-1: a\r\ntext\r\n## US-2: b\rx\r## US-3: c').map((p) => [p.id, p.line]), [
      ['US-1', 1], ['US-2', 3], ['US-3', 5],
    ]);
  });

  it('strips emojis and bold from titles but keeps the rest', () => {
    assert.equal(one('## US-10: 🚀 Launch **the** `cli` (phase 2)').title, 'Launch the `cli` (phase 2)');
  });

  it('returns no priorities for empty or heading-less text', () => {
    assert.deepEqual(parseRoadmap(''), []);
    assert.deepEqual(parseRoadmap('just prose\n\nmore prose'), []);
  });
});

describe('roadmap: parseRoadmap code fences and comments', () => {
  it('ignores headings in backtick fences with an info string', () => {
    assert.deepEqual(ids(md('```markdown', '## US-1: example', '```', '## US-2: real')), ['US-2']);
  });

  it('ignores headings in tilde fences', () => {
    assert.deepEqual(ids(md('~~~', '## US-1: example', '~~~', '## US-2: real')), ['US-2']);
  });

  it('closes a fence only with the same character', () => {
    assert.deepEqual(ids(md('~~~', '```', '## US-1: inside', '~~~', '## US-2: real')), ['US-2']);
    assert.deepEqual(ids(md('```', '~~~', '## US-1: inside', '```', '## US-2: real')), ['US-2']);
  });

  it('closes a fence only with a fence at least as long', () => {
    assert.deepEqual(ids(md('````', '```', '## US-1: inside', '````', '## US-2: real')), ['US-2']);
    assert.deepEqual(ids(md('```', '## US-1: inside', '`````', '## US-2: real')), ['US-2']);
  });

  it('does not close a fence with a line that has an info string, but does with trailing blanks', () => {
    assert.deepEqual(ids(md('```', '```js', '## US-1: inside', '```   ', '## US-2: real')), ['US-2']);
  });

  it('does not take inline code with backticks for a fence', () => {
    assert.deepEqual(ids(md('```js```', '## US-1: real')), ['US-1']);
  });

  it('hides everything after an unclosed fence', () => {
    assert.deepEqual(ids(md('## US-1: before', '```', '## US-2: never closed')), ['US-1']);
  });

  it('recognises fences indented inside list items', () => {
    assert.deepEqual(ids(md('- step:', '      ```bash', '## US-1: inside', '      ```', '## US-2: real')), ['US-2']);
  });

  it('ignores Status lines inside fences', () => {
    assert.equal(one('## US-1: a', '```', '**Status**: ✅ Complete', '```').status, 'unknown');
  });

  it('ignores headings and Status lines inside HTML comments', () => {
    assert.deepEqual(ids(md('<!--', '## US-1: template', '-->', '<!-- ## US-2: one-line -->', '## US-3: real')), ['US-3']);
    assert.equal(one('## US-3: real', '<!-- **Status**: Done -->').status, 'unknown');
  });
});

describe('roadmap: parseRoadmap status', () => {
  const statusOf = (...lines: string[]) => one(...lines).status;

  for (const [line, status] of [
    ['**Status**: 📝 PLANNED', 'planned'],
    ['**Status**: 📝 **PLANNED** (Created 2025-10-01)', 'planned'],
    ['**Status**: ✅ Complete (2025-10-19) - HIGH PRIORITY, was blocked', 'complete'],
    ['**Status**: 📝 Backlog', 'planned'],
    ['**Status**: backlog', 'planned'],
    ['**Status**: 🔄 In Progress', 'in-progress'],
    ['**Status**: in-progress since Monday', 'in-progress'],
    ['**Status**: ⏸️ Blocked on US-12', 'blocked'],
    ['**Status**: BLOCKED', 'blocked'],
    ['**Status**: Done', 'complete'],
    ['**Status**: ✅', 'complete'],
    ['**Status:** Complete', 'complete'],
    ['- **Status**: complete', 'complete'],
    ['Status: planned', 'planned'],
    ['**STATUS**: In progress', 'in-progress'],
  ] as const) {
    it(`reads '${line}' as ${status}`, () => {
      assert.equal(statusOf('### PRIORITY 1: Something', '', line), status);
    });
  }

  it('lets the Status line win over the heading', () => {
    assert.equal(statusOf('### PRIORITY 1: Something ✅ Complete', '**Status**: 🔄 In Progress'), 'in-progress');
  });

  it('keeps the heading status when the Status line says nothing known', () => {
    assert.equal(statusOf('### PRIORITY 1: Something ✅', '**Status**: under review'), 'complete');
  });

  it('uses only the first Status line of a section', () => {
    assert.equal(statusOf('## US-1: a', '**Status**: 📝 Planned', '#### Phase 1', '**Status**: ✅ Complete'), 'planned');
  });

  it('finds the Status line under a deeper non-priority heading', () => {
    assert.equal(statusOf('## US-1: a', '### Details', 'text', '**Status**: ✅ Done'), 'complete');
  });

  it('does not read a Status line after the section ends', () => {
    assert.deepEqual(
      parseRoadmap(md('### US-1: a', '### Notes', '**Status**: ✅ Complete', '## Other', '**Status**: ⏸️ Blocked')).map((p) => p.status),
      ['unknown'],
    );
  });

  it('gives a nested priority its own Status line, not its parent', () => {
    const all = parseRoadmap(md('## PRIORITY 5: Epic', '### US-1: Story', '**Status**: ✅ Complete', '## US-2: Next', '**Status**: 📝 Planned'));
    assert.deepEqual(all.map((p) => [p.id, p.status]), [['PRIORITY-5', 'unknown'], ['US-1', 'complete'], ['US-2', 'planned']]);
  });

  it('does not pass the Status line of an ignored duplicate to the enclosing priority', () => {
    const all = parseRoadmap(md('## US-1: a', '## PRIORITY 5: Epic', '### US-1: dup', '**Status**: ✅ Complete'));
    assert.deepEqual(all.map((p) => [p.id, p.status]), [['US-1', 'unknown'], ['PRIORITY-5', 'unknown']]);
  });

  for (const [heading, status, title] of [
    ['## US-1: Title 🔄 In Progress', 'in-progress', 'Title'],
    ['## US-1: Title ⏸️ Blocked', 'blocked', 'Title'],
    ['## US-1: Title 📝', 'planned', 'Title'],
    ['## ✅ US-1: Title', 'complete', 'Title'],
    ['## US-1 ✅ Complete', 'complete', ''],
    ['## US-1: Title (Planned)', 'planned', 'Title'],
    ['## US-1: Title - COMPLETE', 'complete', 'Title'],
    ['## US-1: Title [Done]', 'complete', 'Title'],
    ['## US-1: Title **BLOCKED** (2025-10-19)', 'blocked', 'Title'],
    ['## US-1: Title - Complete ✅', 'complete', 'Title'],
    ['## US-1: Complete the onboarding flow', 'unknown', 'Complete the onboarding flow'],
    ['## US-1: Fix blocked spawns', 'unknown', 'Fix blocked spawns'],
    ['## US-1: Show when an agent is blocked', 'unknown', 'Show when an agent is blocked'],
    ['## US-1: Mark tasks done', 'unknown', 'Mark tasks done'],
    ['## US-1: Complete the onboarding flow 📝 Planned', 'planned', 'Complete the onboarding flow'],
  ] as const) {
    it(`reads heading '${heading}' as ${status} titled '${title}'`, () => {
      const p = one(heading);
      assert.deepEqual([p.status, p.title], [status, title]);
    });
  }
});

describe('roadmap: findPriority', () => {
  const list = parseRoadmap(md('## US-036: a', '## PRIORITY 20: b', '## PRIORITY 2.5: c', '## US-020: d', '## FEAT-7: e'));
  const find = (typed: string) => findPriority(list, typed)?.id;

  it('finds exact ids in any case', () => {
    assert.equal(find('US-036'), 'US-036');
    assert.equal(find('us-036'), 'US-036');
    assert.equal(find('  priority-20 '), 'PRIORITY-20');
    assert.equal(find('PRIORITY 20'), 'PRIORITY-20');
    assert.equal(find('Priority 2.5'), 'PRIORITY-2.5');
  });

  it('ignores leading zeros of the number', () => {
    assert.equal(find('US-36'), 'US-036');
    assert.equal(find('PRIORITY-020'), 'PRIORITY-20');
  });

  it('accepts a bare number only when one priority has it', () => {
    assert.equal(find('36'), 'US-036');
    assert.equal(find('7'), 'FEAT-7');
    assert.equal(find('2.5'), 'PRIORITY-2.5');
    assert.equal(find('20'), undefined, 'PRIORITY-20 and US-020 both match');
  });

  it('returns undefined for unknown or empty input', () => {
    assert.equal(find('US-999'), undefined);
    assert.equal(find(''), undefined);
    assert.equal(find('   '), undefined);
    assert.equal(find('../../etc'), undefined);
    assert.equal(find('2.'), undefined);
  });
});

describe('roadmap: findRoadmapPath and loadRoadmap on disk', () => {
  let repo: string;
  let outside: string;
  const write = (rel: string, text: string) => {
    const file = path.join(repo, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  };
  const throwsRoadmap = (fn: () => unknown, message: RegExp | string) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof RoadmapError, `not a RoadmapError: ${String(e)}`);
      assert.ok(e instanceof Error);
      assert.equal(e.name, 'RoadmapError');
      if (typeof message === 'string') assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    });

  beforeEach(() => {
    repo = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'roadmap-repo-')));
    outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'roadmap-outside-')));
  });
  afterEach(() => {
    fs.rmSync(repo, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('prefers docs/roadmap/ROADMAP.md over ROADMAP.md', () => {
    write('ROADMAP.md', '## US-1: root');
    const docs = write('docs/roadmap/ROADMAP.md', '## US-2: docs');
    assert.equal(findRoadmapPath(repo), docs);
    assert.deepEqual(loadRoadmap(repo), { path: docs, priorities: [{ id: 'US-2', aliases: [], title: 'docs', status: 'unknown', statusFrom: 'none', line: 1 }], warnings: [] });
  });

  it('falls back to ROADMAP.md', () => {
    const root = write('ROADMAP.md', '## US-1: root');
    assert.equal(findRoadmapPath(repo), root);
    assert.equal(loadRoadmap(repo).priorities[0].id, 'US-1');
  });

  it('skips a directory named like the roadmap', () => {
    fs.mkdirSync(path.join(repo, 'docs/roadmap/ROADMAP.md'), { recursive: true });
    const root = write('ROADMAP.md', '## US-1: root');
    assert.equal(findRoadmapPath(repo), root);
  });

  it('reports a missing roadmap with where it looked', () => {
    assert.equal(findRoadmapPath(repo), undefined);
    throwsRoadmap(() => loadRoadmap(repo), `No roadmap found: looked for docs/roadmap/ROADMAP.md and ROADMAP.md in ${repo}`);
    throwsRoadmap(() => loadRoadmap(path.join(repo, 'no-such-dir')), /^No roadmap found/);
  });

  it('reports a roadmap without priorities', () => {
    const file = write('ROADMAP.md', '# Roadmap\n\n## Ideas\n\n```\n## US-1: only in a fence\n```\n');
    throwsRoadmap(() => loadRoadmap(repo), `${file} has no priorities (headings such as '## US-036: Title' or '### PRIORITY 20: Title')`);
  });

  it('uses a configured path relative to the repository, and only that path', () => {
    write('ROADMAP.md', '## US-1: default');
    const plan = write('planning/PLAN.md', '## US-2: configured');
    assert.equal(findRoadmapPath(repo, 'planning/PLAN.md'), plan);
    assert.equal(loadRoadmap(repo, 'planning/PLAN.md').priorities[0].id, 'US-2');
    assert.equal(findRoadmapPath(repo, 'planning/MISSING.md'), undefined);
    throwsRoadmap(() => loadRoadmap(repo, 'planning/MISSING.md'), /No roadmap found: looked for planning\/MISSING\.md .* in /);
  });

  it('treats an empty or blank configured path as not set', () => {
    const root = write('ROADMAP.md', '## US-1: root');
    assert.equal(findRoadmapPath(repo, ''), root);
    assert.equal(findRoadmapPath(repo, '   '), root);
  });

  it('accepts an absolute configured path inside the repository', () => {
    const plan = write('PLAN.md', '## US-2: configured');
    assert.equal(findRoadmapPath(repo, plan), plan);
  });

  it('refuses a configured path that escapes the repository', () => {
    fs.writeFileSync(path.join(outside, 'ROADMAP.md'), '## US-1: outside');
    const rel = path.relative(repo, path.join(outside, 'ROADMAP.md'));
    assert.ok(rel.startsWith('..'));
    throwsRoadmap(() => findRoadmapPath(repo, rel), /outside the repository/);
    throwsRoadmap(() => loadRoadmap(repo, rel), /outside the repository/);
    throwsRoadmap(() => loadRoadmap(repo, 'docs/../../x/ROADMAP.md'), /outside the repository/);
    throwsRoadmap(() => loadRoadmap(repo, '..'), /outside the repository/);
  });

  it('refuses an absolute configured path outside the repository', () => {
    const file = path.join(outside, 'ROADMAP.md');
    fs.writeFileSync(file, '## US-1: outside');
    throwsRoadmap(() => findRoadmapPath(repo, file), /outside the repository/);
  });

  it('allows names that merely start with two dots', () => {
    const file = write('..notes.md', '## US-1: dots');
    assert.equal(findRoadmapPath(repo, '..notes.md'), file);
  });

  it('refuses a roadmap that is a symlink to a file outside the repository', function () {
    const target = path.join(outside, 'secret.md');
    fs.writeFileSync(target, '## US-1: outside');
    try {
      fs.symlinkSync(target, path.join(repo, 'ROADMAP.md'));
    } catch {
      this.skip(); // no symlink permission (Windows without developer mode)
    }
    throwsRoadmap(() => findRoadmapPath(repo), /leads outside the repository/);
    throwsRoadmap(() => loadRoadmap(repo, 'ROADMAP.md'), /leads outside the repository/);
  });

  it('reports an unreadable roadmap as a RoadmapError', function () {
    if (process.platform === 'win32' || process.getuid?.() === 0) this.skip(); // root reads anything
    const file = write('ROADMAP.md', '## US-1: a');
    fs.chmodSync(file, 0o000);
    throwsRoadmap(() => loadRoadmap(repo), /^Cannot read roadmap/);
  });

  it('loads a 1.1 MB roadmap from disk', () => {
    const big = generateBigRoadmap();
    write('docs/roadmap/ROADMAP.md', big.text);
    assert.equal(loadRoadmap(repo).priorities.length, big.expected.length);
  });
});

describe('roadmap: big untidy roadmap', () => {
  it('parses a generated 1.1 MB roadmap with 140 priorities and 500+ fence lines correctly', () => {
    const big = generateBigRoadmap(140);
    const bytes = Buffer.byteLength(big.text);
    const fenceLines = big.text.split('\n').filter((l) => /^\s*(```|~~~)/.test(l)).length;
    assert.ok(bytes >= 1_100_000, `only ${bytes} bytes`);
    assert.ok(fenceLines >= 500, `only ${fenceLines} fence lines`);
    assert.equal(fenceLines, big.fenceLines);

    const times: number[] = [];
    let result: RoadmapPriority[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      result = parseRoadmap(big.text);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(
      `      parse of ${(bytes / 1e6).toFixed(2)} MB, ${result.length} priorities, ${fenceLines} fence lines: ` +
        `first ${times[0].toFixed(1)} ms, best of 5 ${Math.min(...times).toFixed(1)} ms`,
    );

    assert.equal(result.length, 140);
    assert.deepEqual(result.map(({ id, title, status }) => ({ id, title, status })), big.expected);
    assert.ok(result.every((p) => PRIORITY_ID_RE.test(p.id)));
    const lines = big.text.split('\n');
    assert.ok(result.every((p) => /^#{2,4} /.test(lines[p.line - 1])), 'line points at the heading');
  });
});
