#!/usr/bin/env node
// `npm start`: the extension working in an embedded VS Code (code-server), on a demo repository.
//
//   npm start                      # build, package, provision, start; Ctrl-C stops everything
//   npm start -- --smoke           # the same, check it answers (HTTP + workbench), stop, exit 0
//
// Options: --smoke (or DEMO_SMOKE=1), --dir DIR (default .demo, or WTO_DEMO_DIR), --port N
// (default 8080 when free, else any free port; 0: any free port), --skip-package (reuse the
// demo's last VSIX), --vsix FILE (install that VSIX, no build),
// --keep-agents (leave running agents alone on exit), --no-seed (no first run on a new demo
// repository), --no-browser (smoke: HTTP check only).
//
// What it keeps in the demo folder (git-ignored; reused by the next `npm start`, delete it to
// start afresh):
//   repo/             a git repository with docs/roadmap/ROADMAP.md (US-001 done, US-002..US-005 planned)
//   repo.worktrees/   the run worktrees (the orchestrator's default: beside the repository)
//   state/            the orchestrator's state dir (database, leader lease, run logs), shared
//                     by the extension (worktreeOrchestrator.stateDir) and the CLI
//   code-server/      code-server's config, user data (settings, window state), extensions, log
//   worktree-orchestrator.vsix  the package this demo installed
//
// The agent is demo/demo-agent.mjs on the project's Node 24; its command is written to
// code-server/user-data/Machine/settings.json, because code-server windows are remote windows
// and read machine-scoped settings (the agent command is one) from there only.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, portFree } from './ports.mjs';
import { provision } from './provision-code-server.mjs';
import { packageVsix } from './package-vsix.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXTENSION_ID = 'worktree-orchestrator.worktree-orchestrator';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ACTIVE = ['requested', 'provisioning', 'running', 'stopping'];
const SEED_PRIORITY = 'US-002';

const { values: opts } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: !!process.env.DEMO_SMOKE && process.env.DEMO_SMOKE !== '0' },
    dir: { type: 'string', default: process.env.WTO_DEMO_DIR ?? join(root, '.demo') },
    port: { type: 'string' },
    'skip-package': { type: 'boolean' },
    vsix: { type: 'string' },
    'keep-agents': { type: 'boolean' },
    'no-seed': { type: 'boolean' },
    'no-browser': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l, i, a) => a.slice(0, i + 1).every((x) => x.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}

