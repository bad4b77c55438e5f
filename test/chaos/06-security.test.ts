import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { requestSpawn } from '../../src/core/requests';
import { Store } from '../../src/core/db/store';
import { UserError } from '../../src/core/model/userError';
import { resolveWorktreeRoot, worktreePath } from '../../src/core/git/worktreePaths';
import { cli, CLI, makeSandbox, NODE, ROOT, Sandbox } from '../support/sandbox';
import { chaosAgent, killAgents, record, report, scaled, SEED } from './lib';
import { until, waitUntil } from '../support/wait';
import { git } from '../support/git';

// Scenario 6: what a hostile repository or workspace could try. A workspace setting naming
// the agent command; a worktree root through a symlink or '..' (also one swapped for a
// symlink after the request); files of the state dir readable by others.

/** src/ui/host/settings.ts under a fake `vscode` whose configuration has the given layers. */
function settingsWith(layers: Record<string, { defaultValue?: unknown; globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown }>) {
  const effective = (key: string) => {
    const l = layers[key] ?? {};
    return l.workspaceFolderValue ?? l.workspaceValue ?? l.globalValue ?? l.defaultValue;
  };
  const fake = {
    workspace: {
      getConfiguration: (section: string) => ({
        inspect: (key: string) => ({ key: `${section}.${key}`, ...layers[key] }),
        get: (key: string, fallback?: unknown) => effective(key) ?? fallback,
      }),
      onDidChangeConfiguration: () => ({ dispose() {} }),
      isTrusted: false,
    },
    commands: { executeCommand: async () => undefined },
  };
  return requireWithFakeVscode<typeof import('../../src/ui/host/settings')>(require.resolve('../../src/ui/host/settings'), fake);
}

/** A fresh copy of a src/ui module whose `import 'vscode'` gets `fake`. */
function requireWithFakeVscode<T>(file: string, fake: unknown): T {
  const modules = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = modules._load;
  modules._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? fake : load.call(this, request, ...rest);
  };
  try {
    delete require.cache[file];
    return require(file) as T;
  } finally {
    modules._load = load;
  }
}

