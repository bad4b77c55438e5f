import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GitRepo } from '../../src/core/git/git';
import { sleep } from '../support/wait';
import { git } from '../support/git';

// A leader killed with its process group (Ctrl-C, a stopped container) takes `git worktree
// add` down at any instant. The next leader calls addWorktree again for the same run; it must
// end with a complete, locked checkout on the run's branch, and leave the repository's
// worktree list readable — or refuse with a message when something not ours is in the way.
describe('addWorktree after git worktree add was killed', function () {
  this.timeout(120_000);
  const FILES = 400;
  let dir: string;
  let repo: string;
  let base: string;
  beforeEach(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wto-add-')));
    repo = path.join(dir, 'repo');
    fs.mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    for (let f = 0; f < FILES; f++) fs.writeFileSync(path.join(repo, `f${f}.txt`), `file ${f}\n`);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'files');
    base = git(repo, 'rev-parse', 'HEAD');
    fs.mkdirSync(path.join(dir, 'wt'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const reasonOf = (n: number) => `worktree-orchestrator run r${n}`;
  const admins = () => fs.readdirSync(path.join(repo, '.git', 'worktrees')).sort();
  function assertComplete(wt: string, branch: string, reason: string) {
    const list = git(repo, 'worktree', 'list', '--porcelain'); // throws if git cannot read it
    const block = list.split('\n\n').find((b) => b.startsWith(`worktree ${wt}\n`));
    assert.ok(block, `${wt} is listed:\n${list}`);
    assert.match(block, new RegExp(`branch refs/heads/${branch}\\n`));
    assert.ok(block.includes(`locked ${reason}`), block);
    assert.equal(fs.readdirSync(wt).filter((f) => f.endsWith('.txt')).length, FILES, 'every file checked out');
    assert.equal(git(wt, 'status', '--porcelain'), '', 'nothing changed or missing');
    assert.equal(git(repo, 'rev-parse', `refs/heads/${branch}`), base);
  }

  it('killed at random instants (real SIGKILL to its process group): the next call completes it every time', async () => {
    const rounds = 20;
    const seen = new Set<string>();
    for (let i = 0; i < rounds; i++) {
      const wt = path.join(dir, 'wt', `us-${i}`);
      const branch = `code-developer/us-${i}`;
      // Most kills land in the first milliseconds, where git writes its bookkeeping.
      const delay = i % 4 === 0 ? Math.random() * 60 : 2 + Math.random() * 8;
      const child = spawn('git', ['worktree', 'add', '--lock', '--reason', reasonOf(i), '-b', branch, '--', wt, base], { cwd: repo, detached: true, stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      await sleep(delay);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already done
      }
      await exited;
      const admin = path.join(repo, '.git', 'worktrees', `us-${i}`);
      seen.add(fs.existsSync(admin) ? fs.readdirSync(admin).sort().join(',') || 'empty admin' : fs.existsSync(path.join(repo, '.git', 'refs', 'heads', `${branch}.lock`)) ? 'ref lock' : 'no admin');
      await (await GitRepo.open(repo)).addWorktree(wt, branch, base, reasonOf(i));
      assertComplete(wt, branch, reasonOf(i));
    }
    assert.deepEqual(admins(), Array.from({ length: rounds }, (_, i) => `us-${i}`).sort(), 'one admin folder per worktree, nothing left over');
    console.log(`      states at the kill: ${[...seen].join(' | ')}`);
  });

  // The narrowest windows, made by hand as git leaves them. git 2.39's add_worktree, after
  // making the branch and the admin folder, writes these files in this order; a kill lands
  // before one of them or while writing it (the file is there, still empty). After the
  // last, HEAD is the null id until git points it at the branch.
  const writes: Array<[string, (admin: string, wt: string, reason: string) => string, (admin: string, wt: string, reason: string) => string]> = [
    ['locked', (a) => path.join(a, 'locked'), (_a, _wt, r) => r],
    ['gitdir', (a) => path.join(a, 'gitdir'), (_a, wt) => `${wt}/.git\n`],
    ['the worktree\'s .git', (_a, wt) => path.join(wt, '.git'), (a) => `gitdir: ${a}\n`],
    ['commondir', (a) => path.join(a, 'commondir'), () => '../..\n'], // empty, every `git worktree` command fails
    ['HEAD', (a) => path.join(a, 'HEAD'), () => `${'0'.repeat(40)}\n`],
  ];
  const windows = writes.flatMap(([name], k) => [
    { name: `killed before writing ${name}`, done: k, empty: false },
    { name: `killed while writing ${name}`, done: k, empty: true },
  ]);
  windows.push({ name: 'killed before HEAD named the branch (null HEAD)', done: writes.length, empty: false });
  for (const w of windows) {
    it(`${w.name}: completed, and no admin folder left over`, async () => {
      const wt = path.join(dir, 'wt', 'us-7');
      const branch = 'code-developer/us-7';
      const reason = reasonOf(7);
      git(repo, 'branch', branch, base); // git makes the branch first
      const admin = path.join(repo, '.git', 'worktrees', 'us-7');
      fs.mkdirSync(admin, { recursive: true });
      if (w.done >= 1) fs.mkdirSync(wt); // git makes the worktree's folder after the lock
      for (const [, file, content] of writes.slice(0, w.done)) fs.writeFileSync(file(admin, wt, reason), content(admin, wt, reason));
      if (w.empty) fs.writeFileSync(writes[w.done][1](admin, wt, reason), '');
      assert.equal(await (await GitRepo.open(repo)).addWorktree(wt, branch, base, reason), 'existing');
      assertComplete(wt, branch, reason);
      assert.deepEqual(admins(), ['us-7']);
    });
  }

  it('killed during its checkout while moving HEAD (a stale HEAD.lock in the admin folder): completed', async () => {
    // Seen in CI: a random kill left .git/worktrees/<name>/HEAD.lock, and the completing
    // reset failed with "cannot lock ref 'HEAD'". Made here as that kill leaves it.
    const wt = path.join(dir, 'wt', 'us-11');
    const branch = 'code-developer/us-11';
    git(repo, 'worktree', 'add', '-q', '--lock', '--reason', reasonOf(11), '-b', branch, '--', wt, base);
    for (const f of fs.readdirSync(wt).filter((n) => n.endsWith('.txt')).slice(0, 50)) fs.rmSync(path.join(wt, f)); // a partial checkout
    const headLock = path.join(repo, '.git', 'worktrees', 'us-11', 'HEAD.lock');
    fs.writeFileSync(headLock, `${base}\n`);
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(headLock, old, old);
    assert.equal(await (await GitRepo.open(repo)).addWorktree(wt, branch, base, reasonOf(11)), 'existing');
    assertComplete(wt, branch, reasonOf(11));
    assert.ok(!fs.existsSync(headLock), 'the stale lock is gone');
  });

  it('a stale lock on the branch\'s ref (killed while creating the branch): cleared once it is older than a live git would hold it', async () => {
    const wt = path.join(dir, 'wt', 'us-8');
    const lock = path.join(repo, '.git', 'refs', 'heads', 'code-developer', 'us-8.lock');
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, '');
    const t0 = Date.now();
    assert.equal(await (await GitRepo.open(repo)).addWorktree(wt, 'code-developer/us-8', base, reasonOf(8)), 'added');
    assert.ok(Date.now() - t0 >= 1900, 'a fresh lock is given the time a live git would need');
    assertComplete(wt, 'code-developer/us-8', reasonOf(8));
  });

  it('what is not ours is left alone: another reason\'s half-made admin folder, a folder with files in it', async () => {
    // Someone else's interrupted add (another tool's lock reason): not touched.
    const foreign = path.join(repo, '.git', 'worktrees', 'other');
    fs.mkdirSync(foreign, { recursive: true });
    fs.writeFileSync(path.join(foreign, 'locked'), 'my own tool');
    const r = await GitRepo.open(repo);
    await r.addWorktree(path.join(dir, 'wt', 'us-9'), 'code-developer/us-9', base, reasonOf(9));
    assert.deepEqual(fs.readdirSync(foreign), ['locked']);

    // A folder where the worktree goes, holding a file: refused, untouched.
    const wt = path.join(dir, 'wt', 'us-10');
    fs.mkdirSync(wt);
    fs.writeFileSync(path.join(wt, 'notes.txt'), 'mine');
    await assert.rejects(r.addWorktree(wt, 'code-developer/us-10', base, reasonOf(10)), /already exists and is not a worktree of this run/);
    assert.deepEqual(fs.readdirSync(wt), ['notes.txt']);
    // Refused before git ran, so git did not make the branch either; once the folder is
    // moved away, the next attempt adds the worktree afresh.
    assert.equal(git(repo, 'branch', '--list', 'code-developer/us-10'), '');
    fs.renameSync(wt, `${wt}.moved`);
    assert.equal(await r.addWorktree(wt, 'code-developer/us-10', base, reasonOf(10)), 'added');
    assertComplete(wt, 'code-developer/us-10', reasonOf(10));
  });
});
