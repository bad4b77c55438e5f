import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requestSpawn } from '../../src/core/requests';
import { Store } from '../../src/core/db/store';
import { makeSandbox, Sandbox, withStore } from '../support/sandbox';
import { git } from '../support/git';

// requestSpawn starts its checks on the folder it is given as if it were the repository's
// root, beside git's own answer, and redoes them when git names another root: whichever
// folder a user gives, the checks must be those of the repository git sees.
describe('requestSpawn: the repository is the one git sees, whatever folder is given', function () {
  this.timeout(30_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  const settings = { agentCommand: ['agent', '{priority}'] };
  async function request(dir: string, priority = 'US-036') {
    const store = Store.open(s.state);
    try {
      return await requestSpawn(store, s.state, dir, priority, settings);
    } finally {
      store.close();
    }
  }
  const rows = () => withStore(s, (store) => store.listRuns().map((r) => ({ repo: r.repo, priority: r.priority, branch: r.branch, baseRef: r.baseRef })));

  it('from the root: the run is recorded against it, on the checked-out base', async () => {
    const run = await request(s.repo);
    assert.deepEqual(rows(), [{ repo: s.repo, priority: 'US-036', branch: 'code-developer/us-036', baseRef: 'main' }]);
    assert.equal(run.worktree, path.join(`${s.repo}.worktrees`, 'us-036'));
  });

  it('from a subfolder: the same run, against the root', async () => {
    const sub = path.join(s.repo, 'docs', 'roadmap');
    await request(sub);
    assert.deepEqual(rows(), [{ repo: s.repo, priority: 'US-036', branch: 'code-developer/us-036', baseRef: 'main' }]);
  });

  it('from a folder that looks like a root but is not (an empty .git folder): the repository git finds above', async () => {
    const docs = path.join(s.repo, 'docs');
    fs.mkdirSync(path.join(docs, '.git'));
    await request(docs);
    assert.deepEqual(rows(), [{ repo: s.repo, priority: 'US-036', branch: 'code-developer/us-036', baseRef: 'main' }]);
  });

  it('refuses a taken branch whether asked from the root or from a subfolder, and records nothing', async () => {
    git(s.repo, 'branch', 'code-developer/us-036');
    for (const dir of [s.repo, path.join(s.repo, 'docs')]) {
      await assert.rejects(request(dir), /The branch code-developer\/us-036 already exists/);
    }
    assert.deepEqual(rows(), []);
  });

  it('a folder with a broken .git is refused with git\'s answer, not with the checks run early', async () => {
    const broken = path.join(s.dir, 'broken');
    fs.mkdirSync(path.join(broken, 'docs', 'roadmap'), { recursive: true });
    fs.writeFileSync(path.join(broken, '.git'), 'not a gitfile\n');
    fs.copyFileSync(path.join(s.repo, 'docs', 'roadmap', 'ROADMAP.md'), path.join(broken, 'docs', 'roadmap', 'ROADMAP.md'));
    await assert.rejects(request(broken), (e: Error) => /git|repository/i.test(e.message) && !/already exists|not a priority/.test(e.message));
    assert.deepEqual(rows(), []);
  });

  it('a racer that read the priority as free before another claimed it is told "already active", not "folder exists"', async () => {
    // The winner claimed US-036 and its leader made the branch and folder; the racer's read
    // of the priority's runs happened before that claim (a stale read, simulated here).
    const winner = await request(s.repo);
    fs.mkdirSync(winner.worktree, { recursive: true });
    git(s.repo, 'branch', winner.branch);
    const store = Store.open(s.state);
    try {
      let reads = 0;
      const stale = Object.create(store) as Store;
      stale.latestRun = (...args: Parameters<Store['latestRun']>) => (reads++ === 0 ? undefined : store.latestRun(...args));
      await assert.rejects(requestSpawn(stale, s.state, s.repo, 'US-036', settings, { newAttempt: true }), (e: Error & { code?: string }) => e.code === 'ALREADY_ACTIVE');
    } finally {
      store.close();
    }
    assert.equal(rows().length, 1);
  });

  it('a repository nested in another is its own: its roadmap and its branches', async () => {
    const nested = path.join(s.repo, 'vendor', 'lib');
    fs.mkdirSync(path.join(nested, 'docs', 'roadmap'), { recursive: true });
    git(s.repo, 'init', '-q', '-b', 'trunk', nested);
    fs.writeFileSync(path.join(nested, 'docs', 'roadmap', 'ROADMAP.md'), '# Roadmap\n\n## LIB-1: Nested work\n\n**Status**: 📝 Planned\n');
    git(nested, 'add', '-A');
    git(nested, 'commit', '-q', '-m', 'init');
    await request(nested, 'LIB-1');
    await assert.rejects(request(nested, 'US-036'), /US-036 is not a priority/);
    assert.deepEqual(rows(), [{ repo: nested, priority: 'LIB-1', branch: 'code-developer/lib-1', baseRef: 'trunk' }]);
  });
});