const t0 = Date.now();
const secs = (since = t0) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const log = (m) => console.log(`[demo] ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const demoDir = resolve(opts.dir);
const repoDir = join(demoDir, 'repo');
const stateDir = join(demoDir, 'state');
const csDir = join(demoDir, 'code-server');
const userDataDir = join(csDir, 'user-data');
const extensionsDir = join(csDir, 'extensions');
const pidFile = join(csDir, 'server.json');
const serverLog = join(csDir, 'server.log');
let vsixPath = join(demoDir, 'worktree-orchestrator.vsix');
// The orchestrator's CLI: the copy inside the installed extension once it is installed, so the
// CLI and the extension always share one version (and one database schema).
let cliJs = join(root, 'dist', 'cli.js');

// The project's pinned Node 24 (the `node` dev dependency): better-sqlite3 13 needs >= 22, and
// the agent and the CLI must not depend on whatever `node` is first on PATH.
const pinnedNode = join(root, 'node_modules', 'node', 'bin', 'node');
const node = existsSync(pinnedNode) ? pinnedNode : process.execPath;
const agentCommand = [node, join(root, 'demo', 'demo-agent.mjs'), '--title', '${title}'];

// ---- the demo repository --------------------------------------------------------------------
const ROADMAP = `# Demo roadmap

A small roadmap for the Worktree Orchestrator demo. Each priority below is a heading with an
id; "Spawn code_developer" starts one demo agent per priority, each in its own git worktree on
its own branch. The demo agent works for a few seconds, writes \`features/<id>.md\`, adds a line
to \`CHANGELOG.md\` and commits.

## US-001: Project skeleton

**Status**: ✅ Complete

The repository, this roadmap and a README.

## US-002: Greeting command

**Status**: 📝 Planned

Print a friendly greeting.

## US-003: Configurable greeting

**Status**: 📝 Planned

Let the user choose the greeting's wording.

## US-004: Greeting history

**Status**: 📝 Planned

Remember the last ten greetings.

## US-005: Release notes

**Status**: 📝 Planned

Summarise what changed for the first release.
`;

const git = (cwd, ...args) =>
  execFileSync('git', ['-c', 'user.name=Demo', '-c', 'user.email=demo@demo.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Creates the demo repository, or reuses it. Returns true when it was created now. */
function ensureDemoRepo() {
  if (existsSync(join(repoDir, '.git'))) {
    git(repoDir, 'rev-parse', '--verify', 'HEAD'); // a usable repository, not a broken leftover
    return false;
  }
  if (existsSync(repoDir)) throw new Error(`${repoDir} exists but is not a git repository; remove it (or the whole ${demoDir}) and run again`);
  mkdirSync(join(repoDir, 'docs', 'roadmap'), { recursive: true });
  writeFileSync(join(repoDir, 'docs', 'roadmap', 'ROADMAP.md'), ROADMAP);
  writeFileSync(
    join(repoDir, 'README.md'),
    '# Greeter (Worktree Orchestrator demo)\n\nA demo repository made by `npm start`. Open the Worktree Orchestrator view in the\nactivity bar, then run **Orchestrator: Spawn code_developer** and pick a priority.\n',
  );
  writeFileSync(join(repoDir, 'CHANGELOG.md'), '# Changelog\n\n');
  git(repoDir, 'init', '-q', '-b', 'main');
  git(repoDir, 'add', '-A');
  git(repoDir, 'commit', '-q', '-m', 'US-001: Project skeleton');
  return true;
}

// ---- settings -------------------------------------------------------------------------------
function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    // A hand-edited settings.json may hold comments: keep a copy, then start it over.
    const backup = `${file}.${Date.now()}.bak`;
    writeFileSync(backup, readFileSync(file));
    log(`could not parse ${file} (${e.message}); saved it as ${backup}`);
    return {};
  }
}

function writeSettings() {
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  mkdirSync(join(userDataDir, 'Machine'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  const userFile = join(userDataDir, 'User', 'settings.json');
  // User settings: written once, so whatever is changed in the demo window stays.
  if (!existsSync(userFile)) {
    const quiet = {
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'workbench.enableExperiments': false,
      'chat.disableAIFeatures': true,
      'git.openRepositoryInParentFolders': 'never',
      'extensions.ignoreRecommendations': true,
    };
    writeFileSync(userFile, JSON.stringify(quiet, null, 2) + '\n');
  }
  // Machine settings: the agent command and the state dir are rewritten on every start (the
  // clone may have moved); everything else set there is kept.
  const machineFile = join(userDataDir, 'Machine', 'settings.json');
  const machine = readJson(machineFile) ?? {};
  machine['worktreeOrchestrator.codeDeveloper.command'] = agentCommand;
  machine['worktreeOrchestrator.stateDir'] = stateDir;
  machine['worktreeOrchestrator.maxParallel'] ??= 2;
  writeFileSync(machineFile, JSON.stringify(machine, null, 2) + '\n');
  return machineFile;
}

// ---- code-server ----------------------------------------------------------------------------
let paths;
const serverEnv = () => {
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(csDir, 'xdg-config'),
    XDG_DATA_HOME: join(csDir, 'xdg-data'),
    PATH: `${dirname(paths.node)}:${process.env.PATH}`,
  };
  delete env.NODE_OPTIONS;
  return env;
};
const common = () => ['--config', join(csDir, 'config.yaml'), '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};
const killGroup = (pgid, sig) => {
  try {
    process.kill(-pgid, sig);
  } catch {}
};

/** A server of this demo folder left behind by a run that could not clean up (kill -9, crash). */
async function stopLeftoverServer() {
  const prev = readJson(pidFile);
  // Another `npm start` on this folder still runs: one demo per folder.
  if (prev?.owner && prev.owner !== process.pid && alive(prev.owner) && cmdlineOf(prev.owner).includes('start-demo')) {
    throw new Error(`a demo on ${demoDir} already runs (pid ${prev.owner}) at http://127.0.0.1:${prev.port}/?folder=${encodeURI(repoDir)}; stop it (Ctrl-C there) or pass --dir for a separate one`);
  }
  if (!prev?.pid || !alive(prev.pid)) return;
  if (!cmdlineOf(prev.pid).includes(userDataDir)) return; // the pid was reused by something else
  log(`stopping the demo's code-server left running from before (pid ${prev.pid}, port ${prev.port})`);
  killGroup(prev.pid, 'SIGTERM');
  for (let i = 0; i < 50 && alive(prev.pid); i++) await sleep(100);
  killGroup(prev.pid, 'SIGKILL');
}

function cmdlineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

let server; // { child, pgid, exited }

async function startServer(port) {
  writeFileSync(join(csDir, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const args = [
    paths.codeServerEntry,
    ...common(),
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    // The demo repository is one this script just made: trust it without a prompt.
    '--disable-workspace-trust',
    '--reconnection-grace-time', '5',
    '--bind-addr', `127.0.0.1:${port}`,
  ];
  const out = openSync(serverLog, 'a');
  // detached: its own session and process group (setsid), stopped with a group kill, which
  // also takes its extension hosts and terminals. Agents are detached on their own (by
  // design they outlive windows), so they are stopped separately, through the CLI.
  const child = spawn(paths.node, args, { env: serverEnv(), stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  server = { child, pgid: child.pid, exited: false };
  child.on('exit', (code, signal) => {
    server.exited = true;
    if (!shuttingDown) {
      console.error(`[demo] code-server exited on its own (${signal ?? `code ${code}`}); log: ${serverLog}\n${tail(serverLog)}`);
      void shutdown(1);
    }
  });
  writeFileSync(pidFile, JSON.stringify({ pid: child.pid, port, owner: process.pid }) + '\n');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exited) throw new Error(`code-server exited during start-up:\n${tail(serverLog)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`code-server did not answer on port ${port} within 60 s:\n${tail(serverLog)}`);
    await sleep(200);
  }
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- the orchestrator's CLI on the demo's state dir -------------------------------------------
function cli(args, { quiet = false } = {}) {
  const r = spawnSync(node, [cliJs, '--state-dir', stateDir, '--repo', repoDir, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (!quiet) for (const line of `${r.stdout}${r.stderr}`.split('\n').filter(Boolean)) console.log(`[demo]   ${line}`);
  return r;
}
function runs() {
  const r = cli(['status', '--json'], { quiet: true });
  try {
    return JSON.parse(r.stdout).runs;
  } catch {
    return [];
  }
}

/** Stops the agents still running for this demo: the CLI leads while the windows are gone. */
function stopActiveAgents() {
  const active = runs().filter((r) => ACTIVE.includes(r.status));
  if (!active.length) return;
  if (opts['keep-agents']) {
    log(`left ${active.length} agent(s) running (--keep-agents); see them with: ${rel(node)} ${rel(cliJs)} --state-dir ${rel(stateDir)} status`);
    log(`stop one with: ${rel(node)} ${rel(cliJs)} --state-dir ${rel(stateDir)} --repo ${rel(repoDir)} stop <priority>`);
    return;
  }
  for (const r of active) {
    log(`stopping agent ${r.priority} (run ${r.id}, ${r.status})`);
    cli(['stop', r.id]);
  }
}
const rel = (p) => relative(process.cwd(), p) || '.';

// ---- smoke check ----------------------------------------------------------------------------
async function browserCheck(url) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    log('playwright-core is not installed: skipping the workbench check');
    return;
  }
  const executablePath = process.env.CHROMIUM_PATH ?? paths.chromium ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    log(`no browser at ${executablePath}: skipping the workbench check`);
    return;
  }
  const profile = mkdtempSync(join(tmpdir(), 'wto-demo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 900 } });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
    const tPage = Date.now();
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    if (process.env.WTO_DEMO_DEBUG) log(`workbench element after ${secs(tPage)}`);
    const item = page.locator('.part.statusbar .statusbar-item:has-text("Orchestrator:")').first();
    await item.waitFor({ timeout: 60_000 });
    // The window becomes the leader once the extension has taken the lease.
    const deadline = Date.now() + 30_000;
    let text = '';
    while (Date.now() < deadline && !/leader/.test(text)) {
      text = (await item.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
      if (!/leader/.test(text)) await sleep(250);
    }
    log(`workbench loaded, status bar: "${text}" (${secs(tPage)} after opening the page)`);
    if (!/Orchestrator: leader/.test(text)) throw new Error(`the window did not become the orchestrator's leader (status bar: "${text}")`);
    const shots = join(root, 'test-output', 'demo');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'demo-workbench.png') });
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Smoke: the run seeded on a new demo repository ends well, with a commit naming it. */
async function checkSeededRun(runId) {
  const deadline = Date.now() + 90_000;
  let run;
  for (;;) {
    run = runs().find((r) => r.id === runId);
    if (run && !ACTIVE.includes(run.status)) break;
    if (Date.now() > deadline) throw new Error(`the seeded run ${runId} is still ${run?.status ?? 'missing'} after 90 s`);
    await sleep(500);
  }
  const subject = git(repoDir, 'log', '-1', '--format=%s', run.branch);
  log(`seeded run ${run.priority} ${run.status} (exit ${run.exitCode}); ${run.branch}: "${subject}"`);
  if (run.status !== 'succeeded' || !subject.startsWith(`${SEED_PRIORITY}:`)) throw new Error(`the seeded run did not end with a commit for ${SEED_PRIORITY}`);
}

// ---- shutdown -------------------------------------------------------------------------------
let shuttingDown = false;
let ownsDemo = false;
async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (server && !server.exited) {
    log('stopping code-server');
    killGroup(server.pgid, 'SIGTERM');
    for (let i = 0; i < 50 && !server.exited; i++) await sleep(100);
    killGroup(server.pgid, 'SIGKILL'); // stragglers in its group (extension hosts, terminals)
  }
  // Only a demo that got this folder (no other `npm start` holds it) cleans up in it.
  if (ownsDemo) {
    rmSync(pidFile, { force: true });
    if (existsSync(cliJs) && existsSync(stateDir)) stopActiveAgents();
  }
  if (ownsDemo) log(`stopped (${secs()}). The demo folder ${rel(demoDir)} is kept: \`npm start\` reuses it; delete it to start afresh.`);
  process.exit(code);
}
// A second Ctrl-C while stopping: no more waiting.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (shuttingDown) {
      if (server) killGroup(server.pgid, 'SIGKILL');
      process.exit(130);
    }
    console.log('');
    log(`${sig}: stopping everything this demo started`);
    void shutdown(sig === 'SIGINT' ? 0 : 128 + ({ SIGTERM: 15, SIGHUP: 1 }[sig] ?? 0));
  });
}
process.on('exit', () => {
  if (server && !server.exited) killGroup(server.pgid, 'SIGKILL');
});

