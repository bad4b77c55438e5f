import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import Database from 'better-sqlite3';
import { resolveWorktreeRoot, worktreePath } from '../../src/core/git/worktreePaths';
import { agentCommand, cli, makeSandbox, Sandbox } from '../support/sandbox';
import { git } from '../support/git';

/** Everything a refused command could have changed: the database, git and the disk. */
function snapshot(s: Sandbox): string {
  const db = path.join(s.state, 'state.db');
  let runs = 'no database';
  if (fs.existsSync(db)) {
    try {
      const d = new Database(db, { readonly: true, timeout: 5000 });
      runs = JSON.stringify(d.prepare("SELECT * FROM runs").all()) + JSON.stringify(d.prepare("SELECT kind, detail FROM events WHERE kind NOT LIKE 'leader%'").all());
      d.close();
    } catch (e) {
      runs = `unreadable: ${fs.readFileSync(db).length} bytes`;
    }
  }
  const walk = (dir: string): string[] =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() && e.name !== '.git' ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)])) : [];
  let gitState = '';
  try {
    gitState = [git(s.repo, 'worktree', 'list', '--porcelain'), git(s.repo, 'branch', '-a'), git(s.repo, 'status', '--porcelain')].join('|');
  } catch {
    gitState = 'not a repo';
  }
  return JSON.stringify({ runs, gitState, files: walk(s.dir).filter((f) => !f.includes(`${path.sep}state${path.sep}`)).sort() });
}

// Invariant 6: bad input gets a clear, specific message and changes nothing.
describe('bad input: a clear message, nothing changed', function () {
  this.timeout(30_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  const cmd = agentCommand('sleep:10000');
  async function refused(args: string[], message: RegExp, env: Record<string, string> = {}, prepare?: () => void) {
    prepare?.();
    await cli(s, ['status']); // the database exists before: the refusal must not write to it
    const before = snapshot(s);
    const r = await cli(s, args, env);
    assert.notEqual(r.exitCode, 0, r.stdout);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(snapshot(s), before, 'nothing changed on disk, in git or in the database');
  }

  const badIds: Array<[string, string]> = [
    ['semicolon', 'US-036;rm -rf ~'],
    ['command substitution', '$(touch pwned)'],
    ['path escape', '../../etc'],
    ['space', 'US 036'],
    ['unicode', 'ÜS-036'],
    ['300 characters', 'U'.repeat(300)],
    ['leading dash', '--help-me'],
  ];
  for (const [name, id] of badIds) {
    it(`priority id with ${name}`, () => refused(['spawn', id, '--agent-command', cmd], /not a valid priority id|characters long|Unknown option|at most 64/));
  }

  it('missing roadmap', () =>
    refused(['spawn', 'US-036', '--agent-command', cmd], /No roadmap found: looked for docs\/roadmap\/ROADMAP.md and ROADMAP.md/, {}, () => {
      git(s.repo, 'rm', '-q', 'docs/roadmap/ROADMAP.md');
      git(s.repo, 'commit', '-q', '-m', 'no roadmap');
    }));

  it('roadmap without priorities', () =>
    refused(['spawn', 'US-036', '--agent-command', cmd], /has no priorities/, {}, () => fs.writeFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), '# Notes\n\n```\n## US-036: in a fence\n```\n')));

  it('a priority that is not in the roadmap', () => refused(['spawn', 'US-999', '--agent-command', cmd], /US-999 is not a priority in docs\/roadmap\/ROADMAP.md \(it has: US-036, US-037/));

  it('not a git repository', async () => {
    const plain = path.join(s.dir, 'plain');
    fs.mkdirSync(plain);
    await refused(['spawn', 'US-036', '--repo', plain, '--agent-command', cmd], /is not a git repository/);
  });

  it('git not on PATH', () => refused(['spawn', 'US-036', '--agent-command', cmd], /git was not found on PATH/, { PATH: path.join(s.dir, 'empty-bin') }));

  it('detached HEAD', () => refused(['spawn', 'US-036', '--agent-command', cmd], /HEAD is detached/, {}, () => git(s.repo, 'checkout', '-q', '--detach')));

  it('branch already exists', () =>
    refused(['spawn', 'US-036', '--agent-command', cmd], /branch code-developer\/us-036 already exists/, {}, () => git(s.repo, 'branch', 'code-developer/us-036')));

  it('worktree path already exists', () =>
    refused(['spawn', 'US-036', '--agent-command', cmd], /us-036 already exists; move it away/, {}, () => fs.mkdirSync(path.join(`${s.repo}.worktrees`, 'us-036'), { recursive: true })));

  it('no agent command', () => refused(['spawn', 'US-036'], /No agent command is configured/));

  it('malformed agent command', () => refused(['spawn', 'US-036', '--agent-command', 'rm -rf /'], /--agent-command must be a JSON array of strings/));

  it('worktree root through a symlink or ..', async () => {
    fs.symlinkSync(s.dir, path.join(s.dir, 'link'));
    await refused(['spawn', 'US-036', '--worktree-root', path.join(s.dir, 'link', 'wt'), '--agent-command', cmd], /goes through a symlink/);
    await refused(['spawn', 'US-036', '--worktree-root', '../elsewhere', '--agent-command', cmd], /contains '\.\.'/);
  });

  it('the database locked by another writer', async () => {
    await cli(s, ['status']); // creates the database
    const db = new Database(path.join(s.state, 'state.db'));
    db.exec('BEGIN EXCLUSIVE');
    try {
      await refused(['spawn', 'US-036', '--agent-command', cmd], /locked by another process; nothing was changed/, { WTO_BUSY_TIMEOUT_MS: '300' });
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
  });

  it('a corrupt database is kept aside, never overwritten', async () => {
    fs.mkdirSync(s.state, { recursive: true });
    const garbage = Buffer.from('garbage, not SQLite '.repeat(100));
    fs.writeFileSync(path.join(s.state, 'state.db'), garbage);
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', cmd]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /is damaged .* moved, untouched, to .*state\.db\.corrupt-/);
    const aside = fs.readdirSync(s.state).filter((f) => f.startsWith('state.db.corrupt-'));
    assert.equal(aside.length, 1);
    assert.deepEqual(fs.readFileSync(path.join(s.state, aside[0])), garbage);
    assert.equal(git(s.repo, 'worktree', 'list').split('\n').length, 1, 'no worktree made');
  });
});

describe('worktree root confinement (pure)', () => {
  // Found by the chaos suite's random roots: '/.' resolved to '/', which contains every
  // repository, and a startsWith(root + '/') check read '//' and let it through.
  it('refuses a root that contains the repository, the filesystem root included', () => {
    for (const raw of ['/.', '/', '.', path.dirname(os.tmpdir())]) {
      assert.throws(() => resolveWorktreeRoot(path.join(os.tmpdir(), 'some-repo'), raw), /contains the repository itself/, raw);
    }
    for (const bad of ['..', '.', 'a/b', '']) assert.throws(() => worktreePath('/', bad), /would leave the worktree root/, bad);
    assert.equal(worktreePath('/wt', 'us-036'), '/wt/us-036');
  });
});
