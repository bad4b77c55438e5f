// The user-facing layer inside a real extension host: the spawn command end to end (request →
// leader provisions a worktree and starts a supervised agent → the worktree goes into the
// window), the trees and the status bar against the database, and the refusals.
//
// Opening the generated .code-workspace file reloads a single-folder window, which would end
// this test run, so the test replaces only that last step (api.testing.setWorkspaceOpener) and
// checks the file that would be opened. The code-server harness runs with workspace trust
// disabled, so the untrusted path is reached through api.testing.setTrustedOverride, and the
// guard function is also checked on its own.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { agentCommandProblem } from '../../../src/core/agent/agentCommandCheck';
import type { AgentNode, PriorityNode } from '../../../src/ui/views/agentsTreeProvider';
import type { ExtensionApi } from '../../../src/ui/host/extensionApi';
import type { ShownMessage } from '../../../src/ui/host/notifier';
import { spawnRefusal, UNTRUSTED_SPAWN_MESSAGE } from '../../../src/ui/host/workspaceTrust';
import type { WorktreeNode } from '../../../src/ui/views/worktreesTreeProvider';
import { EXTENSION_ID, testWorkspace } from './env';
import { git, setAgentCommand, until } from './helpers';
import type { Run } from '../../../src/core/model/run';

const SPAWN = 'worktreeOrchestrator.spawnCodeDeveloper';
/** A stand-in code_developer: prints a line, then runs until it gets SIGTERM. */
const AGENT = [
  process.execPath,
  '-e',
  'console.log("fake code_developer for " + process.env.WTO_PRIORITY + " in " + process.cwd()); process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000);',
];

