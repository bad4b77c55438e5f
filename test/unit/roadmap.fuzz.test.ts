import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { findPriority, parseRoadmap, PRIORITY_ID_RE, readRoadmap, type PriorityStatus, type StatusSource } from '../../src/core/roadmap/roadmap';

/**
 * Property tests: the roadmap is user-controlled text, and ids flow into branch names and
 * directory names, so no input may crash the parser or produce an unsafe id.
 */

const STATUSES = new Set(['planned', 'in-progress', 'complete', 'blocked', 'unknown']);
/** Safe for a path segment and a git ref: no '..', '/', '\\', spaces, control chars, leading '-'. */
function assertSafeId(id: string) {
  assert.match(id, PRIORITY_ID_RE);
  assert.ok(!id.includes('..') && !/[\s/\\\p{Cc}~^:?*[@{]/u.test(id) && !id.startsWith('-'), id);
}

const emoji = fc.constantFrom('🟢', '🔴', '✅', '📝', '🔄', '⏸️', '🚧', '👍🏽', '🇫🇷', '1️⃣', '\u200D', '');
const bold = fc.constantFrom('', '**', '__', '*');
const idText = fc.oneof(
  fc.tuple(fc.constantFrom('PRIORITY ', 'Priority-', 'PRIORITY-', 'US-', 'FEAT-', 'us-', 'X-', 'TOP PRIORITY '), fc.stringMatching(/^[0-9]{1,12}(\.[0-9]{0,3})?$/)).map(([a, b]) => a + b),
  fc.string({ maxLength: 12 }),
);
const sep = fc.constantFrom(': ', ' - ', ' — ', '', ' ', ') ', '-', '.', ':');
const anyText = fc.string({ unit: 'binary', maxLength: 60 }); // any code point, lone surrogates too
const heading = fc
  .tuple(fc.stringMatching(/^ {0,4}#{1,7} ?$/), emoji, bold, idText, bold, sep, anyText, emoji, fc.constantFrom('', ' Complete', ' **PLANNED**', ' (Done)', ' ##'))
  .map((parts) => parts.join(''));
const fence = fc.tuple(fc.stringMatching(/^[ \t]{0,6}$/), fc.constantFrom('```', '````', '~~~', '~~~~~', '``', '`````'), fc.constantFrom('', 'js', 'python', '`x`', '   ')).map((p) => p.join(''));
const statusLine = fc
  .tuple(fc.constantFrom('**Status**: ', '**Status:** ', '- status: ', 'STATUS : ', '> **Status**:'), emoji, fc.constantFrom('PLANNED', 'In Progress', 'done', 'Backlog', 'blocked', '???', ''), anyText)
  .map((p) => p.join(''));
const longLine = fc
  .tuple(fc.constantFrom('', '## ', '## US-1: ', '**Status**: ', '```'), fc.constantFrom(' ', '*', '#', '`', '-', ' -', '✅', 'a', '(', '\t'), fc.integer({ min: 1_000, max: 40_000 }))
  .map(([prefix, unit, n]) => prefix + unit.repeat(Math.ceil(n / unit.length)) + 'x');
const markdownLine = fc.oneof(
  { weight: 4, arbitrary: heading },
  { weight: 2, arbitrary: fence },
  { weight: 2, arbitrary: statusLine },
  { weight: 3, arbitrary: anyText },
  { weight: 1, arbitrary: fc.constantFrom('<!--', '-->', '<!-- x -->', '', '\r', '\uFEFF## US-2: bom') },
  { weight: 1, arbitrary: longLine },
);
const markdown = fc.tuple(fc.array(markdownLine, { maxLength: 60 }), fc.constantFrom('\n', '\r\n', '\r')).map(([lines, eol]) => lines.join(eol));

describe('roadmap: fuzz', () => {
  it('never throws and returns well-formed priorities on random markdown', () => {
    fc.assert(
      fc.property(markdown, (text) => {
        const all = parseRoadmap(text);
        const lineCount = text.split(/\r\n|\r|\n/).length;
        const seen = new Set<string>();
        let last = 0;
        for (const p of all) {
          assertSafeId(p.id);
          // One slot per id: no id or alias is listed twice, across all priorities.
          for (const id of [p.id, ...p.aliases]) {
            assertSafeId(id);
            assert.ok(!seen.has(id), `duplicate ${id}`);
            seen.add(id);
          }
          assert.ok(STATUSES.has(p.status), p.status);
          assert.equal(typeof p.title, 'string');
          assert.ok(!/[\r\n]/.test(p.title));
          assert.ok(Number.isInteger(p.line) && p.line > last && p.line <= lineCount, `line ${p.line}`);
          last = p.line;
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary strings, including lone surrogates and control characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (text) => {
        for (const p of parseRoadmap(text)) assertSafeId(p.id);
      }),
      { numRuns: 1000 },
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(markdown, (text) => {
        assert.deepEqual(parseRoadmap(text), parseRoadmap(text));
      }),
      { numRuns: 300 },
    );
  });

  it('finds nothing inside a fence longer than any fence in its content', () => {
    fc.assert(
      fc.property(markdown, fc.constantFrom('`', '~'), (content, char) => {
        const longest = Math.max(2, ...(content.match(char === '`' ? /`+/g : /~+/g) ?? []).map((r) => r.length));
        const f = char.repeat(longest + 1);
        assert.deepEqual(parseRoadmap(`${f}\n${content}\n${f}`), []);
      }),
      { numRuns: 500 },
    );
  });

  it('finds every well-formed priority heading among plain prose, in order', () => {
    const priority = fc.tuple(
      fc.constantFrom('##', '###', '####'),
      fc.constantFrom('', '🟢 ', '**', '🔴 **'),
      fc.oneof(
        fc.nat({ max: 999 }).map((n) => ({ text: `PRIORITY ${n}`, id: `PRIORITY-${n}` })),
        fc.tuple(fc.nat({ max: 99 }), fc.nat({ max: 9 })).map(([a, b]) => ({ text: `Priority ${a}.${b}`, id: `PRIORITY-${a}.${b}` })),
        fc.tuple(fc.stringMatching(/^[A-Z]{2,6}$/), fc.nat({ max: 9999 })).map(([p, n]) => ({ text: `${p}-${n}`, id: `${p}-${n}` })),
      ),
      fc.constantFrom(': ', ' - ', ': US-104 - '),
      fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ' ')),
    );
    // Prose that can be nothing else: not a heading, fence, comment or Status line.
    const prose = fc.string({ unit: 'binary', maxLength: 80 }).map((s) => 'text ' + s.replace(/[\r\n]/g, ' '));
    const doc = fc.array(fc.tuple(priority, fc.array(prose, { maxLength: 3 })), { maxLength: 20 });
    fc.assert(
      fc.property(doc, (sections) => {
        const lines: string[] = [];
        const expected: string[] = [];
        const taken = new Set<string>(); // ids and aliases: the first definition wins
        for (const [[level, lead, id, sep, title], body] of sections) {
          lines.push(`${level} ${lead}${id.text}${sep}${title}`, ...body);
          if (taken.has(id.id)) continue;
          expected.push(id.id);
          taken.add(id.id);
          if (sep.includes('US-104')) taken.add('US-104');
        }
        const all = parseRoadmap(lines.join('\n'));
        assert.deepEqual(all.map((p) => p.id), expected);
        for (const p of all) assert.equal(findPriority(all, p.id.toLowerCase()), p);
      }),
      { numRuns: 500 },
    );
  });

  it('findPriority never throws and only returns listed priorities', () => {
    const list = parseRoadmap('## US-036: a\n## PRIORITY 20: b\n## PRIORITY 2.5: c\n## US-020: d');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (typed) => {
        const found = findPriority(list, typed);
        assert.ok(found === undefined || list.includes(found));
      }),
      { numRuns: 1000 },
    );
  });
});

/**
 * Issue 14: roadmaps generated in every heading form real ones use (status-prefixed,
 * bracketed, plain, dashed, PRIORITY N with decimals, bold and coloured, combined with an
 * alias), with trailing tags, heading statuses and Status lines, among fences, comments,
 * quotes and headings that only mention a priority: every id, alias, title, status (and
 * where it came from) and line comes back as generated, and the only warnings are for the
 * range headings that were put in.
 */
describe('roadmap: generated real-world roadmaps read as written', () => {
  type Expected = { id: string; aliases: string[]; title: string; status: PriorityStatus; statusFrom: StatusSource; line: number; statusLine?: number };

  const WORDS = ['Export', 'search', "user's", '"quoted"', "'single'", '`cli`', 'v2', 'API', '(beta)', '&', 'Analytics', 'Observability', 'the', 'REST', 'naïve', 'façade', '2025', 'über', 'of', 'x/y'];
  const title = fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 5 }).map((w) => w.join(' '));
  /** Dropped from the title: what people append to it. */
  const tag = fc.constantFrom('', '', ' 🔴 NEW FOUNDATION', ' P0 CRITICAL - DO THIS FIRST!', ' - HIGH PRIORITY', ' (P1)', ' 🚨 URGENT', ' ⚡ 🔥');
  const trailer = fc.constantFrom<[string, PriorityStatus | undefined]>(
    ['', undefined], ['', undefined], [' 📝 Planned', 'planned'], [' ✅ Complete', 'complete'], [' 🔄 In Progress', 'in-progress'], [' ⏸️ Blocked', 'blocked'],
    [' - COMPLETE', 'complete'], [' (Planned)', 'planned'], [' **BLOCKED** (2025-10-19)', 'blocked'], [' 📝', 'planned'],
  );
  const prefix = fc.constantFrom<[string, PriorityStatus] | undefined>(
    undefined, undefined, ['📝 PLANNED', 'planned'], ['✅ COMPLETE', 'complete'], ['✅ RECENTLY COMPLETED', 'complete'], ['📝 READY TO IMPLEMENT', 'planned'], ['🔄 **IN PROGRESS**', 'in-progress'],
  );
  const statusLine = fc.constantFrom<[string, PriorityStatus] | undefined>(
    undefined, undefined, ['**Status**: 📝 PLANNED', 'planned'], ['**Status**: 📝 **PLANNED** (Created 2025-10-01)', 'planned'], ['**Status**: ✅ Complete (2025-10-19) - HIGH PRIORITY, was blocked', 'complete'],
    ['- **Status**: 🔄 In Progress', 'in-progress'], ['**Status:** ⏸️ Blocked', 'blocked'], ['**STATUS**: done', 'complete'], ['**Status**: 🚨 URGENT - 📝 Backlog', 'planned'],
  );
  const section = fc.record({
    form: fc.constantFrom('plain', 'bracketed', 'bold'),
    level: fc.constantFrom('##', '###', '####'),
    lead: fc.constantFrom('', '🟢 ', '🎯 ', '🔴 ', '🚨 '),
    idKind: fc.constantFrom('US', 'FEAT', 'PRIORITY', 'PRIORITY.5'),
    sep: fc.constantFrom(': ', ' - '),
    withAlias: fc.boolean(),
    prefix,
    title,
    tag,
    trailer,
    statusLine,
    noise: fc.array(fc.nat({ max: 9 }), { maxLength: 3 }),
  });
  /** Never a priority, never a warning (except the ranges, which are counted). */
  const NOISE: string[][] = [
    ['Some prose about PRIORITY 3 and US-012, "quoted", and it\'s fine.'],
    ['#### Future Enhancements (Post-PRIORITY 4)'],
    ['#### Week 1: Setup 🔴 PRIORITY 1'],
    ['## 🔴 TOP PRIORITY FOR code_developer (START HERE)'],
    ['```markdown', '## US-9001: in a fence 📝', '**Status**: ✅ Complete', '```'],
    ['~~~', '### PRIORITY 9002: tilde fence', '```', '## US-9003: a shorter other fence does not close', '~~~'],
    ['- step:', '  ```bash', '  ## US-9004: in a list-item fence', '  ```'],
    ['> ## US-9005: a quoted heading', '> see "US-9006" and \'PRIORITY 7\''],
    ['<!--', '## US-9007: a template', '**Status**: ✅', '-->'],
    ['### US-9073 through US-9077'], // the one that warns: a range
  ];

  it('returns every id, alias, title, status and line as generated, and warns only about the ranges', () => {
    fc.assert(
      fc.property(fc.array(section, { maxLength: 25 }), fc.constantFrom('\n', '\r\n'), (sections, eol) => {
        const lines = ['# Roadmap', ''];
        const expected: Expected[] = [];
        const rangeLines: number[] = [];
        sections.forEach((g, i) => {
          const n = i + 1;
          const idText = g.idKind === 'PRIORITY' ? `PRIORITY ${n}` : g.idKind === 'PRIORITY.5' ? `PRIORITY ${n}.5` : `${g.idKind}-${n}`;
          const id = idText.replace(' ', '-');
          const alias = g.withAlias && g.form !== 'bracketed' ? `US-${1000 + n}` : undefined;
          const aliasText = alias ? `${alias} - ` : '';
          let heading: string;
          let status: PriorityStatus | undefined;
          let from: StatusSource = 'none';
          if (g.form === 'bold') {
            heading = `${g.level} 🟢 **${idText}: ${aliasText}${g.title}${g.tag}** ✅ **COMPLETE** (2025-10-19)`;
            [status, from] = ['complete', 'heading'];
          } else {
            const pre = g.prefix ? `${g.prefix[0]}: ` : '';
            // 'US-1 - US-1001 …' reads as a range (same prefix, a dash): combined headings use ':' there.
            const sep = alias && g.idKind === 'US' ? ': ' : g.sep;
            const idPart = g.form === 'bracketed' ? `[${idText}] ` : `${idText}${sep}${aliasText}`;
            heading = `${g.level} ${g.lead}${pre}${idPart}${g.title}${g.tag}${g.trailer[0]}`;
            if (g.prefix) [status, from] = [g.prefix[1], 'prefix'];
            else if (g.trailer[1]) [status, from] = [g.trailer[1], 'heading'];
          }
          lines.push(heading);
          const e: Expected = { id, aliases: alias ? [alias] : [], title: g.title, status: status ?? 'unknown', statusFrom: from, line: lines.length };
          if (g.statusLine) {
            lines.push('', g.statusLine[0]);
            [e.status, e.statusFrom, e.statusLine] = [g.statusLine[1], 'status-line', lines.length];
          }
          expected.push(e);
          for (const k of g.noise) {
            lines.push('');
            if (k === 9) rangeLines.push(lines.length + 1);
            lines.push(...NOISE[k]);
          }
          lines.push('');
        });
        const roadmap = readRoadmap(lines.join(eol));
        const got = roadmap.priorities.map((p) => ({ ...p }));
        for (const p of got) if (p.statusLine === undefined) delete p.statusLine;
        assert.deepEqual(got, expected, lines.join('\n'));
        assert.deepEqual(roadmap.warnings.map((w) => [w.kind, w.line]), rangeLines.map((l) => ['not-taken', l]), lines.join('\n'));
        for (const p of roadmap.priorities) for (const typed of [p.id, ...p.aliases]) assert.equal(findPriority(roadmap.priorities, typed.toLowerCase()), p);
      }),
      { numRuns: 400 },
    );
  });
});
