#!/usr/bin/env node
// Builds the extension for production and packs it into a .vsix with @vscode/vsce.
//
//   node scripts/package-vsix.mjs [--out FILE] [--skip-build]
//
// better-sqlite3 is external to the esbuild bundle, so it must travel inside the VSIX's
// node_modules. `vsce package --no-dependencies` never looks into node_modules at all, so we
// let vsce collect the production dependency tree (`npm list --production`) and the
// allow-list in .vscodeignore keeps only better-sqlite3's runtime files (lib/, package.json,
// prebuilds/ or a locally compiled build/Release/better_sqlite3.node). Everything else in
// node_modules is already bundled into dist/.
// @lydell/node-pty (the agents' pseudo-terminal, loaded by dist/supervisor.js) is external
// too: its JS, and one package per platform with the prebuilt pty.node. npm installs only this
// platform's; the others are fetched with `npm pack` into node_modules before packing, so the
// one VSIX serves them all (offline, it ships what is installed and says so).
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
export const defaultVsixPath = join(root, `${pkg.name}-${pkg.version}.vsix`);

// Files that must be in the VSIX for the extension to load its database and host its agents.
const REQUIRED = [
  'extension/package.json',
  'extension/dist/extension.js',
  'extension/dist/supervisor.js',
  // Loaded by the supervisor only when a client attaches: missing, attach shows no screen.
  'extension/dist/screenLibrary.js',
  'extension/node_modules/better-sqlite3/package.json',
  'extension/node_modules/better-sqlite3/lib/index.js',
  'extension/node_modules/@lydell/node-pty/package.json',
  'extension/node_modules/@lydell/node-pty/index.js',
];

/** The platforms node-pty's prebuilt packages serve: one VSIX carries all of them. */
function ptyPlatformPackages() {
  const ptyPkg = JSON.parse(readFileSync(join(root, 'node_modules', '@lydell', 'node-pty', 'package.json'), 'utf8'));
  return Object.entries(ptyPkg.optionalDependencies ?? {});
}

/** Fetches the platform packages npm did not install (other OSes and CPUs) into node_modules. */
function ensurePtyPlatforms() {
  const missing = ptyPlatformPackages().filter(([name]) => !existsSync(join(root, 'node_modules', name, 'package.json')));
  if (!missing.length) return [];
  const tmp = mkdtempSync(join(tmpdir(), 'wto-pty-'));
  const failed = [];
  try {
    for (const [name, version] of missing) {
      try {
        const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', tmp, '--', `${name}@${version}`], { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
        const dest = join(root, 'node_modules', name);
        mkdirSync(dest, { recursive: true });
        execFileSync('tar', ['-xzf', join(tmp, file), '-C', dest, '--strip-components=1'], { stdio: 'inherit' });
      } catch (e) {
        failed.push(`${name}@${version} (${e.message.split('\n')[0]})`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (failed.length) console.warn(`[package] could not fetch ${failed.join(', ')}: the VSIX runs agents with pipes there`);
  return failed;
}

const vsceBin = join(dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');

function vsce(args) {
  // Run vsce on the Node running this script (v24 under `npm run`).
  return execFileSync(process.execPath, [vsceBin, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

// Names of the entries of a zip file, read from its central directory (no unzip needed).
function zipEntries(file) {
  const buf = readFileSync(file);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${file} is not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const names = [];
  for (let i = 0; i < count; i++) {
    const nameLen = buf.readUInt16LE(p + 28);
    names.push(buf.toString('utf8', p + 46, p + 46 + nameLen));
    p += 46 + nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return names;
}

export function packageVsix({ out = defaultVsixPath, build = true } = {}) {
  const t0 = Date.now();
  if (build) execFileSync('npm', ['run', 'build', '--', '--production'], { cwd: root, stdio: 'inherit' });
  const tBuild = Date.now();

  // --allow-missing-repository: package.json has no `repository`, and vsce would otherwise
  // stop at an interactive y/N prompt (fatal in CI, which has no stdin).
  // --no-rewrite-relative-links: without a repository vsce has no base URL to turn the
  // README's relative links (docs/images/*.png) into, and refuses to pack; left relative,
  // they resolve inside the installed extension's folder, which ships docs/images/.
  ensurePtyPlatforms();
  const noRepo = !pkg.repository;
  vsce(['package', ...(noRepo ? ['--allow-missing-repository', '--no-rewrite-relative-links'] : []), '--out', out]);
  if (!existsSync(out)) throw new Error(`vsce did not write ${out}`);
  // Check the artifact itself, not vsce's prediction of it.
  const files = zipEntries(out);
  const nativeOk = files.some((f) => /^extension\/node_modules\/better-sqlite3\/(prebuilds\/.+|build\/Release\/better_sqlite3)\.node$/.test(f));
  const missing = REQUIRED.filter((f) => !files.includes(f));
  if (missing.length || !nativeOk) {
    throw new Error(`${out} misses ${[...missing, ...(nativeOk ? [] : ['a better_sqlite3 .node binary'])].join(', ')}; check .vscodeignore`);
  }
  const ptyBinaries = ptyPlatformPackages().filter(([name]) => [`pty.node`, `conpty.node`].some((bin) => files.includes(`extension/node_modules/${name}/${bin}`))).map(([name]) => name.replace('@lydell/node-pty-', ''));
  if (!ptyBinaries.length) throw new Error(`${out} has no node-pty binary (node_modules/@lydell/node-pty-<platform>/pty.node); check .vscodeignore`);
  const shipped = /^extension\/node_modules\/(better-sqlite3|@lydell\/node-pty(-[a-z0-9]+-[a-z0-9]+)?)\//;
  const stray = files.filter((f) => /^extension\/(src|test|scripts|\.vscode-test)\//.test(f) || (f.startsWith('extension/node_modules/') && !shipped.test(f)));
  if (stray.length) throw new Error(`${out} includes files that belong out of it: ${stray.slice(0, 10).join(', ')}`);
  const size = statSync(out).size;
  console.log(
    `[package] ${relative(process.cwd(), out) || out}: ${(size / 1024 / 1024).toFixed(2)} MB, ${files.length} files, node-pty for ${ptyBinaries.join(" ")} ` +
      `(build ${((tBuild - t0) / 1000).toFixed(1)} s, vsce ${((Date.now() - tBuild) / 1000).toFixed(1)} s)`,
  );
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  packageVsix({ out: i > 0 ? resolve(process.argv[i + 1]) : defaultVsixPath, build: !process.argv.includes('--skip-build') });
}