// ---- main -----------------------------------------------------------------------------------
async function main() {
  const nodeMajor = Number(execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0]);
  if (nodeMajor < 22) throw new Error(`${node} is Node ${nodeMajor}; the demo needs Node >= 22 (run \`npm install\` for the pinned Node 24, then \`npm start\`)`);

  let t = Date.now();
  paths = provision();
  log(`code-server ready (${secs(t)})`);

  mkdirSync(demoDir, { recursive: true });
  t = Date.now();
  if (opts.vsix) {
    vsixPath = resolve(opts.vsix);
    if (!existsSync(vsixPath)) throw new Error(`${vsixPath} is missing: run \`npm run package\` first`);
    log(`using ${rel(vsixPath)}`);
  } else if (opts['skip-package'] && existsSync(vsixPath)) log(`reusing ${rel(vsixPath)}`);
  else {
    packageVsix({ out: vsixPath });
    log(`packaged (${secs(t)})`);
  }

  const created = ensureDemoRepo();
  log(`${created ? 'created' : 'reusing'} the demo repository ${rel(repoDir)}`);
  mkdirSync(csDir, { recursive: true });
  await stopLeftoverServer();
  ownsDemo = true;
  const machineFile = writeSettings();
  log(`agent command (machine setting in ${rel(machineFile)}): ${JSON.stringify(agentCommand.map((a) => (a.startsWith(root) ? rel(a) : a)))}`);

  t = Date.now();
  execFileSync(paths.node, [paths.codeServerEntry, ...common(), '--install-extension', vsixPath, '--force'], {
    env: serverEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  const installed = readdirSync(extensionsDir)
    .filter((d) => d.toLowerCase().startsWith(`${EXTENSION_ID}-`))
    .map((d) => join(extensionsDir, d))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!installed || !existsSync(join(installed, 'dist', 'cli.js'))) throw new Error(`${EXTENSION_ID} (with dist/cli.js) not found in ${extensionsDir} after --install-extension`);
  cliJs = join(installed, 'dist', 'cli.js');
  log(`installed ${EXTENSION_ID} ${JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version} (${secs(t)})`);

  // A new demo repository gets one run right away, so the first window already shows a
  // finished run with a diff. The CLI leads for as long as it takes to start the agent; the
  // window takes over, adopts the agent and records its end.
  let seeded;
  if (created && !opts['no-seed']) {
    log(`first run: ${SEED_PRIORITY} with the demo agent`);
    const r = cli(['spawn', SEED_PRIORITY, '--agent-command', JSON.stringify(agentCommand)]);
    seeded = /\(run (\S+), attempt/.exec(r.stdout)?.[1];
    if (r.status !== 0 || !seeded) throw new Error(`could not start the first run (exit ${r.status})`);
  }

  const port = opts.port === '0' ? await freePort() : opts.port ? Number(opts.port) : (await portFree(8080)) ? 8080 : await freePort();
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port ${opts.port}: not a port number`);
  t = Date.now();
  await startServer(port);
  const url = `http://127.0.0.1:${port}/?folder=${encodeURI(repoDir)}`;
  log(`code-server up (${secs(t)})`);
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url} answered HTTP ${res.status}`);
  console.log(
    [
      '',
      '  Worktree Orchestrator demo is running. Open:',
      '',
      `    ${url}`,
      '',
      '  In the window: the Worktree Orchestrator view (activity bar), the status bar item, and',
      '  "Orchestrator: Spawn code_developer" (F1) on a planned priority; when a run has ended,',
      '  right-click it in the Agents view for Show Changes (Diff), Merge, Remove Worktree.',
      `  Server log: ${rel(serverLog)}  ·  state: ${rel(stateDir)}  ·  ready in ${secs()}`,
      opts.smoke ? '' : '  Ctrl-C stops code-server and the demo agents still running.\n',
    ].join('\n'),
  );

  if (!opts.smoke) return; // keep running until a signal
  if (!opts['no-browser']) {
    t = Date.now();
    await browserCheck(url);
    log(`workbench check (${secs(t)})`);
  }
  if (seeded) await checkSeededRun(seeded);
  log(`smoke ok: HTTP 200 from ${url} (${secs()})`);
  await shutdown(0);
}

main().catch(async (e) => {
  console.error(`[demo] failed: ${e.message ?? e}`);
  if (!shuttingDown) await shutdown(1);
});
