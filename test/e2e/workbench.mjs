// Browser e2e helpers: drive the real workbench (code-server + headless chromium) like a user.
//
//   const wb = await startWorkbench();          // code-server with the VSIX, a temp git repo
//   const tab = await wb.openTab();              // a workbench window on wb.repo
//   await tab.runCommand('Orchestrator: Spawn code_developer');
//   await tab.screenshot('after-spawn');         // -> test-output/e2e/<name>.png
//   const tab2 = await wb.openTab();             // a second window = a second extension host,
//                                                // same server, same global storage
//   await wb.close();                            // also dumps the server log if failed
//
// Each tab is its own extension host process on one server (one user-data-dir), so two tabs
// behave like two VS Code windows of one user profile: the setup for leader/standby tests.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { provision } from '../../scripts/provision-code-server.mjs';
import { packageVsix, defaultVsixPath } from '../../scripts/package-vsix.mjs';
import { repoRoot, startCodeServer, launchBrowser, makeTestRepo, workbenchUrl } from '../vscode/code-server.mjs';

export const outputDir = join(repoRoot, 'test-output', 'e2e');

let packaged; // package once per process, however many workbenches a run starts
function vsixForTests() {
  if (process.env.WTO_VSIX) return process.env.WTO_VSIX;
  if (process.env.WTO_SKIP_PACKAGE) return defaultVsixPath;
  return (packaged ??= packageVsix());
}

const safe = (name) => name.replace(/[^\w.-]+/g, '_').slice(0, 120);

/**
 * Starts code-server with the packaged VSIX and a browser. Options: repo (default: a fresh
 * temp git repo with docs/roadmap/ROADMAP.md), userSettings, machineSettings, env.
 */
export async function startWorkbench({ repo, userSettings, machineSettings, env } = {}) {
  provision();
  const vsix = vsixForTests();
  repo ??= makeTestRepo();
  const server = await startCodeServer({ vsix, userSettings, machineSettings, env });
  let browser;
  try {
    browser = await launchBrowser();
  } catch (e) {
    await server.stop();
    throw e;
  }
  const tabs = [];
  const wb = {
    server,
    browser,
    repo,
    tabs,
    failed: [], // titles of failed tests, for close({ failed })
    /** Opens a workbench window (a new browser tab) on `folder` (default: the repo). */
    async openTab({ folder = repo, workspace } = {}) {
      const page = browser.pages().find((p) => p.url() === 'about:blank' && !tabs.some((t) => t.page === p)) ?? (await browser.newPage());
      const tab = makeTab(page, tabs.length + 1);
      tabs.push(tab);
      await page.goto(workbenchUrl(server, workspace ? { workspace } : { folder }));
      await tab.waitForWorkbench();
      return tab;
    },
    /** Stops browser and server; with failed=true, first saves screenshots and logs. */
    async close({ failed = false, name = 'failure' } = {}) {
      if (failed) {
        for (const t of tabs) await t.screenshot(`${name}-tab${t.index}`).catch(() => {});
        const saved = server.saveLogs(join(outputDir, `${safe(name)}-logs`));
        console.error(`---- code-server log (tail) ----\n${server.logTail(60)}\n[e2e] logs saved to ${saved}`);
      }
      await browser.close();
      await server.stop();
    },
  };
  return wb;
}

function makeTab(page, index) {
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  const tab = {
    page,
    index,
    consoleErrors,
    async waitForWorkbench(timeout = 60_000) {
      await page.locator('.monaco-workbench').waitFor({ timeout });
      // The status bar is painted once the window has restored its parts.
      await page.locator('.part.statusbar').waitFor({ timeout });
    },
    /**
     * Opens the command palette and types `text` after its '>' prefix; returns the quick-input
     * locator. Clicks nothing: a click "somewhere neutral" once landed on the status bar's
     * remote indicator, whose own quick pick then took the typed text. Instead: close any
     * quick input that is open, move keyboard focus into the workbench (out of a webview,
     * say) with a plain DOM focus() on the status bar, press F1, and accept the input only
     * when it is the command palette (its value starts with '>'). Right after a window
     * loads, F1 may do nothing yet: it keeps trying for `timeout` ms.
     */
    async openCommandPalette(text = '', { timeout = 20_000 } = {}) {
      const widget = page.locator('.quick-input-widget');
      const input = widget.locator('.quick-input-box input');
      const deadline = Date.now() + timeout;
      // Several tabs share one browser: keys go to this one, and it is the focused page.
      await page.bringToFront();
      for (let attempt = 1; ; attempt++) {
        for (let i = 0; i < 3 && (await input.isVisible()); i++) {
          await page.keyboard.press('Escape');
          await input.waitFor({ state: 'hidden', timeout: 1_000 }).catch(() => {});
        }
        await page.locator('.part.statusbar').focus().catch(() => {});
        await page.keyboard.press(attempt % 2 ? 'F1' : 'Control+Shift+P');
        const opened = await input.waitFor({ state: 'visible', timeout: 2_000 }).then(() => true, () => false);
        if (opened && (await input.inputValue()).startsWith('>')) break;
        if (Date.now() > deadline) throw new Error(`the command palette did not open (quick input ${opened ? `shows ${JSON.stringify(await input.inputValue())}` : 'hidden'})`);
      }
      await input.fill(`>${text}`);
      const value = await input.inputValue();
      if (value !== `>${text}`) throw new Error(`the command palette input reads ${JSON.stringify(value)}, not ${JSON.stringify(`>${text}`)}`);
      return widget;
    },
    /** The palette row whose label contains `title` (e.g. 'Orchestrator: Spawn code_developer'). */
    paletteRow(title) {
      return page.locator('.quick-input-widget .monaco-list-row', { hasText: title });
    },
    /**
     * Opens the palette on `title` and waits for its row. Retries with a fresh palette:
     * commands contributed by extensions only appear once the extension host has registered
     * them, and an open palette does not refresh its list.
     */
    async findCommand(title, { timeout = 60_000 } = {}) {
      const deadline = Date.now() + timeout;
      for (;;) {
        await tab.openCommandPalette(title);
        const row = tab.paletteRow(title).first();
        try {
          await row.waitFor({ timeout: 3_000 });
          return row;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await page.keyboard.press('Escape');
        }
      }
    },
    /** Runs a command by its palette title (category included), like a user would. */
    async runCommand(title, opts) {
      await (await tab.findCommand(title, opts)).click();
    },
    async screenshot(name) {
      mkdirSync(outputDir, { recursive: true });
      const file = join(outputDir, `${safe(name)}.png`);
      await page.screenshot({ path: file });
      return file;
    },
  };
  return tab;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The probe's first truthy value (it may be async: a page read); throws naming `what` after `timeoutMs`. */
export async function until(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}
