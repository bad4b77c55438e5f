import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { expandCommand, PLACEHOLDERS } from '../../src/core/agent/agents';
import { branchName, prioritySlug, validatePriorityId, worktreeDirName } from '../../src/core/roadmap/priorityId';
import { parseRoadmap } from '../../src/core/roadmap/roadmap';
import { Store } from '../../src/core/db/store';
import { UserError } from '../../src/core/model/userError';
import { worktreePath } from '../../src/core/git/worktreePaths';
import { cli, makeSandbox, NODE, Sandbox } from '../support/sandbox';
import { ARGV_AGENT, killAgents, record, report, scaled, SEED } from './lib';
import { until } from '../support/wait';

// Scenario 5a: hostile input. Ids, roadmap text and agent command values are generated
// (fast-check, seeded from CHAOS_SEED) and pushed through the real code; a hostile title
// and template go through the real supervisor to an agent that reports its argv.
const FC = { seed: SEED, numRuns: scaled(1000, 50) };

/** git-check-ref-format(1) rules, plus --branch's "no leading '-'". */
function refFormatProblem(branch: string): string | undefined {
  if (branch.startsWith('-')) return 'leading -';
  if (branch === '@' || branch.includes('@{')) return '@';
  if (branch.includes('..')) return '..';
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(branch)) return 'forbidden character';
  if (branch.startsWith('/') || branch.endsWith('/') || branch.includes('//')) return 'slashes';
  if (branch.endsWith('.')) return 'trailing .';
  for (const part of branch.split('/')) if (part.startsWith('.') || part.endsWith('.lock') || part === '') return `component ${part}`;
  return undefined;
}

const hostilePiece = fc.constantFrom(
  '..', '/', '\\', '@{', '@', '.lock', '~', '^', ':', '?', '*', '[', ' ', '\t', '\n', '\r', '\0', '\x7f', '-', '.', '_', '--',
  'US', '1', '036', 'PRIORITY', '$(touch x)', '`id`', ';', 'é', 'İ', 'ß', '\u202e', '\u200d', 'A', 'z', 'HEAD', '.git', 'lock', '🟢',
);
const idArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9._-]{0,70}$/),
  fc.array(hostilePiece, { maxLength: 14 }).map((xs) => xs.join('')),
);

