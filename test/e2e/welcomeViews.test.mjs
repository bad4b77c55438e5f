// Browser e2e: what the orchestrator's views say when there is nothing to orchestrate yet —
// a window without a git repository, and a repository without a roadmap, whose welcome view
// offers to create one from the template (after which the view offers to spawn) — and when
// its database cannot be opened.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, makeTestRepo } from '../vscode/code-server.mjs';
import { startWorkbench } from './workbench.mjs';

function repoWithoutRoadmap() {
  const dir = join(makeTempDir('wto-noroadmap-'), 'project');
  mkdirSync(dir);
  writeFileSync(join(dir, 'README.md'), '# no roadmap here\n');
  const git = (...args) => execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'initial');
  return dir;
}

async function showOrchestrator(tab) {
  const header = tab.page.locator('.pane-header', { hasText: 'Agents' }).first();
  if (!(await header.isVisible().catch(() => false))) await tab.page.locator('.activitybar [aria-label^="Worktree Orchestrator"]').first().click();
  await header.waitFor({ timeout: 15_000 });
}

const welcome = (tab, text) => tab.page.locator('.welcome-view-content', { hasText: text }).first();

describe('orchestrator welcome views (code-server + chromium)', function () {
  this.timeout(240_000);
  let wb;

  before(async () => {
    wb = await startWorkbench({ repo: makeTestRepo() });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const t of wb?.tabs ?? []) await t.screenshot(`${this.currentTest.fullTitle()}-tab${t.index}`).catch(() => {});
      wb?.failed.push(this.currentTest.fullTitle());
    }
  });

  after(async () => {
    await wb?.close({ failed: wb.failed.length > 0, name: 'welcome-views' });
  });

  it('a folder that is not a git repository: says so', async () => {
    const plain = makeTempDir('wto-plain-');
    const tab = await wb.openTab({ folder: plain });
    await showOrchestrator(tab);
    await welcome(tab, 'No git repository is open').waitFor({ timeout: 30_000 });
    await tab.screenshot('orchestrator-welcome-no-repo');
  });

  it('a repository without a roadmap: offers the template, then offers to spawn', async () => {
    const repo = repoWithoutRoadmap();
    const tab = await wb.openTab({ folder: repo });
    await showOrchestrator(tab);
    await welcome(tab, 'No roadmap found').waitFor({ timeout: 30_000 });
    await tab.screenshot('orchestrator-welcome-no-roadmap');
    await welcome(tab, 'No roadmap found').locator('.monaco-button', { hasText: 'Create Roadmap from Template' }).click();
    const file = join(repo, 'docs', 'roadmap', 'ROADMAP.md');
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(file), 'the roadmap was not created');
    assert.match(readFileSync(file, 'utf8'), /## US-001: /);
    await welcome(tab, 'No agents yet').waitFor({ timeout: 30_000 });
    await tab.screenshot('orchestrator-welcome-ready');
  });
});

describe('a damaged orchestrator database (code-server + chromium)', function () {
  this.timeout(240_000);
  let wb;
  const state = makeTempDir('wto-damaged-state-');

  before(async () => {
    writeFileSync(join(state, 'state.db'), Buffer.alloc(8192, 0x5a)); // not a SQLite file
    // stateDir is machine-scoped: in code-server's remote windows only the Machine settings count.
    wb = await startWorkbench({ machineSettings: { 'worktreeOrchestrator.stateDir': state } });
  });

  after(async function () {
    const failed = this.test?.parent?.tests.some((t) => t.state === 'failed');
    await wb?.close({ failed, name: 'damaged-database' });
  });

  it('the view, the status bar and the commands say why, and the file is kept aside untouched', async () => {
    const tab = await wb.openTab();
    await showOrchestrator(tab);
    await welcome(tab, 'could not be opened').waitFor({ timeout: 30_000 });
    const item = tab.page.locator('.part.statusbar .statusbar-item', { hasText: 'Orchestrator: unavailable' }).first();
    await item.waitFor({ timeout: 30_000 });
    await tab.screenshot('orchestrator-database-damaged');
    // The message shown at activation, cleared; then asked for again through the status bar.
    const toast = tab.page.locator('.notifications-toasts .notification-toast', { hasText: 'is damaged' }).first();
    await toast.waitFor({ timeout: 15_000 });
    await tab.runCommand('Notifications: Clear All Notifications');
    await toast.waitFor({ state: 'hidden', timeout: 15_000 });
    await item.click();
    await toast.waitFor({ timeout: 15_000 });
    const aside = readdirSync(state).filter((f) => f.startsWith('state.db.corrupt-'));
    assert.equal(aside.length, 1, readdirSync(state).join(', '));
    assert.deepEqual(readFileSync(join(state, aside[0])), Buffer.alloc(8192, 0x5a));
  });
});
