// `npm start`'s pieces: the demo code_developer on its own, and the whole demo in smoke mode
// (build/package, provision, demo repository, code-server, workbench check, clean stop).
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultVsixPath } from '../../scripts/package-vsix.mjs';
import { repoRoot } from '../vscode/code-server.mjs';

const agent = join(repoRoot, 'demo', 'demo-agent.mjs');
const startDemo = join(repoRoot, 'scripts', 'start-demo.mjs');

const git = (cwd, ...args) =>
  execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' }).trim();

function tempRepo() {
  const dir = mkdtempSync(join(tmpdir(), 'wto-demo-agent-'));
  writeFileSync(join(dir, 'README.md'), '# temp\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

/** Processes whose command line mentions `dir` or whose cwd is inside it (Linux /proc). */
function processesIn(dir) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir) || readlinkSync(`/proc/${pid}/cwd`).startsWith(dir)) found.push(Number(pid));
    } catch {}
  }
  return found;
}

describe('demo (npm start)', function () {
  const temps = [];
  after(() => {
    if (!process.env.WTO_KEEP_TEMP) for (const d of temps) rmSync(d, { recursive: true, force: true });
  });

  describe('demo code_developer (demo/demo-agent.mjs)', () => {
    it('edits a file and commits naming the priority, in its cwd', () => {
      const repo = tempRepo();
      temps.push(repo);
      const r = spawnSync(process.execPath, [agent, '--title', 'Greeting command', '--seconds', '0.2'], {
        cwd: repo,
        encoding: 'utf8',
        env: { ...process.env, WTO_PRIORITY: 'US-042', WTO_RUN_ID: 'run-test' },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /working on US-042: Greeting command/);
      assert.match(r.stdout, /\(4\/4\)/, 'prints its progress');
      assert.equal(git(repo, 'log', '-1', '--format=%s'), 'US-042: Greeting command');
      assert.equal(git(repo, 'rev-list', '--count', 'HEAD'), '2');
      assert.deepEqual(git(repo, 'show', '--name-only', '--format=', 'HEAD').split('\n').sort(), ['CHANGELOG.md', 'features/US-042.md']);
      assert.match(readFileSync(join(repo, 'features', 'US-042.md'), 'utf8'), /^# US-042: Greeting command/);
      assert.equal(git(repo, 'status', '--porcelain'), '', 'leaves a clean worktree');
    });

    it('refuses to run without WTO_PRIORITY and changes nothing', () => {
      const repo = tempRepo();
      temps.push(repo);
      const env = { ...process.env };
      delete env.WTO_PRIORITY;
      const r = spawnSync(process.execPath, [agent, '--seconds', '0'], { cwd: repo, encoding: 'utf8', env });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /WTO_PRIORITY/);
      assert.equal(git(repo, 'rev-list', '--count', 'HEAD'), '1');
      assert.equal(git(repo, 'status', '--porcelain'), '');
    });
  });

  describe('npm start -- --smoke', function () {
    this.timeout(360_000);

    it('starts the demo, answers on the printed URL, runs the first agent, and stops everything', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wto-demo-'));
      temps.push(dir);
      const args = [startDemo, '--smoke', '--dir', dir, '--port', '0'];
      if (process.env.WTO_SKIP_PACKAGE || process.env.WTO_VSIX) args.push('--vsix', process.env.WTO_VSIX ?? defaultVsixPath);
      const started = Date.now();
      const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const code = await new Promise((res) => child.on('exit', (c) => res(c)));
      console.log(`      npm start -- --smoke: exit ${code} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      assert.equal(code, 0, out);

      const repo = join(dir, 'repo');
      const url = new RegExp(`http://127\\.0\\.0\\.1:\\d+/\\?folder=${repo.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`);
      assert.match(out, url, 'prints the URL to open');
      assert.match(out, /workbench loaded, status bar: "Orchestrator: leader/);
      assert.match(out, /smoke ok/);

      // The demo repository, its roadmap, and the first run's commit on its own branch.
      assert.ok(existsSync(join(repo, 'docs', 'roadmap', 'ROADMAP.md')));
      assert.equal(git(repo, 'log', '-1', '--format=%s', 'code-developer/us-002'), 'US-002: Greeting command');
      assert.equal(git(repo, 'log', '-1', '--format=%s', 'main'), 'US-001: Project skeleton', 'the main checkout is untouched');
      const machine = JSON.parse(readFileSync(join(dir, 'code-server', 'user-data', 'Machine', 'settings.json'), 'utf8'));
      assert.equal(machine['worktreeOrchestrator.codeDeveloper.command'][1], agent);

      // Nothing left running: no code-server on the demo's profile, no agent in its worktrees.
      assert.deepEqual(processesIn(dir), []);
      assert.ok(!existsSync(join(dir, 'code-server', 'server.json')), 'the pid file is removed');
    });
  });
});