describe('chaos 6: security', function () {
  this.timeout(120_000);
  const figures = { settingCases: 0, roots: 0, rootsRefused: 0, files: 0 };
  const failures: string[] = [];
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failures.push(this.currentTest.title);
  });
  after(() => {
    record({
      scenario: '6. security (workspace command, symlink/.. roots, file modes)',
      runs: `${figures.settingCases} setting layers, ${figures.roots} roots, ${figures.files} files`,
      faults: `${figures.rootsRefused} roots refused`,
      duplicates: 0,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      notes: failures.length ? `FAILED: ${failures.join('; ')}` : 'workspace command ignored; no path escapes the root; state files 0600/0700',
      ok: failures.length === 0,
    });
  });

  it('a workspace or folder setting naming the agent (or setup) command is ignored: only user/machine values count', () => {
    const commandArb = fc.oneof(fc.constant(undefined), fc.constant([]), fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 4 }));
    fc.assert(
      fc.property(commandArb, commandArb, commandArb, commandArb, (globalValue, workspaceValue, workspaceFolderValue, stateDir) => {
        figures.settingCases++;
        const layer = { defaultValue: [], globalValue, workspaceValue, workspaceFolderValue };
        const settings = settingsWith({
          'codeDeveloper.command': layer,
          setupCommand: layer,
          stateDir: { defaultValue: '', workspaceValue: stateDir ? '/tmp/evil-state' : undefined },
        });
        const userChoice = Array.isArray(globalValue) && globalValue.length ? globalValue.map(String) : undefined;
        assert.deepEqual(settings.agentCommand(), userChoice);
        assert.deepEqual(settings.spawnSettings().agentCommand, userChoice, 'a spawn request carries the user value only');
        assert.deepEqual(settings.setupCommand(), userChoice);
        assert.equal(settings.configuredStateDir(), undefined, 'a workspace cannot move the database');
      }),
      { seed: SEED, numRuns: scaled(300, 50) },
    );
    // The scopes VS Code enforces on its side.
    const props = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).contributes.configuration.properties;
    for (const key of ['codeDeveloper.command', 'setupCommand', 'stateDir']) assert.equal(props[`worktreeOrchestrator.${key}`].scope, 'machine', key);
    // And nothing else reads these settings around settings.ts (only src/ui can: core never imports
    // vscode, a rule of lint:deps; there the name is a Run field, not a setting).
    const readers = execaSyncGrep(/['"`](?:worktreeOrchestrator\.)?(?:codeDeveloper\.command|setupCommand)['"`]/);
    assert.deepEqual(readers.filter((f) => /src\/ui\//.test(f) && !/src\/ui\/host\/settings\.ts$/.test(f)), [], 'only settings.ts reads the command settings');
    report(`${figures.settingCases} layer combinations: the agent command always the user's; untrusted workspaces: spawnRefusal() (host suite: 'refuses to spawn in an untrusted workspace')`);
  });

  it('an untrusted workspace is refused before any request (the guard every spawn path calls)', () => {
    const trust = requireWithFakeVscode<typeof import('../../src/ui/host/workspaceTrust')>(require.resolve('../../src/ui/host/workspaceTrust'), { workspace: { isTrusted: false } });
    assert.match(trust.spawnRefusal(false) ?? '', /not trusted/);
    assert.equal(trust.spawnRefusal(true), undefined);
    assert.equal(new trust.WorkspaceTrust().trusted, false);
    // Every UI file that requests a spawn or starts the loop consults the guard.
    const callers = execaSyncGrep(/requestSpawn\(|setLoop\(/).filter((f) => f.includes('src/ui/'));
    for (const f of callers) assert.match(fs.readFileSync(f, 'utf8'), /spawnRefusal\(/, `${f} checks workspace trust`);
  });

  it('worktree roots through a symlink or with ".." are refused; every accepted root keeps worktrees inside it', () => {
    const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wto-chaos-roots-')));
    try {
      const repo = path.join(base, 'repo');
      const outside = path.join(base, 'outside');
      for (const d of [repo, outside, path.join(base, 'real', 'deep')]) fs.mkdirSync(d, { recursive: true });
      fs.symlinkSync(outside, path.join(base, 'link-out'));
      fs.symlinkSync(path.join(base, 'real'), path.join(base, 'link-real'));
      fs.symlinkSync(repo, path.join(base, 'link-repo'));
      fs.symlinkSync(path.join(base, 'real'), path.join(base, 'real', 'loop'));
      fs.symlinkSync('/nonexistent-target', path.join(base, 'dangling'));
      const segment = fc.constantFrom('real', 'deep', 'link-out', 'link-real', 'link-repo', 'loop', 'dangling', 'repo', 'new', 'x y', '..', '.', '', '...', '..x', 'repo.worktrees');
      const candidate = fc.tuple(fc.constantFrom(`${base}/`, '', '../', './', `${repo}/`), fc.array(segment, { minLength: 1, maxLength: 5 }), fc.constantFrom('/', '\\', '/'))
        .map(([start, parts, sep]) => start + parts.join(sep));
      const refusedBy = new Map<string, number>();
      let insideRepo = 0;
      fc.assert(
        fc.property(candidate, (raw) => {
          figures.roots++;
          let root: string;
          try {
            root = resolveWorktreeRoot(repo, raw);
          } catch (e) {
            assert.ok(e instanceof UserError && e.code === 'BAD_WORKTREE_ROOT', `${raw}: ${(e as Error).stack}`);
            figures.rootsRefused++;
            const why = /symlink/.test(e.message) ? 'symlink' : /'\.\.'/.test(e.message) ? '..' : 'contains the repository';
            refusedBy.set(why, (refusedBy.get(why) ?? 0) + 1);
            return;
          }
          assert.ok(!raw.split(/[\\/]/).includes('..'), `accepted '..': ${raw}`);
          assert.ok(path.isAbsolute(root) && root === path.resolve(root), root);
          assert.ok(root !== repo && !repo.startsWith(root + path.sep), `contains the repository: ${root}`);
          let probe = root;
          while (!fs.existsSync(probe)) probe = path.dirname(probe);
          assert.equal(fs.realpathSync(probe), probe, `reached through a symlink: ${raw} -> ${root}`);
          if (root.startsWith(repo + path.sep)) insideRepo++;
          for (const dir of ['us-036', 'priority-2-5-3', 'x']) assert.equal(path.dirname(worktreePath(root, dir)), root);
          for (const bad of ['..', '../x', 'a/b', '.']) assert.throws(() => worktreePath(root, bad), /would leave the worktree root/);
        }),
        { seed: SEED, numRuns: scaled(500, 50) },
      );
      report(`${figures.roots} candidate roots, ${figures.rootsRefused} refused ${JSON.stringify(Object.fromEntries(refusedBy))}; ${insideRepo} accepted roots are inside the repository (allowed: their own worktrees, ignored by none)`);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  describe('with a real repository', () => {
    let s: Sandbox;
    afterEach(() => {
      killAgents(s);
      s.cleanup();
    });

    it('a worktree root replaced by a symlink after the request is refused when the run is provisioned', async () => {
      s = makeSandbox();
      const store = Store.open(s.state);
      try {
        // Requested (claimed) while no leader runs: provisioning comes later.
        const run = await requestSpawn(store, s.state, s.repo, 'US-036', { agentCommand: chaosAgent('sleep:60000') });
        const outside = path.join(s.dir, 'outside');
        fs.mkdirSync(outside);
        fs.symlinkSync(outside, `${s.repo}.worktrees`);
        const r = await cli(s, ['reconcile']);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.ok(await waitUntil(() => !['requested', 'provisioning'].includes(store.getRun(run.id)!.status), 15_000), 'provisioned or refused');
        const after = store.getRun(run.id)!;
        report(`run ${after.status}: ${after.error ?? ''}`);
        assert.deepEqual(fs.readdirSync(outside), [], 'nothing was created through the symlink');
        assert.equal(after.status, 'failed');
        assert.match(after.error ?? '', /symlink/);
        assert.equal(git(s.repo, 'worktree', 'list').split('\n').length, 1, 'no worktree was added');
      } finally {
        store.close();
      }
    });

    it('the state dir, database, run folders, logs and records are created readable by the user only, even under umask 000', async () => {
      s = makeSandbox();
      const setup = JSON.stringify([NODE, '-e', 'console.log("setup ran")']);
      const command = JSON.stringify(chaosAgent('commit:a', 'exit:0'));
      // A shell here (the test's, not the product's) only to set the umask for the CLI.
      const r = await execa('sh', ['-c', 'umask 000; exec "$@"', 'sh', NODE, CLI, '--repo', s.repo, '--state-dir', s.state, 'spawn', 'US-036', '--wait', '--agent-command', command, '--setup-command', setup], {
        reject: false,
        env: { FAKE_AGENT_TRACE: s.trace, WTO_BUSY_TIMEOUT_MS: '5000' },
      });
      assert.equal(r.exitCode, 0, r.stderr);
      const store = Store.open(s.state);
      const run = store.listRuns()[0];
      await until(() => store.getRun(run.id)!.status === 'succeeded', 15_000);
      store.close();
      const files: string[] = [];
      const walk = (p: string) => {
        files.push(p);
        if (fs.lstatSync(p).isDirectory()) for (const f of fs.readdirSync(p)) walk(path.join(p, f));
      };
      walk(s.state);
      figures.files = files.length;
      const open = files.filter((f) => fs.lstatSync(f).mode & 0o077).map((f) => `${path.relative(s.dir, f)} ${(fs.lstatSync(f).mode & 0o777).toString(8)}`);
      report(`${files.length} files and folders under the state dir (umask 000): ${open.length ? open.join(', ') : 'all without group/other permissions'}`);
      for (const expected of ['state.db', `runs/${run.id}`, `runs/${run.id}/agent.log`, `runs/${run.id}/exit.json`, `runs/${run.id}/supervisor.json`]) {
        assert.ok(fs.existsSync(path.join(s.state, expected)), `${expected} exists`);
      }
      assert.match(fs.readFileSync(path.join(s.state, 'runs', run.id, 'agent.log'), 'utf8'), /setup ran/, 'the setup command logged there too');
      // The WAL and shared-memory files exist only while a connection is open: look at them
      // under a leader that runs with umask 000 too.
      const leader = spawn('sh', ['-c', 'umask 000; exec "$@"', 'sh', NODE, CLI, '--repo', s.repo, '--state-dir', s.state, 'start'], { stdio: ['ignore', 'pipe', 'ignore'] });
      try {
        let out = '';
        leader.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        await until(() => /^reconciled/m.test(out), 15_000);
        for (const extra of ['state.db-wal', 'state.db-shm']) {
          const f = path.join(s.state, extra);
          assert.ok(fs.existsSync(f), `${extra} exists while the leader runs`);
          figures.files++;
          if (fs.statSync(f).mode & 0o077) open.push(`${extra} ${(fs.statSync(f).mode & 0o777).toString(8)}`);
        }
      } finally {
        leader.kill('SIGTERM');
      }
      assert.deepEqual(open, []);
    });
  });
});

/** Files under src/ whose text matches (the test's own grep: no shell). */
function execaSyncGrep(re: RegExp): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (/\.ts$/.test(f) && re.test(fs.readFileSync(p, 'utf8'))) out.push(p);
    }
  };
  walk(path.join(ROOT, 'src'));
  return out;
}
