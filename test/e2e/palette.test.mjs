// Browser e2e: the real workbench in headless chromium, driven through the UI.
import * as assert from 'node:assert/strict';
import { startWorkbench } from './workbench.mjs';

describe('workbench (code-server + chromium)', function () {
  this.timeout(180_000);
  let wb;

  before(async () => {
    wb = await startWorkbench();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const t of wb?.tabs ?? []) await t.screenshot(`${this.currentTest.fullTitle()}-tab${t.index}`).catch(() => {});
      wb?.failed.push(this.currentTest.fullTitle());
    }
  });

  after(async () => {
    await wb?.close({ failed: wb.failed.length > 0, name: 'palette' });
  });

  it('shows "Spawn code_developer" in the command palette (F1)', async () => {
    const tab = await wb.openTab();
    const row = await tab.findCommand('Spawn code_developer');
    assert.match(await row.innerText(), /Orchestrator: Spawn code_developer/);
    const shot = await tab.screenshot('palette-spawn-code-developer');
    console.log(`      screenshot: ${shot}`);
  });

  it('opens the palette while another quick pick (the remote indicator\'s) is open', async () => {
    // openCommandPalette once clicked the status bar at (5,5) for focus, which can hit the
    // remote indicator: its quick pick then swallowed the typed command.
    const tab = wb.tabs[0];
    await tab.page.keyboard.press('Escape');
    await tab.page.locator('[id="status.host"]').click();
    const input = tab.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    assert.ok(!(await input.inputValue()).startsWith('>'), 'the remote indicator opened the command palette itself');
    const row = await tab.findCommand('Spawn code_developer');
    assert.match(await row.innerText(), /Orchestrator: Spawn code_developer/);
    assert.equal(await input.inputValue(), '>Spawn code_developer');
    await tab.page.keyboard.press('Escape');
  });

  it('runs a second window as a second extension host on the same server', async () => {
    const tab2 = await wb.openTab();
    await tab2.findCommand('Spawn code_developer');
    await tab2.page.keyboard.press('Escape');
    const launched = (wb.server.logTail(10_000).match(/Launched Extension Host Process/g) ?? []).length;
    assert.ok(launched >= 2, `expected 2 extension hosts, server log shows ${launched}`);
    await tab2.screenshot('second-window');
  });
});
