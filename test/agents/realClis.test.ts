// Opt-in (`npm run test:agents`, not in `npm test` or CI): installs today's agent CLIs from
// npm and runs each preset's exact argv in a real linked worktree for a few seconds, with no
// credentials and no network, to show that each gets past argument parsing. Aider is a
// Python program: it is run when `aider` is on PATH, and skipped otherwise.
// The CLIs are installed once into $WTO_AGENTS_DIR (default .agents-test/ in the repository).
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expandCommand } from '../../src/core/agent/agents';
import { agentTemplate, PresetName, prioritySection, runValues, writeSpecFile } from '../../src/core/agent/agentPresets';

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = path.resolve(process.env.WTO_AGENTS_DIR ?? path.join(ROOT, '.agents-test'));
const PACKAGES: Record<Exclude<PresetName, 'aider'>, string> = {
  claude: '@anthropic-ai/claude-code',
  codex: '@openai/codex',
  gemini: '@google/gemini-cli',
};
const RUN_MS = Number(process.env.WTO_AGENTS_RUN_MS ?? 8000);

/** What each CLI's argument parser prints when it refuses its arguments. */
const USAGE_ERROR = [
  /error: unknown option/i, // commander (claude)
  /error: (?:option|too many arguments|missing required argument)/i,
  /error: unexpected argument/i, // clap (codex)
  /error: invalid value/i,
  /error: a value is required/i,
  /unknown arguments?:/i, // yargs (gemini)
  /not enough arguments/i,
  /invalid values:/i,
  /error: unrecognized arguments/i, // argparse (aider)
  /^usage: /im,
];
const usageError = (output: string): string | undefined => USAGE_ERROR.map((re) => re.exec(output)?.[0]).find(Boolean);

const ROADMAP = '# Roadmap\n\n## US-036: Add login 📝 Planned\n\nBuild a login form.\n\n## US-037: Later\n';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd, encoding: 'utf8' }).trim();
}

function installClis(): void {
  const missing = Object.entries(PACKAGES).filter(([bin]) => !fs.existsSync(path.join(CACHE, 'node_modules', '.bin', bin)));
  if (!missing.length) return;
  fs.mkdirSync(CACHE, { recursive: true });
  if (!fs.existsSync(path.join(CACHE, 'package.json'))) fs.writeFileSync(path.join(CACHE, 'package.json'), '{ "private": true }\n');
  const started = Date.now();
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--', ...missing.map(([, pkg]) => pkg)], { cwd: CACHE, stdio: 'inherit' });
  console.log(`      installed ${missing.map(([, p]) => p).join(', ')} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function versionOf(bin: string): string {
  const pkg = PACKAGES[bin as keyof typeof PACKAGES];
  if (!pkg) return 'from PATH';
  return (JSON.parse(fs.readFileSync(path.join(CACHE, 'node_modules', ...pkg.split('/'), 'package.json'), 'utf8')) as { version: string }).version;
}

function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, program);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** Runs argv for at most `ms`, in its own process group, with no credentials and every proxy pointing nowhere. */
function runFor(argv: string[], cwd: string, home: string, ms: number): Promise<{ output: string; exit: string }> {
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    CODEX_HOME: path.join(home, '.codex'),
    NO_COLOR: '1',
    TERM: 'dumb',
    // No network needed to parse arguments: fail fast instead of waiting on one.
    HTTPS_PROXY: 'http://127.0.0.1:9',
    HTTP_PROXY: 'http://127.0.0.1:9',
    https_proxy: 'http://127.0.0.1:9',
    http_proxy: 'http://127.0.0.1:9',
    NO_UPDATE_NOTIFIER: '1',
  };
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, ms);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ output: `${output}${e.message}`, exit: 'spawn error' });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGKILL'); // anything it left behind
      } catch {
        // gone
      }
      resolve({ output, exit: signal === 'SIGKILL' ? `still running after ${ms / 1000} s (killed)` : `exit ${code ?? signal}` });
    });
  });
}

describe('presets against the real CLIs (opt-in)', function () {
  this.timeout(15 * 60_000);
  let dir: string;
  let worktree: string;
  let repo: string;
  const summary: string[] = [];

  before(function () {
    installClis();
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wto-agents-')));
    repo = path.join(dir, 'repo');
    fs.mkdirSync(path.join(repo, 'docs', 'roadmap'), { recursive: true });
    git(dir, 'init', '-q', '-b', 'main', repo);
    fs.writeFileSync(path.join(repo, 'docs', 'roadmap', 'ROADMAP.md'), ROADMAP);
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'init');
    worktree = path.join(`${repo}.worktrees`, 'us-036');
    git(repo, 'worktree', 'add', '-q', '-b', 'code-developer/us-036', '--', worktree, 'main');
    fs.mkdirSync(path.join(dir, 'home', '.codex'), { recursive: true }); // codex refuses a CODEX_HOME that does not exist
  });

  after(() => {
    if (summary.length) console.log(`\n${summary.join('\n')}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const name of ['claude', 'codex', 'gemini', 'aider'] as const) {
    it(`${name}: the preset's argv gets past argument parsing (and a bad flag does not)`, async function () {
      const program = name === 'aider' ? onPath('aider') : path.join(CACHE, 'node_modules', '.bin', name);
      if (!program) {
        summary.push(`${name}: skipped (not on PATH; it is installed with pip, not npm)`);
        return this.skip();
      }
      const t = agentTemplate({ agent: name });
      const values = runValues(t, { priority: 'US-036', title: 'Add login', worktree, branch: 'code-developer/us-036', runId: 'r-agents-test', repo }, path.join(dir, 'state'));
      writeSpecFile(values.specFile, prioritySection(ROADMAP, 3), 'docs/roadmap/ROADMAP.md');
      assert.equal(values.gitDir, git(worktree, 'rev-parse', '--absolute-git-dir'), 'the git dir the preset makes writable is the real one');
      const argv = expandCommand(t.template, values);
      const ran = await runFor([program, ...argv.slice(1)], worktree, path.join(dir, 'home'), RUN_MS);
      const lines = ran.output.split('\n').filter((l) => l.trim());
      summary.push(`${name} ${versionOf(name)}: ${ran.exit}; printed ${lines.length} line(s):\n${lines.slice(0, 8).map((l) => `    ${l.slice(0, 220)}`).join('\n')}`);
      assert.equal(usageError(ran.output), undefined, `usage error from ${name}:\n${ran.output.slice(0, 2000)}`);
      if (name === 'claude') assert.ok(ran.output.includes(`"session_id":"${values.sessionId}"`), 'claude took the session id it was given');
      // The check above can fail: the same CLI given one unknown flag is caught by it.
      const at = name === 'codex' ? 2 : 1; // after `exec`
      const bad = await runFor([program, ...argv.slice(1, at), '--surely-not-a-flag-wto', ...argv.slice(at)], worktree, path.join(dir, 'home'), RUN_MS);
      assert.ok(usageError(bad.output), `${name} accepted an unknown flag, or its refusal was not recognised:\n${bad.output.slice(0, 1000)}`);
    });
  }
});
