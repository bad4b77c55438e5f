// Shared harness for driving a real VS Code (code-server 4.139.1 = VS Code 1.139.1) from Node:
// start a throw-away code-server with the extension's VSIX installed, open workbench tabs in
// Debian's chromium through playwright-core, and always tear everything down.
// Used by test/vscode/run-code-server.mjs (mocha inside the extension host) and test/e2e/.
//
// Everything lives in one temp folder per server (config, user data, extensions, XDG dirs, log)
// so runs never touch ~/.config or each other. The server runs in its own process group
// (setsid) and is stopped with a group kill, so its extension hosts and terminals go with it.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, cpSync, openSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../scripts/ports.mjs';
import { provision } from '../../scripts/provision-code-server.mjs';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const EXTENSION_ID = 'worktree-orchestrator.worktree-orchestrator';
const keepTemp = !!process.env.WTO_KEEP_TEMP; // set to inspect a failed run's folders

const log = (m) => console.log(`[code-server] ${m}`);

/** A temp folder removed when the process exits (unless WTO_KEEP_TEMP is set). */
export function makeTempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!keepTemp) onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- cleanup on any exit path -------------------------------------------------------------
const cleanups = new Set();
let handlersInstalled = false;
function onCleanup(fn) {
  cleanups.add(fn);
  if (handlersInstalled) return () => cleanups.delete(fn);
  handlersInstalled = true;
  // 'exit' handlers must be synchronous: the cleanups below only send signals / rm folders.
  process.on('exit', () => {
    for (const f of cleanups) try { f(true); } catch {}
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`[code-server] got ${sig}, stopping`);
      process.exit(130);
    });
  }
  return () => cleanups.delete(fn);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A temp git repository with a small roadmap, for tests to open as the workspace folder. */
export function makeTestRepo({ roadmap } = {}) {
  const dir = join(makeTempDir('wto-repo-'), 'repo');
  mkdirSync(join(dir, 'docs', 'roadmap'), { recursive: true });
  writeFileSync(
    join(dir, 'docs', 'roadmap', 'ROADMAP.md'),
    roadmap ??
      [
        '# Roadmap',
        '',
        '## US-001: First priority',
        '',
        '**Status**: 📝 Planned',
        '',
        '### PRIORITY 2: Second priority 🔄 In progress',
        '',
        '### PRIORITY 3: Done already ✅ Complete',
        '',
      ].join('\n'),
  );
  writeFileSync(join(dir, 'README.md'), '# test repo\n');
  const git = (...args) =>
    execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
      cwd: dir,
      stdio: 'ignore',
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'initial');
  return dir;
}

/**
 * Starts code-server with the VSIX installed. Returns { url, authority, port, base, userDataDir,
 * extensionsDir, extensionDir, logFile, env, stop(), logTail() }.
 *  - env: extra environment for the server, inherited by every extension host it starts
 *    (tests read WTO_TEST_* from process.env inside the host).
 *  - userSettings / machineSettings: objects merged over quiet defaults. Machine-scoped
 *    settings only count in <user-data-dir>/Machine/settings.json (code-server windows are
 *    remote windows).
 *  - smokeTestDriver: pass --vscode-option enable-smoke-test-driver (needed for extension
 *    tests to report their exit code to the page's codeAutomationExit).
 */
