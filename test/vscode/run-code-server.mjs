#!/usr/bin/env node
// Runs the mocha suite in test/vscode/suite/ inside a real VS Code extension host:
// code-server 4.139.1 (VS Code 1.139.1) with the packaged VSIX installed, one headless
// chromium tab opened on a temp git repo with extensionDevelopmentPath (the installed VSIX's
// folder, so the tests exercise exactly what ships) and extensionTestsPath (the bundled suite).
// The host reports its exit code to the page's codeAutomationExit, which we expose.
//
//   node test/vscode/run-code-server.mjs [--skip-package] [--grep PATTERN]
//   env: WTO_VSIX=path (use this VSIX, skip packaging), WTO_SUITE_TIMEOUT_MS (default 600000),
//        WTO_VERBOSE=1 (echo the page console), WTO_KEEP_TEMP=1 (keep temp folders)
import { existsSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { provision } from '../../scripts/provision-code-server.mjs';
import { packageVsix, defaultVsixPath } from '../../scripts/package-vsix.mjs';
import { buildSuite } from './build-suite.mjs';
import { repoRoot, startCodeServer, launchBrowser, makeTestRepo, makeTempDir, workbenchUrl, remoteUri } from './code-server.mjs';

const argv = process.argv.slice(2);
const grep = argv.includes('--grep') ? argv[argv.indexOf('--grep') + 1] : undefined;
const timeoutMs = Number(process.env.WTO_SUITE_TIMEOUT_MS ?? 600_000);
const verbose = !!process.env.WTO_VERBOSE;
const secs = (t) => `${((Date.now() - t) / 1000).toFixed(1)} s`;

// Streams what the suite appends to the results file (mocha's spec reporter lines).
function follow(file) {
  let offset = 0;
  const flush = () => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= offset) return;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    offset = size;
    process.stdout.write(buf.toString('utf8'));
  };
  const timer = setInterval(flush, 250);
  return () => {
    clearInterval(timer);
    flush();
  };
}

async function main() {
  const t0 = Date.now();
  provision();
  const vsix = process.env.WTO_VSIX ?? (argv.includes('--skip-package') && existsSync(defaultVsixPath) ? defaultVsixPath : packageVsix());
  const suiteIndex = await buildSuite();
  const workspace = makeTestRepo();
  const results = join(makeTempDir('wto-results-'), 'results.txt');

  const server = await startCodeServer({
    vsix,
    smokeTestDriver: true,
    env: {
      WTO_TEST_WORKSPACE: workspace,
      WTO_TEST_RESULTS: results,
      ...(grep ? { WTO_TEST_GREP: grep } : {}),
    },
  });
  let context;
  let code = 1;
  const pageErrors = [];
  const stopFollowing = follow(results);
  try {
    context = await launchBrowser();
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      const line = `[page ${m.type()}] ${m.text()}`;
      if (verbose) console.log(line);
      else if (m.type() === 'error') pageErrors.push(line);
    });
    page.on('pageerror', (e) => pageErrors.push(`[page exception] ${e.message}`));

    let onExit;
    const exited = new Promise((r) => (onExit = r));
    // VS Code's web workbench calls window.codeAutomationExit(code, logs) when the extension
    // host that ran extensionTestsPath exits.
    await page.exposeFunction('codeAutomationExit', (c) => onExit(Number(c)));

    const url = workbenchUrl(server, {
      folder: workspace,
      payload: [
        ['extensionDevelopmentPath', remoteUri(server, server.extensionDir)],
        ['extensionTestsPath', remoteUri(server, suiteIndex)],
      ],
    });
    const tRun = Date.now();
    await page.goto(url);
    let timer;
    const timedOut = new Promise((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const result = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      console.error(`[vscode-suite] no result from the extension host within ${timeoutMs / 1000} s`);
      await page.screenshot({ path: join(server.base, 'timeout.png') }).catch(() => {});
    } else {
      code = result;
    }
    console.log(`[vscode-suite] extension host exited with ${code} after ${secs(tRun)} (total ${secs(t0)})`);
  } finally {
    stopFollowing();
    let summary;
    try {
      summary = JSON.parse(readFileSync(results + '.json', 'utf8'));
    } catch {}
    if (code !== 0 || !summary) {
      if (pageErrors.length) console.error(pageErrors.slice(-30).join('\n'));
      console.error(`---- code-server log (tail) ----\n${server.logTail()}`);
      const saved = server.saveLogs(join(repoRoot, 'test-output', 'vscode-suite-logs'));
      console.error(`[vscode-suite] server and extension host logs copied to ${saved}`);
    }
    await context?.close();
    await server.stop();
    // Plain closing line the CI reads ('N passed, N failed').
    if (summary) console.log(`vscode-suite: ${summary.passed} passed, ${summary.failed} failed`);
    else code ||= 1;
    if (!summary) console.log('vscode-suite: the suite reported no results');
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