describe('Worktree Orchestrator UI (spawn, trees, status bar, refusals)', function () {
  this.timeout(90_000);
  let api: ExtensionApi;
  let repo: string;
  let run: Run;
  const opened: vscode.Uri[] = [];
  const messages: ShownMessage[] = [];
  let listener: vscode.Disposable | undefined;

  before(async () => {
    const ext = vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed`);
    api = await ext.activate();
    assert.ok(api?.store, 'activate() returned no API (did the database fail to open?)');
    repo = fs.realpathSync(testWorkspace());
    listener = api.testing.onDidShowMessage((m) => messages.push(m));
    api.testing.setWorkspaceOpener(async (uri) => {
      opened.push(uri);
    });
    await setAgentCommand(AGENT);
    await api.testing.repositories();
  });

  after(async () => {
    listener?.dispose();
    api?.testing.setWorkspaceOpener(undefined);
    api?.testing.setTrustedOverride(undefined);
    // Leave no agent running behind the suite.
    for (const r of api?.store.listRuns({ statuses: ['requested', 'provisioning', 'running', 'stopping'] }) ?? []) api.store.requestStop(r.id);
    await until('every run to end', () => api.store.listRuns({ statuses: ['requested', 'provisioning', 'running', 'stopping'] }).length === 0, 30_000).catch(() => undefined);
  });

  it('contributes "Spawn code_developer" (category Orchestrator) and registers it', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const contributed = (ext.packageJSON.contributes.commands as Array<{ command: string; title: string; category?: string }>).find((c) => c.command === SPAWN);
    assert.equal(contributed?.title, 'Spawn code_developer');
    assert.equal(contributed?.category, 'Orchestrator');
    assert.ok((await vscode.commands.getCommands(true)).includes(SPAWN));
  });

  it('leads (the only window) and says so in the status bar', async () => {
    await until('this window to lead', () => api.isLeader());
    await until('the status bar to say leader', () => /Orchestrator: leader · 0 running/.test(api.statusBarText()));
  });

  it('spawns code_developer for a priority: one run, one worktree, the worktree added to the window', async () => {
    const result = await vscode.commands.executeCommand<Run | undefined>(SPAWN, 'US-001');
    assert.ok(result, `the command returned no run; messages: ${JSON.stringify(messages)}`);
    run = result;
    assert.equal(run.priority, 'US-001');
    assert.equal(run.status, 'running', `run ended up ${run.status}: ${run.error}`);
    assert.ok(run.pid, 'no agent pid recorded');

    // Exactly one run, and it is in the database as returned.
    const runs = api.store.listRuns({ repo });
    assert.equal(runs.length, 1);
    assert.equal(runs[0].id, run.id);

    // Exactly one worktree besides the main checkout, on the run's branch, outside the repo.
    const worktrees = git(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).map((l) => l.slice(9));
    assert.equal(worktrees.length, 2, worktrees.join('\n'));
    assert.ok(fs.existsSync(run.worktree));
    assert.equal(fs.realpathSync(worktrees[1]), fs.realpathSync(run.worktree));
    assert.ok(!fs.realpathSync(run.worktree).startsWith(repo + path.sep));
    assert.equal(git(run.worktree, 'symbolic-ref', '--short', 'HEAD').trim(), run.branch);

    // The window is a single folder, so a .code-workspace listing both folders is written and opened.
    assert.equal(opened.length, 1, 'the workspace file was not opened');
    const file = opened[0].fsPath;
    assert.ok(file.endsWith(`${path.basename(repo)}.code-workspace`), file);
    const content = JSON.parse(fs.readFileSync(file, 'utf8')) as { folders: Array<{ path: string; name?: string }> };
    assert.deepEqual(content.folders.map((f) => fs.realpathSync(f.path)), [repo, fs.realpathSync(run.worktree)]);

    // The agent really runs in its worktree: its first line reaches the log.
    await until('the agent output in the log', () => fs.existsSync(run.logPath) && fs.readFileSync(run.logPath, 'utf8').includes('fake code_developer for US-001'));
  });

  it('shows the run in the Agents and Worktrees views as the database has it', async () => {
    api.agentsTree.refresh();
    const roots = api.agentsTree.getChildren() as AgentNode[];
    assert.equal(roots.length, 1);
    const priority = roots[0] as PriorityNode;
    const pItem = api.agentsTree.getTreeItem(priority);
    assert.equal(pItem.label, 'US-001');
    assert.equal(pItem.contextValue, 'priority.active');

    const children = api.agentsTree.getChildren(priority);
    assert.equal(children.length, 1);
    const item = api.agentsTree.getTreeItem(children[0]);
    assert.equal(item.label, '#1 running');
    assert.equal(item.contextValue, 'run.running');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'sync~spin');
    assert.match(String(item.description), new RegExp(`pid ${run.pid}`));
    assert.match(String(item.description), new RegExp(run.branch.replace(/[/.]/g, '\\$&')));
    const tooltip = (item.tooltip as vscode.MarkdownString).value;
    assert.ok(tooltip.includes(run.worktree), tooltip);

    api.worktreesTree.refresh();
    const wts = (await api.worktreesTree.getChildren()) as WorktreeNode[];
    assert.equal(wts.length, 2);
    assert.equal(api.worktreesTree.getTreeItem(wts[0]).contextValue, 'worktree.main');
    // Ahead/behind and dirty counts are filled in after the items are listed.
    await api.worktreesTree.settled();
    const linked = api.worktreesTree.getTreeItem(wts[1]);
    assert.equal(linked.contextValue, 'worktree.linked.active');
    assert.match(String(linked.description), /US-001 running/);
    assert.match(String(linked.description), /↑0 ↓0/);

    await until('the status bar to count the agent', () => /Orchestrator: leader · 1 running/.test(api.statusBarText()));
  });

  it('lists worktrees without waiting for git, then fills in counts and re-renders just those items', async () => {
    const wip = path.join(run.worktree, 'wip-from-test.txt');
    api.worktreesTree.refresh(true);
    const changed: WorktreeNode[] = [];
    const sub = api.worktreesTree.onDidChangeTreeData((e) => {
      if (Array.isArray(e)) changed.push(...e);
    });
    try {
      fs.writeFileSync(wip, 'untracked\n');
      // The items come from `git worktree list` and the database alone.
      const wts = (await api.worktreesTree.getChildren()) as WorktreeNode[];
      const linked = wts.find((n) => !n.isMain)!;
      assert.equal(api.worktreesTree.getTreeItem(linked).contextValue, 'worktree.linked.active');
      // The dirty count arrives later, as a change of that item alone (not of the whole tree).
      await until('the dirty count of the worktree', () => changed.includes(linked) && linked.dirty === 1);
      assert.match(String(api.worktreesTree.getTreeItem(linked).description), /1 changed/);
      assert.ok(!changed.some((n) => n.isMain), 'the main checkout did not change but was re-rendered');
    } finally {
      sub.dispose();
      fs.rmSync(wip, { force: true });
    }
    // Its removal is noticed on the next Refresh.
    api.worktreesTree.refresh(true);
    await api.worktreesTree.settled();
    const again = ((await api.worktreesTree.getChildren()) as WorktreeNode[]).find((n) => !n.isMain)!;
    assert.equal(again.dirty, 0);
  });

  it('re-checks the dirty count of a worktree open in this window when its files change, without Refresh', async () => {
    await api.worktreesTree.settled();
    const main = ((await api.worktreesTree.getChildren()) as WorktreeNode[]).find((n) => n.isMain)!;
    const before = main.dirty ?? 0;
    const scratch = path.join(repo, 'scratch-from-test.txt');
    fs.writeFileSync(scratch, 'new\n');
    try {
      await until('the new file to count', () => main.dirty === before + 1);
    } finally {
      fs.rmSync(scratch, { force: true });
    }
    await until('its removal to count', () => main.dirty === before);
  });

  it('refuses a second run of the same priority, says so and offers Reveal', async () => {
    messages.length = 0;
    const again = await vscode.commands.executeCommand<Run | undefined>(SPAWN, 'US-001');
    assert.equal(again, undefined);
    const refusal = messages.find((m) => /already has an active code_developer run/.test(m.message));
    assert.ok(refusal, JSON.stringify(messages));
    assert.ok(refusal.message.startsWith('US-001'));
    assert.deepEqual(refusal.actions, ['Reveal']);
    assert.equal(api.store.listRuns({ repo }).length, 1);
    assert.equal(git(repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).length, 2);
  });

  it('refuses to spawn in an untrusted workspace and changes nothing', async () => {
    assert.equal(spawnRefusal(true), undefined);
    assert.equal(spawnRefusal(false), UNTRUSTED_SPAWN_MESSAGE);

    messages.length = 0;
    api.testing.setTrustedOverride(false);
    try {
      const result = await vscode.commands.executeCommand<Run | undefined>(SPAWN, 'PRIORITY-2');
      assert.equal(result, undefined);
    } finally {
      api.testing.setTrustedOverride(undefined);
    }
    assert.ok(messages.some((m) => m.message === UNTRUSTED_SPAWN_MESSAGE), JSON.stringify(messages));
    assert.equal(api.store.listRuns({ repo }).length, 1);
    assert.equal(api.store.findRun('PRIORITY-2', repo), undefined);
  });

  it('refuses a priority the roadmap does not have, and changes nothing', async () => {
    messages.length = 0;
    const result = await vscode.commands.executeCommand<Run | undefined>(SPAWN, 'US-999');
    assert.equal(result, undefined);
    assert.ok(messages.some((m) => m.severity === 'error' && /US-999 is not a priority in docs\/roadmap\/ROADMAP\.md/.test(m.message)), JSON.stringify(messages));
    const bad = await vscode.commands.executeCommand<Run | undefined>(SPAWN, '../../etc');
    assert.equal(bad, undefined);
    assert.ok(messages.some((m) => /is not a valid priority id/.test(m.message)), JSON.stringify(messages));
    assert.equal(api.store.listRuns({ repo }).length, 1);
  });

  it('without an agent command: says so with "Open Settings", requests nothing', async () => {
    await setAgentCommand([]);
    try {
      messages.length = 0;
      const result = await vscode.commands.executeCommand<Run | undefined>(SPAWN, 'PRIORITY-2');
      assert.equal(result, undefined);
      const m = messages.find((x) => /No code_developer command is configured/.test(x.message));
      assert.ok(m, JSON.stringify(messages));
      assert.deepEqual(m.actions, ['Open Settings']);
      assert.equal(api.store.findRun('PRIORITY-2', repo), undefined);
    } finally {
      await setAgentCommand(AGENT);
    }
  });

  it('checks the agent command before requesting anything', () => {
    assert.match(agentCommandProblem(undefined)!, /No code_developer command is configured/);
    assert.match(agentCommandProblem(['/nonexistent/agent'])!, /does not exist/);
    assert.match(agentCommandProblem(['surely-not-a-program-wto'], { PATH: '/nonexistent' })!, /not found on PATH/);
    assert.equal(agentCommandProblem(AGENT), undefined);
  });

  it('shows the agent log as a document', async () => {
    await vscode.commands.executeCommand('worktreeOrchestrator.showLog', run.id);
    const editor = await until('the log editor', () => vscode.window.visibleTextEditors.find((e) => e.document.uri.scheme === 'worktree-orchestrator-log'));
    assert.match(editor.document.getText(), /fake code_developer for US-001/);
  });

  it('stops the agent on request; the views follow', async () => {
    await vscode.commands.executeCommand('worktreeOrchestrator.stopAgent', run.id);
    const stopped = await until('the run to stop', () => {
      const r = api.store.getRun(run.id);
      return r && r.status === 'stopped' ? r : undefined;
    }, 30_000);
    assert.ok(stopped.endedAt);
    api.agentsTree.refresh();
    const [priority] = api.agentsTree.getChildren() as AgentNode[];
    const item = api.agentsTree.getTreeItem(api.agentsTree.getChildren(priority)[0]);
    assert.equal(item.contextValue, 'run.ended.stopped');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'circle-slash');
    assert.equal(api.agentsTree.getTreeItem(priority).contextValue, 'priority.idle');
    // The worktree and branch are kept.
    assert.ok(fs.existsSync(run.worktree));
    await until('the status bar to count no agent', () => /Orchestrator: leader · 0 running/.test(api.statusBarText()));
  });

  it('a spawn requested by the CLI shows in the Agents view within 1 s, without Refresh', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    let changedAt = 0;
    const sub = api.agentsTree.onDidChangeTreeData(() => {
      const roots = api.agentsTree.getChildren() as AgentNode[];
      if (!changedAt && roots.some((n) => n.kind === 'priority' && n.priority === 'PRIORITY-2')) changedAt = Date.now();
    });
    try {
      execFileSync(process.execPath, [path.join(ext.extensionPath, 'dist', 'cli.js'), 'spawn', 'PRIORITY-2', '--repo', repo, '--state-dir', api.stateDir, '--agent-command', JSON.stringify(AGENT)], { encoding: 'utf8' });
      const cliDone = Date.now();
      await until('the Agents view to show PRIORITY-2', () => changedAt, 5_000);
      assert.ok(changedAt - cliDone < 1_000, `the view changed ${changedAt - cliDone} ms after the CLI wrote the request`);
    } finally {
      sub.dispose();
    }
    // This window leads, so it is the one that carries the CLI's request out.
    const run2 = await until('PRIORITY-2 to run', () => {
      const r = api.store.findRun('PRIORITY-2', repo);
      return r && r.status === 'running' ? r : undefined;
    }, 30_000);
    assert.match(run2.requestedBy ?? '', /^cli pid \d+$/);
    api.store.requestStop(run2.id);
    await until('PRIORITY-2 to stop', () => api.store.getRun(run2.id)?.status === 'stopped', 30_000);
  });
});