export async function startCodeServer({ vsix, env = {}, userSettings = {}, machineSettings = {}, smokeTestDriver = false } = {}) {
  const paths = provision();
  const base = makeTempDir('wto-cs-');
  const userDataDir = join(base, 'user-data');
  const extensionsDir = join(base, 'extensions');
  const logFile = join(base, 'server.log');
  for (const d of ['User', 'Machine']) mkdirSync(join(userDataDir, d), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'security.workspace.trust.enabled': false,
        'git.openRepositoryInParentFolders': 'never',
        'chat.disableAIFeatures': true,
        ...userSettings,
      },
      null,
      2,
    ),
  );
  writeFileSync(join(userDataDir, 'Machine', 'settings.json'), JSON.stringify(machineSettings, null, 2));

  const port = await freePort();
  const config = join(base, 'config.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const serverEnv = {
    ...process.env,
    XDG_CONFIG_HOME: join(base, 'xdg-config'),
    XDG_DATA_HOME: join(base, 'xdg-data'),
    // npm run puts node_modules/.bin first on PATH; keep our Node 24 first for the server
    // and anything it spawns (extension hosts run on the server's own execPath anyway).
    PATH: `${dirname(paths.node)}:${process.env.PATH}`,
    // For tests inside the host: where to write machine-scoped settings etc.
    WTO_TEST_USER_DATA_DIR: userDataDir,
    WTO_TEST_MACHINE_SETTINGS: join(userDataDir, 'Machine', 'settings.json'),
    ...env,
  };
  delete serverEnv.NODE_OPTIONS; // a parent's --require hooks (tsx) must not leak into the server
  const common = ['--config', config, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

  const t0 = Date.now();
  if (vsix) {
    execFileSync(paths.node, [paths.codeServerEntry, ...common, '--install-extension', vsix], {
      env: serverEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
  }
  const installed = readdirSync(extensionsDir).find((d) => d.toLowerCase().startsWith(`${EXTENSION_ID}-`));
  if (vsix && !installed) throw new Error(`extension ${EXTENSION_ID} not found in ${extensionsDir} after --install-extension`);
  const tInstall = Date.now();

  const args = [
    paths.codeServerEntry,
    ...common,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--reconnection-grace-time', '5',
    '--bind-addr', `127.0.0.1:${port}`,
    ...(smokeTestDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
  ];
  const out = openSync(logFile, 'a');
  // detached: true makes the child call setsid(2): a new session and process group whose id
  // is the child's pid, so process.kill(-pid) reaches code-server and everything it spawned.
  const child = spawn(paths.node, args, { env: serverEnv, stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  const pgid = child.pid;
  let exited = false;
  child.on('exit', () => (exited = true));

  const killGroup = (sig) => {
    try { process.kill(-pgid, sig); } catch {}
  };
  const removeCleanup = onCleanup(() => {
    killGroup('SIGKILL');
    if (!keepTemp) rmSync(base, { recursive: true, force: true });
  });

  const server = {
    url: `http://127.0.0.1:${port}`,
    authority: `127.0.0.1:${port}`,
    port,
    base,
    userDataDir,
    extensionsDir,
    extensionDir: installed ? join(extensionsDir, installed) : undefined,
    logFile,
    env: serverEnv,
    /** Copies the server log and VS Code's logs (extension hosts included) to `dest`. */
    saveLogs(dest) {
      mkdirSync(dest, { recursive: true });
      try { cpSync(logFile, join(dest, 'server.log')); } catch {}
      try { cpSync(join(userDataDir, 'logs'), join(dest, 'vscode-logs'), { recursive: true }); } catch {}
      return dest;
    },
    logTail(lines = 80) {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '(no server log)';
      }
    },
    async stop() {
      killGroup('SIGTERM');
      for (let i = 0; i < 30 && !exited; i++) await sleep(100);
      killGroup('SIGKILL'); // stragglers in the group (extension hosts, ptys)
      removeCleanup();
      if (!keepTemp) rmSync(base, { recursive: true, force: true });
      else log(`kept ${base}`);
    },
  };

  // Ready when /healthz answers; fail fast if the process died.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`code-server exited during start-up:\n${server.logTail()}`);
    try {
      const r = await fetch(`${server.url}/healthz`);
      if (r.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`code-server did not answer on ${server.url} within 60 s:\n${server.logTail()}`);
    }
    await sleep(200);
  }
  log(`up at ${server.url} (install ${((tInstall - t0) / 1000).toFixed(1)} s, start ${((Date.now() - tInstall) / 1000).toFixed(1)} s)`);
  return server;
}

// ---- browser ------------------------------------------------------------------------------
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh persistent chromium context (Playwright refuses --user-data-dir in args). */
export async function launchBrowser({ headless = !process.env.WTO_HEADED } = {}) {
  const { chromium } = await import('playwright-core');
  const profile = makeTempDir('wto-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
  });
  const removeCleanup = onCleanup(() => rmSync(profile, { recursive: true, force: true }));
  const close = context.close.bind(context);
  context.close = async () => {
    await close().catch(() => {});
    removeCleanup();
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/**
 * URL of a workbench window on `folder` (a path on the server). `payload` is VS Code's
 * workbench payload: [key, value] pairs such as extensionDevelopmentPath/extensionTestsPath,
 * whose values are vscode-remote:// URIs on the server's authority.
 */
export function workbenchUrl(server, { folder, workspace, payload } = {}) {
  const q = new URLSearchParams();
  if (folder) q.set('folder', folder);
  if (workspace) q.set('workspace', workspace);
  if (payload) q.set('payload', JSON.stringify(payload));
  return `${server.url}/?${q}`;
}

export const remoteUri = (server, path) => `vscode-remote://${server.authority}${path}`;
