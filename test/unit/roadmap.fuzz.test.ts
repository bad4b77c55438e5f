import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { findPriority, parseRoadmap, PRIORITY_ID_RE } from '../../src/core/roadmap';

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
          assert.ok(!seen.has(p.id), `duplicate ${p.id}`);
          seen.add(p.id);
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
        for (const [[level, lead, id, sep, title], body] of sections) {
          lines.push(`${level} ${lead}${id.text}${sep}${title}`, ...body);
          if (!expected.includes(id.id)) expected.push(id.id);
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