describe('chaos 5: hostile input', function () {
  this.timeout(180_000);
  const figures = { idsTried: 0, idsAccepted: 0, gitChecked: 0, templates: 0, argvRuns: 0 };
  const failures: string[] = [];
  const root = path.join(os.tmpdir(), 'wto-chaos-root');
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failures.push(this.currentTest.title);
  });
  after(() => {
    record({
      scenario: '5a. hostile input (ids, roadmap text, command template, argv)',
      runs: `${figures.idsTried} ids, ${figures.templates} templates, ${figures.argvRuns} agents`,
      faults: '-',
      duplicates: 0,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      notes: `${figures.idsAccepted} ids accepted, ${figures.gitChecked} branches confirmed by git check-ref-format${failures.length ? `; FAILED: ${failures.join('; ')}` : ''}`,
      ok: failures.length === 0,
    });
  });

  it('priority ids: rejected with BAD_PRIORITY, or slug, branch and folder that git accepts and that stay directly in the root', () => {
    const sample = new Set<string>();
    fc.assert(
      fc.property(idArb, fc.integer({ min: 1, max: 1_000_000 }), (raw, attempt) => {
        figures.idsTried++;
        let id: string;
        try {
          id = validatePriorityId(raw);
        } catch (e) {
          assert.ok(e instanceof UserError && e.code === 'BAD_PRIORITY', `unexpected ${(e as Error).stack}`);
          assert.ok(!/[\x00-\x1f\x7f]/.test(e.message), 'the message shows no control characters');
          return;
        }
        figures.idsAccepted++;
        assert.match(prioritySlug(id), /^[a-z][a-z0-9]*(?:[-.][a-z0-9]+)*$/);
        const branch = branchName(id, attempt);
        assert.equal(refFormatProblem(branch), undefined, branch);
        const dir = worktreeDirName(id, attempt);
        assert.ok(!dir.includes('/') && !dir.includes('\\') && dir !== '.' && dir !== '..' && !dir.startsWith('-'), dir);
        assert.equal(path.dirname(worktreePath(root, dir)), root);
        if (sample.size < 200) sample.add(branch);
      }),
      // About one random id in eight is valid: enough runs for ~200 accepted ones.
      { ...FC, numRuns: scaled(2000, 100) },
    );
    // The JS rules above are ours; git is the judge for a sample.
    const refused = [...sample].filter((b) => {
      try {
        execFileSync('git', ['check-ref-format', '--branch', b], { stdio: 'ignore' });
        return false;
      } catch {
        return true;
      }
    });
    figures.gitChecked += sample.size;
    report(`${figures.idsTried} ids tried, ${figures.idsAccepted} accepted; ${sample.size} branches checked by git: ${refused.length} refused`);
    assert.deepEqual(refused, []);
  });

  it('roadmap text -> id -> branch -> worktree: every priority a hostile roadmap yields is a valid id, branch and direct child of the root', () => {
    const heading = fc
      .tuple(
        fc.constantFrom('## ', '### ', '#### ', '### 🟢 **', '## 🔴 '),
        fc.oneof(
          fc.tuple(fc.constantFrom('PRIORITY ', 'PRIORITY-', 'US-', 'us-', 'FEAT-', 'X-', 'A-'), fc.stringMatching(/^[0-9]{1,12}(\.[0-9]{0,12})?$/)).map(([a, b]) => a + b),
          fc.array(hostilePiece, { maxLength: 6 }).map((xs) => xs.join('')),
        ),
        fc.constantFrom(': ', ' - ', '', '**: ', '/../', '..', '\t'),
        fc.string({ unit: 'binary', maxLength: 40 }),
      )
      .map((p) => p.join('').replace(/[\r\n]/g, ' '));
    const doc = fc.array(fc.oneof(heading, fc.string({ unit: 'binary', maxLength: 40 })), { maxLength: 30 }).map((ls) => ls.join('\n'));
    let priorities = 0;
    fc.assert(
      fc.property(doc, fc.integer({ min: 1, max: 99 }), (text, attempt) => {
        for (const p of parseRoadmap(text)) {
          priorities++;
          const id = validatePriorityId(p.id); // requestSpawn does exactly this
          assert.equal(refFormatProblem(branchName(id, attempt)), undefined);
          assert.equal(path.dirname(worktreePath(root, worktreeDirName(id, attempt))), root);
        }
      }),
      FC,
    );
    report(`${priorities} priorities parsed from hostile roadmaps, all safe`);
  });

  it('agent command template: one argument per template element, values verbatim, never re-expanded', () => {
    const reference = (arg: string, values: Record<string, string>) => {
      let out = '';
      for (let i = 0; i < arg.length; ) {
        const m = /^\$\{(\w+)\}/.exec(arg.slice(i));
        if (m && (PLACEHOLDERS as readonly string[]).includes(m[1])) {
          out += values[m[1]];
          i += m[0].length;
        } else out += arg[i++];
      }
      return out;
    };
    const nasty = fc.constantFrom('; rm -rf ~', '$(touch pwned)', '`touch pwned`', 'a\nb', '\r\n', '"', "'", '\\', ' ', '', '*', '$HOME', '${title}', '${priority}', '${${branch}}', '--', '-c', '&& echo', '| sh', '\0');
    const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), nasty, fc.array(nasty, { maxLength: 5 }).map((x) => x.join('')));
    const element = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom(...PLACEHOLDERS.map((p) => `\${${p}}`), '${nope}', '$${title}', '${title', 'x${title}y${branch}z', '${TITLE}', '--flag=${priority}'),
      nasty,
    );
    const values = fc.record(Object.fromEntries(PLACEHOLDERS.map((p) => [p, value])) as Record<(typeof PLACEHOLDERS)[number], fc.Arbitrary<string>>);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z/][a-z0-9/_-]{0,15}$/), fc.array(element, { maxLength: 12 }), values, (program, rest, vals) => {
        figures.templates++;
        const template = [program, ...rest];
        if (Object.values(vals).some((v) => v.includes('\0'))) {
          // No process can take a NUL in an argument: such a value is refused, whatever the template.
          assert.throws(() => expandCommand(template, vals), (e: unknown) => e instanceof UserError && e.code === 'BAD_VALUE');
          return;
        }
        const argv = expandCommand(template, vals);
        assert.equal(argv.length, template.length, 'never more or fewer arguments');
        assert.equal(argv[0], program, 'the program is the template program');
        argv.forEach((a, i) => assert.equal(a, reference(template[i], vals)));
        template.forEach((t, i) => {
          const only = /^\$\{(\w+)\}$/.exec(t);
          if (only && (PLACEHOLDERS as readonly string[]).includes(only[1])) assert.equal(argv[i], vals[only[1] as keyof typeof vals], 'a whole-element placeholder is the value, verbatim');
        });
      }),
      FC,
    );
    report(`${figures.templates} templates expanded: lengths equal, values verbatim`);
  });

  describe('through the real supervisor', () => {
    let s: Sandbox;
    afterEach(() => {
      killAgents(s);
      s.cleanup();
    });

    it('a hostile roadmap title and template arrive as exactly the arguments given; no shell ran', async () => {
      const title = '$(touch PWNED1) ; touch PWNED2 `touch PWNED3` && echo "dq" \'sq\' | cat > PWNED4 < /dev/null * ? [a] {b,c} ~ # ! % ^ \\ ${HOME} $HOME';
      s = makeSandbox(`# Roadmap\n\n## US-7: ${title}\n\n**Status**: 📝 Planned\n`);
      const out = path.join(s.dir, 'argv.json');
      const template = [NODE, ARGV_AGENT, '${title}', '; touch PWNED5', '$(touch PWNED6)', '`touch PWNED7`', 'line1\nline2', '${branch}', '${unknown}', '--flag=${priority}', '', ' spaced ', '*', '$HOME', '"quoted"', "'single'", '${title}${title}'];
      const r = await cli(s, ['spawn', 'US-7', '--wait', '--agent-command', JSON.stringify(template)], { CHAOS_ARGV_OUT: out });
      assert.equal(r.exitCode, 0, r.stderr);
      await until(() => fs.existsSync(out), 15_000);
      const got = JSON.parse(fs.readFileSync(out, 'utf8')) as { argv: string[]; cwd: string };
      const shownTitle = parseRoadmap(fs.readFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), 'utf8'))[0].title;
      const expected = template.slice(2).map((a) =>
        a.replace(/\$\{(\w+)\}/g, (w, n: string) => (n === 'title' ? shownTitle : n === 'branch' ? 'code-developer/us-7' : n === 'priority' ? 'US-7' : w)),
      );
      assert.deepEqual(got.argv, expected);
      assert.ok(got.argv[0].includes('$(touch PWNED1)'), `the title reached the agent verbatim: ${got.argv[0]}`);
      const pwned = execFileSync('find', [s.dir, '-name', 'PWNED*'], { encoding: 'utf8' }).trim();
      assert.equal(pwned, '', 'nothing was run by a shell');
      figures.argvRuns++;
      report(`${got.argv.length} arguments arrived verbatim in ${got.cwd}`);
    });

    it('a title with a NUL byte (no process can take it as an argument): refused with a message before anything is written', async () => {
      s = makeSandbox('# Roadmap\n\n## US-8: nul \u0000 inside\n\n**Status**: 📝 Planned\n');
      const out = path.join(s.dir, 'argv.json');
      const r = await cli(s, ['spawn', 'US-8', '--wait', '--agent-command', JSON.stringify([NODE, ARGV_AGENT, '${title}'])], { CHAOS_ARGV_OUT: out });
      report(`spawn exit ${r.exitCode}: ${r.stderr.trim()}`);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /title "nul \\0 inside" contains a NUL character/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      const store = Store.open(s.state);
      try {
        assert.equal(store.listRuns().length, 0, 'no run recorded');
      } finally {
        store.close();
      }
      assert.ok(!fs.existsSync(`${s.repo}.worktrees`), 'no worktree made');
      assert.ok(!fs.existsSync(out), 'no agent ran');
    });

  });
});
