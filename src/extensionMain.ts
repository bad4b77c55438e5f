import * as path from 'node:path';
import * as vscode from 'vscode';
import { AgentLogProvider } from './ui/commands/agentLog';
import { AgentTerminals, registerAgentTerminalCommands } from './ui/commands/agentTerminal';
import { AgentsTreeProvider } from './ui/views/agentsTreeProvider';
import { DisposableScope } from './ui/host/disposable';
import { ExtensionApi, extensionApi, StartupTimes } from './ui/host/extensionApi';
import { LeaderStatusBar } from './ui/views/leaderStatusBar';
import { Notifier } from './ui/host/notifier';
import { registerOrchestratorCommands } from './ui/commands/orchestratorCommands';
import { OrchestratorHost } from './ui/host/orchestratorHost';
import { RunDiff } from './ui/commands/runDiff';
import { RunEndNotices } from './ui/views/runEndNotices';
import { NeedsInputNotices } from './ui/views/needsInputNotices';
import { registerRunCommands } from './ui/commands/runCommands';
import { registerFollowUpCommand } from './ui/commands/followUpCommand';
import type { Services } from './ui/host/services';
import * as settings from './ui/host/settings';
import { registerUnavailable } from './ui/host/unavailable';
import { setViewState, WindowRepositories } from './ui/host/windowRepositories';
import { WorkspaceFolders } from './ui/host/workspaceFolders';
import { WorkspaceTrust } from './ui/host/workspaceTrust';
import { registerWorktreeCommands } from './ui/commands/worktreeCommands';
import { WorktreesTreeProvider } from './ui/views/worktreesTreeProvider';

// The extension's body, loaded by src/extension.ts right after activate() has returned
// (its own bundle, dist/extensionMain.js): what VS Code times at start-up is only that
// small entry.

// Everything this window owns, so deactivate can give leadership up at once.
let scope: DisposableScope | undefined;

/** What activate() did before it was split: builds this window's services, views and commands. */
export function start(context: vscode.ExtensionContext, times: StartupTimes = {}): ExtensionApi | undefined {
  const log = vscode.window.createOutputChannel('Worktree Orchestrator', { log: true });
  context.subscriptions.push(log);
  void setViewState('loading');
  const host = openHost(context, log);
  if (!host) return undefined;

  const here = (scope = new DisposableScope());
  context.subscriptions.push(here);
  here.add(host);
  const s = services(context, here, host, log);
  here.add(vscode.window.createTreeView('worktreeOrchestrator.worktrees', { treeDataProvider: s.worktreesTree }));
  for (const d of [...registerOrchestratorCommands(s), ...registerRunCommands(s), ...registerWorktreeCommands(s)]) here.add(d);
  here.add(registerFollowUpCommand(s));
  const terminals = here.add(new AgentTerminals(s, context.workspaceState, context.globalState));
  for (const d of registerAgentTerminalCommands(s, terminals)) here.add(d);
  here.add(settings.onRestartSettingChanged(s.notifier));

  // The election, the first reads and the folder scan (the first git process) on the next
  // turn, so that the views and commands exist first.
  const started = setImmediate(() => {
    if (scope !== here) return; // deactivated meanwhile
    const t1 = performance.now();
    host.start();
    s.statusBar.update();
    here.add(s.startRunEndNotices());
    here.add(new NeedsInputNotices(host, s.repos, s.notifier, context.globalState)); // the leader's window announces each mark once
    void s.repos.ready(); // the first scan, unless a command already started it
    void terminals.restore(); // the agent terminals this window had open before a reload
    times.startMs = performance.now() - t1;
  });
  here.add({ dispose: () => clearImmediate(started) });
  return extensionApi(s);
}

/**
 * The database first (this runs after activate() has returned): when it cannot be opened,
 * this window offers only the reason, with no views or commands of its own.
 */
function openHost(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): OrchestratorHost | undefined {
  const host = new OrchestratorHost({
    stateDir: settings.configuredStateDir() ?? context.globalStorageUri.fsPath,
    // Agents run under a supervisor in the bundled CLI, on this host's own runtime
    // (Electron is told to behave as Node by the launcher).
    nodePath: process.execPath,
    cliPath: path.join(context.extensionPath, 'dist', 'cli.js'),
    label: windowLabel(),
    log,
  });
  try {
    host.open();
    return host;
  } catch (e) {
    host.dispose();
    registerUnavailable(context, log, e);
    return undefined;
  }
}

/** This window's services, each owned by `here`. */
function services(context: vscode.ExtensionContext, here: DisposableScope, host: OrchestratorHost, log: vscode.LogOutputChannel): Services {
  const repos = here.add(new WindowRepositories(log));
  const notifier = here.add(new Notifier(log));
  const agentsTree = here.add(new AgentsTreeProvider(host, repos));
  const s: Services = {
    host,
    repos,
    notifier,
    log,
    folders: new WorkspaceFolders(path.join(context.globalStorageUri.fsPath, 'workspaces')),
    trust: new WorkspaceTrust(),
    agentsTree,
    agentsView: here.add(vscode.window.createTreeView('worktreeOrchestrator.agents', { treeDataProvider: agentsTree, showCollapseAll: true })),
    worktreesTree: here.add(new WorktreesTreeProvider(host, repos, log)),
    logs: here.add(new AgentLogProvider(host)),
    diff: here.add(new RunDiff()),
    statusBar: here.add(new LeaderStatusBar(host)),
    windowLabel: windowLabel(),
    startRunEndNotices: () => new RunEndNotices(host, repos, notifier, s.windowLabel, context.globalState),
  };
  return s;
}

export function deactivate(): void {
  scope?.dispose();
  scope = undefined;
}

function windowLabel(): string {
  return `${vscode.env.appName} window "${vscode.workspace.name ?? 'no folder'}" (pid ${process.pid})`;
}
