import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, cli, makeSandbox, Sandbox, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { git } from '../support/git';

// Issue 12 #7: one worktree git refuses to remove does not stop gc from collecting the rest.
describe('gc when git refuses a worktree (issue 12 #7)', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  async function endedRun(priority: string) {
    const r = await cli(s, ['spawn', priority, '--agent-command', agentCommand()]);
    assert.equal(r.exitCode, 0, r.stderr);
    const mine = () => withStore(s, (store) => store.listRuns().find((x) => x.priority === priority)!);
    await until(() => mine().status === 'succeeded');
    return mine();
  }
  const escape = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('a worktree with an initialised submodule is reported refused; the others are still removed; exit 1', async () => {
    // A repository with a submodule: a run's worktree in which it is initialised is clean and
    // merged, and `git worktree remove` still refuses it.
    const lib = path.join(s.dir, 'lib');
    git(s.dir, 'init', '-q', '-b', 'main', lib);
    fs.writeFileSync(path.join(lib, 'lib.txt'), 'lib\n');
    git(lib, 'add', '-A');
    git(lib, 'commit', '-q', '-m', 'lib');
    git(s.repo, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', lib, 'lib');
    git(s.repo, 'commit', '-q', '-m', 'add the lib submodule');
    const withSubmodule = await endedRun('US-036');
    const plain = await endedRun('US-037');
    git(withSubmodule.worktree, '-c', 'protocol.file.allow=always', 'submodule', 'update', '--init', '-q');
    assert.ok(fs.existsSync(path.join(withSubmodule.worktree, 'lib', 'lib.txt')), 'the submodule is checked out');

    const r = await cli(s, ['gc']);
    assert.equal(r.exitCode, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`refused +${escape(withSubmodule.worktree)} +\\(git refused: .*submodules`));
    assert.match(r.stdout, new RegExp(`removed +${escape(plain.worktree)}`));
    assert.match(r.stderr, /git refused to remove 1 worktree\(s\); the others were collected/);
    assert.ok(fs.existsSync(withSubmodule.worktree), 'the refused one is left as it was');
    assert.ok(!fs.existsSync(plain.worktree));
  });
});
