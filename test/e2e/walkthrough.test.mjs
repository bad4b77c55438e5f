// The first-use walkthrough (contributes.walkthroughs), as a user opens it in the workbench.
import * as assert from 'node:assert/strict';
import { startWorkbench } from './workbench.mjs';

/** Waits until some frame (the step's markdown is rendered in a webview) shows `text`. */
async function waitForWebviewText(page, text, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    for (const f of page.frames()) {
      if ((await f.evaluate(() => document.body?.innerText ?? '').catch(() => '')).includes(text)) return;
    }
    if (Date.now() > deadline) throw new Error(`no webview shows "${text}"`);
    await page.waitForTimeout(250);
  }
}

/**
 * tab.runCommand, retried: right after a window loads, F1 sometimes does not open the palette
 * yet, and the harness's openCommandPalette then throws instead of trying again.
 */
async function runCommand(tab, title, { attempts = 4, timeout = 30_000 } = {}) {
  for (let i = 1; ; i++) {
    try {
      return await tab.runCommand(title, { timeout });
    } catch (e) {
      if (i >= attempts) throw e;
      await tab.page.keyboard.press('Escape').catch(() => {});
      await tab.page.waitForTimeout(1_000);
    }
  }
}

describe('walkthrough (code-server + chromium)', function () {
  this.timeout(180_000);
  let wb;
  let failed = false;

  before(async () => {
    wb = await startWorkbench();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });
  after(async () => {
    await wb?.close({ failed, name: 'walkthrough' });
  });

  it('opens from "Welcome: Open Walkthrough…" with its four steps and their buttons', async () => {
    const tab = await wb.openTab();
    const { page } = tab;
    // The extension must be active for its walkthrough to be listed.
    for (let i = 1; ; i++) {
      try {
        await tab.findCommand('Spawn code_developer');
        break;
      } catch (e) {
        if (i >= 4) throw e;
        await page.keyboard.press('Escape').catch(() => {});
        await page.waitForTimeout(1_000);
      }
    }
    await page.keyboard.press('Escape');
    await page.waitForTimeout(500);
    // Room for the step's media beside the steps (a narrow editor hides it).
    const aux = page.locator('.part.auxiliarybar');
    if (await aux.isVisible().catch(() => false)) {
      await runCommand(tab, 'Hide Secondary Side Bar', { attempts: 2, timeout: 10_000 }).catch(() => page.keyboard.press('Escape'));
    }
    await page.waitForTimeout(500);
    await runCommand(tab, 'Welcome: Open Walkthrough');
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Get started with Worktree Orchestrator' }).first();
    await row.waitFor({ timeout: 30_000 });
    await row.click();

    const steps = ['Configure the code_developer command', 'Open the roadmap', 'Spawn your first code_developer', 'Follow, review and merge'];
    for (const title of steps) {
      await page.locator('.getting-started-step', { hasText: title }).first().waitFor({ timeout: 30_000 });
    }
    // The first step is expanded: its button opens the agent command setting.
    await page.locator('.getting-started-step.expanded', { hasText: steps[0] }).locator('a, .monaco-button', { hasText: 'Open the Setting' }).first().waitFor({ timeout: 10_000 });
    // Its markdown (media/walkthrough/configure-agent.md) renders in the webview beside it.
    await waitForWebviewText(page, 'Tell it what a code_developer is');
    await tab.screenshot('walkthrough-configure-agent');

    await page.locator('.getting-started-step', { hasText: steps[2] }).first().click();
    const spawn = page.locator('.getting-started-step.expanded', { hasText: steps[2] }).locator('a, .monaco-button', { hasText: 'Spawn code_developer' }).first();
    await spawn.waitFor({ timeout: 10_000 });
    await waitForWebviewText(page, 'Spawn one code_developer per priority');
    await tab.screenshot('walkthrough-spawn');
    assert.ok(await spawn.isVisible());
  });
});
