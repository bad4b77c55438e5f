import * as path from 'node:path';
import * as vscode from 'vscode';
import { AgentLogProvider } from './ui/agentLog';
import { AgentTerminals, registerAgentTerminalCommands } from './ui/agentTerminal';
import { AgentsTreeProvider } from './ui/agentsTreeProvider';
import { DisposableScope } from './ui/disposable';
import { ExtensionApi, extensionApi } from './ui/extensionApi';
import { LeaderStatusBar } from './ui/leaderStatusBar';
import { Notifier } from './ui/notifier';
import { registerOrchestratorCommands } from './ui/orchestratorCommands';
import { OrchestratorHost } from './ui/orchestratorHost';
import { RunDiff } from './ui/runDiff';
import { RunEndNotices } from './ui/runEndNotices';
import { registerRunCommands } from './ui/runCommands';
import type { Services } from './ui/services';
import * as settings from './ui/settings';
import { registerUnavailable } from './ui/unavailable';
import { setViewState, WindowRepositories } from './ui/windowRepositories';
import { WorkspaceFolders } from './ui/workspaceFolders';
import { WorkspaceTrust } from './ui/workspaceTrust';
import { registerWorktreeCommands } from './ui/worktreeCommands';
import { WorktreesTreeProvider } from './ui/worktreesTreeProvider';

// Everything this window owns, so deactivate can give leadership up at once.
let scope: DisposableScope | undefined;

export function activate(context: vscode.ExtensionContext): ExtensionApi | undefined {
  const log = vscode.window.createOutputChannel('Worktree Orchestrator', { log: true });
  context.subscriptions.push(log);
  void setViewState('loading');

  const stateDir = settings.configuredStateDir() ?? context.globalStorageUri.fsPath;
  let host: OrchestratorHost;
  try {
    host = new OrchestratorHost({
      stateDir,
      // Agents run under a supervisor in the bundled CLI, on this host's own runtime
      // (Electron is told to behave as Node by the launcher).
      nodePath: process.execPath,
      cliPath: path.join(context.extensionPath, 'dist', 'cli.js'),
      label: windowLabel(),
      log,
    });
  } catch (e) {
    registerUnavailable(context, log, e);
    return undefined;
  }

  scope = new DisposableScope();
  context.subscriptions.push(scope);
  scope.add(host);
  const repos = scope.add(new WindowRepositories(log));
  const notifier = scope.add(new Notifier(log));
  const agentsTree = scope.add(new AgentsTreeProvider(host, repos));
  const worktreesTree = scope.add(new WorktreesTreeProvider(host, repos, log));
  const s: Services = {
    host,
    repos,
    notifier,
    log,
    folders: new WorkspaceFolders(path.join(context.globalStorageUri.fsPath, 'workspaces')),
    trust: new WorkspaceTrust(),
    agentsTree,
    agentsView: scope.add(vscode.window.createTreeView('worktreeOrchestrator.agents', { treeDataProvider: agentsTree, showCollapseAll: true })),
    worktreesTree,
    logs: scope.add(new AgentLogProvider(host)),
    diff: scope.add(new RunDiff()),
    statusBar: scope.add(new LeaderStatusBar(host)),
    windowLabel: windowLabel(),
    startRunEndNotices: () => new RunEndNotices(host, repos, notifier, s.windowLabel, context.globalState),
  };
  scope.add(vscode.window.createTreeView('worktreeOrchestrator.worktrees', { treeDataProvider: worktreesTree }));
  for (const d of [...registerOrchestratorCommands(s), ...registerRunCommands(s), ...registerWorktreeCommands(s)]) scope.add(d);
  const terminals = scope.add(new AgentTerminals(s, context.workspaceState));
  for (const d of registerAgentTerminalCommands(s, terminals)) scope.add(d);
  scope.add(settings.onRestartSettingChanged(notifier));
  scope.add(s.startRunEndNotices());

  host.start();
  void repos.refresh();
  void terminals.restore(); // the agent terminals this window had open before a reload
  return extensionApi(s);
}

export function deactivate(): void {
  scope?.dispose();
  scope = undefined;
}

function windowLabel(): string {
  return `${vscode.env.appName} window "${vscode.workspace.name ?? 'no folder'}" (pid ${process.pid})`;
}
