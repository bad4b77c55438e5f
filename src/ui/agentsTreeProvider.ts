import * as path from 'node:path';
import * as vscode from 'vscode';
import { isActive, Run } from '../core/store';
import { Disposable } from './disposable';
import { OrchestratorHost } from './orchestratorHost';
import { runContextValue, runDescription, runTooltip, STATUS_LABEL, statusIcon } from './runPresentation';
import { WindowRepositories } from './windowRepositories';

export interface PriorityNode {
  kind: 'priority';
  repo: string;
  priority: string;
  title: string | null;
  /** Newest attempt first. */
  runs: Run[];
}

export interface RunNode {
  kind: 'run';
  run: Run;
  parent: PriorityNode;
}

export type AgentNode = PriorityNode | RunNode;

/** Re-renders elapsed times while something runs; never re-reads the database. */
const ELAPSED_REFRESH_MS = 30_000;

/**
 * Agents view: priority → its runs, newest attempt first. It re-reads the database only when
 * the ChangeWatcher says runs changed (in any window, or the CLI), or on "Refresh".
 */
export class AgentsTreeProvider extends Disposable implements vscode.TreeDataProvider<AgentNode> {
  private readonly changed = this.register(new vscode.EventEmitter<AgentNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: PriorityNode[] | undefined;
  private elapsedTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: OrchestratorHost,
    private readonly repos: WindowRepositories,
  ) {
    super();
    this.register(host.onDidChangeRuns(() => this.refresh()));
    this.register(repos.onDidChange(() => this.refresh()));
    this.register({ dispose: () => this.elapsedTimer && clearInterval(this.elapsedTimer) });
  }

  /** Drops the cached rows; the view reads the database again. */
  refresh(): void {
    this.nodes = undefined;
    this.changed.fire(undefined);
  }

  getTreeItem(node: AgentNode): vscode.TreeItem {
    return node.kind === 'priority' ? priorityItem(node, this.repos.repositories.length > 1) : runItem(node.run);
  }

  getChildren(node?: AgentNode): AgentNode[] {
    if (!node) return this.load();
    if (node.kind === 'priority') return node.runs.map((run) => ({ kind: 'run', run, parent: node }));
    return [];
  }

  getParent(node: AgentNode): AgentNode | undefined {
    return node.kind === 'run' ? node.parent : undefined;
  }

  /** The node of a run, for TreeView.reveal. */
  findRun(runId: string): RunNode | undefined {
    for (const p of this.load()) {
      const run = p.runs.find((r) => r.id === runId);
      if (run) return { kind: 'run', run, parent: p };
    }
    return undefined;
  }

  private load(): PriorityNode[] {
    if (this.nodes) return this.nodes;
    const roots = new Set(this.repos.repositories.map((r) => r.root));
    const groups = new Map<string, PriorityNode>();
    for (const run of this.host.store.listRuns()) {
      if (!roots.has(run.repo)) continue;
      const key = `${run.repo}\0${run.priority}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { kind: 'priority', repo: run.repo, priority: run.priority, title: run.title, runs: [] }));
      group.runs.push(run);
    }
    const nodes = [...groups.values()];
    for (const n of nodes) n.runs.sort((a, b) => b.attempt - a.attempt);
    // Active priorities first, then the most recently requested.
    nodes.sort((a, b) => Number(isActive(b.runs[0].status)) - Number(isActive(a.runs[0].status)) || b.runs[0].createdAt - a.runs[0].createdAt);
    this.nodes = nodes;
    this.scheduleElapsedRefresh(nodes.some((n) => n.runs.some((r) => isActive(r.status))));
    return nodes;
  }

  private scheduleElapsedRefresh(anyActive: boolean): void {
    if (anyActive && !this.elapsedTimer) {
      this.elapsedTimer = setInterval(() => this.changed.fire(undefined), ELAPSED_REFRESH_MS);
      this.elapsedTimer.unref();
    } else if (!anyActive && this.elapsedTimer) {
      clearInterval(this.elapsedTimer);
      this.elapsedTimer = undefined;
    }
  }
}

function priorityItem(node: PriorityNode, showRepo: boolean): vscode.TreeItem {
  const latest = node.runs[0];
  const active = isActive(latest.status);
  const item = new vscode.TreeItem(node.priority, active ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `priority:${node.repo}:${node.priority}`;
  item.description = [node.title, STATUS_LABEL[latest.status], showRepo ? path.basename(node.repo) : undefined].filter(Boolean).join(' · ');
  item.tooltip = `${node.priority}${node.title ? `: ${node.title}` : ''}\n${node.runs.length} run(s), latest ${STATUS_LABEL[latest.status]}\n${node.repo}`;
  item.iconPath = statusIcon(latest.status);
  item.contextValue = active ? 'priority.active' : 'priority.idle';
  return item;
}

function runItem(run: Run): vscode.TreeItem {
  const item = new vscode.TreeItem(`#${run.attempt} ${STATUS_LABEL[run.status]}`, vscode.TreeItemCollapsibleState.None);
  item.id = `run:${run.id}`;
  item.description = runDescription(run);
  item.tooltip = runTooltip(run);
  item.iconPath = statusIcon(run.status);
  item.contextValue = runContextValue(run);
  // A live agent opens its terminal (which falls back to the log when it has none).
  item.command = run.status === 'running' ? { command: 'worktreeOrchestrator.openAgentTerminal', title: 'Open Agent Terminal', arguments: [run.id] } : { command: 'worktreeOrchestrator.showLog', title: 'Show Log', arguments: [run.id] };
  return item;
}
