import type * as vscode from 'vscode';
import type { AgentLogProvider } from '../commands/agentLog';
import type { AgentNode, AgentsTreeProvider } from '../views/agentsTreeProvider';
import type { LeaderStatusBar } from '../views/leaderStatusBar';
import type { Notifier } from './notifier';
import type { OrchestratorHost } from './orchestratorHost';
import type { RunDiff } from '../commands/runDiff';
import type { WindowRepositories } from './windowRepositories';
import type { WorkspaceFolders } from './workspaceFolders';
import type { WorkspaceTrust } from './workspaceTrust';
import type { WorktreesTreeProvider } from '../views/worktreesTreeProvider';

/** What the command handlers work with: one instance of each per window, built in extension.ts. */
export interface Services {
  host: OrchestratorHost;
  repos: WindowRepositories;
  notifier: Notifier;
  log: vscode.LogOutputChannel;
  folders: WorkspaceFolders;
  trust: WorkspaceTrust;
  agentsTree: AgentsTreeProvider;
  agentsView: vscode.TreeView<AgentNode>;
  worktreesTree: WorktreesTreeProvider;
  logs: AgentLogProvider;
  diff: RunDiff;
  statusBar: LeaderStatusBar;
  /** How this window names itself in requests and the leader row. */
  windowLabel: string;
  /** Announces ended runs (see RunEndNotices); activate starts one, tests may start another. */
  startRunEndNotices(): vscode.Disposable;
}
