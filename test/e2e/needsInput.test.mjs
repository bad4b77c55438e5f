// Browser e2e (code-server + chromium), two windows of one profile: an agent started from the
// CLI replays Claude Code's stream-json with a denied Bash. Exactly one notification says the
// run needs input — in the leading window, with Follow Up… and Show Log — and none in the
// standby; both status bars count the run; the Agents view shows the mark.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { provision } from '../../scripts/provision-code-server.mjs';
import { repoRoot } from '../vscode/code-server.mjs';
import { sleep, startWorkbench, until } from './workbench.mjs';

const REPLAY = join(repoRoot, 'test', 'fixtures', 'replayAgent.mjs');
const CLAUDE = join(repoRoot, 'test', 'fixtures', 'agentEvents', 'claude.jsonl');
const MESSAGE = 'US-001 needs input: permission denied: Bash';

function stateDir(server) {
  const base = join(server.userDataDir, 'User', 'globalStorage');
  const dir = existsSync(base) && readdirSync(base).find((d) => d.toLowerCase() === 'worktree-orchestrator.worktree-orchestrator');
  return dir ? join(base, dir) : undefined;
}

const cli = (wb, ...args) => execFileSync(provision().node, [join(repoRoot, 'dist', 'cli.js'), ...args, '--state-dir', stateDir(wb.server), '--repo', wb.repo], { encoding: 'utf8', timeout: 30_000 });


const statusText = async (tab) =>
  (await tab.page.locator('.part.statusbar .statusbar-item:has-text("Orchestrator:")').first().innerText({ timeout: 2_000 }).catch(() => '')).replace(/\s+/g, ' ').trim();
/** The notification toasts (and the notification center's list) that carry `text`. */
const toasts = (tab, text) => tab.page.locator('.notifications-toasts .notification-toast', { hasText: text });

describe('needs input: one notification across two windows (code-server + chromium)', function () {
  this.timeout(300_000);
  let wb;
  let leader;
  let standby;

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
    try {
      if (wb && stateDir(wb.server)) cli(wb, 'stop', 'US-001');
    } catch {}
    await wb?.close({ failed: wb.failed.length > 0, name: 'needs-input' });
  });

  it('the leader window alone announces the mark, once, with Follow Up… and Show Log; both count it', async () => {
    leader = await wb.openTab();
    await until('the leader', async () => /Orchestrator: leader/.test(await statusText(leader)));
    standby = await wb.openTab();
    await until('the standby', async () => /Orchestrator: standby/.test(await statusText(standby)));
    // Started from the CLI: the leading window carries out the request.
    cli(wb, 'spawn', 'US-001', '--agent-command', JSON.stringify([provision().node, REPLAY, CLAUDE, '--hold', '60']));
    const toast = toasts(leader, MESSAGE).first();
    await toast.waitFor({ timeout: 60_000 });
    const text = (await toast.innerText()).replace(/\s+/g, ' ');
    assert.match(text, /Follow Up…/);
    assert.match(text, /Show Log/);
    await leader.screenshot('needs-input-leader-notification');
    await until('the leader status bar count', async () => /1 needs input/.test(await statusText(leader)));
    await until('the standby status bar count', async () => /1 needs input/.test(await statusText(standby)));
    await sleep(4000); // later fact writes and change events in both windows
    assert.equal(await toasts(leader, MESSAGE).count(), 1, 'one notice in the leader');
    await standby.page.bringToFront();
    assert.equal(await toasts(standby, MESSAGE).count(), 0, 'none in the standby');
    const st = JSON.parse(cli(wb, 'status', '--json'));
    assert.equal(st.runs[0].attention?.state, 'needs-input');
  });
});
