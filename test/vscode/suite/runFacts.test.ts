// What a run is doing, in the Agents view (issue 15): a fake agent replays Claude Code's
// stream-json (a denied Bash among it); the run's item shows the mark, the last activity, the
// tokens, cost and session; the status bar counts it; the leading window says it once, with
// Follow Up… and Show Log.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Run } from '../../../src/core/model/run';
import type { ExtensionApi } from '../../../src/ui/host/extensionApi';
import type { ShownMessage } from '../../../src/ui/host/notifier';
import type { RunNode } from '../../../src/ui/views/agentsTreeProvider';
import { EXTENSION_ID, testWorkspace } from './env';
import { addPriorities, setAgentCommand, until } from './helpers';

// Bundled to out/test/vscode/suite/: the repository is four folders up.
const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const REPLAY = path.join(ROOT, 'test', 'fixtures', 'replayAgent.mjs');
const CLAUDE = path.join(ROOT, 'test', 'fixtures', 'agentEvents', 'claude.jsonl');

describe('Run facts in the Agents view', function () {
  this.timeout(90_000);
  let api: ExtensionApi;
  const messages: ShownMessage[] = [];
  let listener: vscode.Disposable | undefined;

  before(async () => {
    api = await vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!.activate();
    listener = api.testing.onDidShowMessage((m) => messages.push(m));
    api.testing.setWorkspaceOpener(async () => undefined);
    const repo = fs.realpathSync(testWorkspace());
    addPriorities(repo, [['US-301', 'Replays Claude']]);
    // Replays the stream, then stays alive (silently) so that the run is live while we look.
    await setAgentCommand([process.execPath, REPLAY, CLAUDE, '--hold', '20']);
    await api.testing.repositories();
    await until('this window to lead', () => api.isLeader());
  });

  after(() => {
    listener?.dispose();
    api?.testing.setWorkspaceOpener(undefined);
  });

  it('shows the needs-input mark, last activity, tokens, cost and session on the run; counts it; says it once', async () => {
    const run = await vscode.commands.executeCommand<Run>('worktreeOrchestrator.spawnCodeDeveloper', 'US-301');
    assert.ok(run, JSON.stringify(messages));
    await until('the facts', () => api.store.runFacts(run.id)?.costUsd === 0.0421, 30_000);
    const item = await until('the run item to show the mark', () => {
      api.agentsTree.refresh();
      const node: RunNode | undefined = api.agentsTree.findRun(run.id);
      const it = node && api.agentsTree.getTreeItem(node);
      return it && String(it.description).startsWith('needs input') ? it : undefined;
    });
    assert.match(String(item.description), /^needs input: permission denied: Bash · pid \d+ · /);
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'bell-dot');
    const tooltip = (item.tooltip as vscode.MarkdownString).value;
    assert.match(tooltip, /Tokens: `53\.8k in \/ 214 out`/);
    assert.match(tooltip, /Cost: `\$0\.0421`/);
    assert.match(tooltip, /Session: `5f1c2a8e-2b1d-4c57-9a0e-7d1f3b6c9e21`/);
    assert.match(tooltip, /Ports: `\d+–\d+/);
    assert.match(tooltip, /Last activity: `I created hello\.txt but may not push/);
    await until('the status bar count', () => / 1 needs input/.test(api.statusBarText()));
    const shown = await until('the notice', () => messages.find((m) => m.message === 'US-301 needs input: permission denied: Bash'));
    assert.equal(shown.severity, 'warning');
    assert.deepEqual(shown.actions, ['Follow Up…', 'Show Log']);
    await new Promise((r) => setTimeout(r, 2500)); // later fact writes and change events
    assert.equal(messages.filter((m) => m.message === shown.message).length, 1, 'one notice per mark');
    await vscode.commands.executeCommand('worktreeOrchestrator.stopAgent', run.id);
  });
});
