#!/usr/bin/env node
// Runs the same in-host mocha suite in desktop VS Code (Electron) via @vscode/test-electron.
// Desktop VS Code cannot be downloaded on this machine, so this only runs when
// VSCODE_EXECUTABLE points at an installed `code` binary; otherwise it says why and exits 0.
//
//   VSCODE_EXECUTABLE=/path/to/code node test/vscode/run-electron.mjs [--skip-package]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageVsix, defaultVsixPath } from '../../scripts/package-vsix.mjs';
import { buildSuite } from './build-suite.mjs';
import { makeTestRepo, makeTempDir, repoRoot } from './code-server.mjs';

const exe = process.env.VSCODE_EXECUTABLE;
if (!exe) {
  console.log('vscode-electron: skipped (set VSCODE_EXECUTABLE to a desktop VS Code binary to run the suite in Electron)');
  process.exit(0);
}

const { runTests } = await import('@vscode/test-electron');
const suiteIndex = await buildSuite();
const workspace = makeTestRepo();
const userDataDir = join(makeTempDir('wto-electron-'), 'user-data');
const results = join(makeTempDir('wto-results-'), 'results.txt');
// The repo itself is the development extension here; build it first (the VSIX is only
// packaged to prove it still packs).
if (!process.argv.includes('--skip-package') || !existsSync(defaultVsixPath)) packageVsix();

let code = 1;
try {
  code = await runTests({
    vscodeExecutablePath: exe,
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: suiteIndex,
    launchArgs: [workspace, '--user-data-dir', userDataDir, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
    extensionTestsEnv: { WTO_TEST_WORKSPACE: workspace, WTO_TEST_RESULTS: results, WTO_TEST_USER_DATA_DIR: userDataDir,
      // A desktop window is local: machine-scoped settings are read from User/settings.json.
      WTO_TEST_MACHINE_SETTINGS: join(userDataDir, 'User', 'settings.json') },
  });
} catch (e) {
  console.error(e);
}
process.exit(code);
