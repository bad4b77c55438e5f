import * as path from 'node:path';
import * as vscode from 'vscode';
import { Store } from '../../core/db/store';
import { Disposable } from '../host/disposable';
import { OrchestratorHost } from '../host/orchestratorHost';
import { RunExtras, runContextValue, runDescription, runIcon, runTooltip, STATUS_LABEL } from './runPresentation';
import { WindowRepositories } from '../host/windowRepositories';
import { isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

export interface PriorityNode {
  kind: 'priority';
  repo: string;
  priority: string;
  title: string | null;
  /** The runs loaded with the node, newest attempt first: its latest attempt (older ones load on demand). */
  runs: Run[];
  /** Facts and ports of those runs, read with the page (one query each for the whole page). */
  extras?: ReadonlyMap<string, RunExtras>;
  /** The "Older priorities" node it was listed under; undefined at the top. */
  parent?: MorePrioritiesNode;
}

export interface RunNode {
  kind: 'run';
  run: Run;
  extras?: RunExtras;
  parent: PriorityNode | OlderRunsNode;
}

/** A priority's attempts below `below`, read from the database when expanded. */
export interface OlderRunsNode {
  kind: 'olderRuns';
  priority: PriorityNode;
  below: number;
  parent: PriorityNode | OlderRunsNode;
}

/** The next page of priorities (their latest runs older than the page above), read when expanded. */
export interface MorePrioritiesNode {
  kind: 'morePriorities';
  cursor: PageCursor;
  parent?: MorePrioritiesNode;
}

export type AgentNode = PriorityNode | RunNode | OlderRunsNode | MorePrioritiesNode;

/** Re-renders elapsed times while something runs; never re-reads the database. */
const ELAPSED_REFRESH_MS = 30_000;
/** Priorities per level, and earlier attempts per "Older runs" level: what one read costs, whatever the history. */
export const TREE_PAGE = 100;

type After = Pick<Run, 'createdAt' | 'id'>;
/** Where a page of priorities starts: active ones first, then those whose latest run ended; per repository, after the last one shown. */
export interface PageCursor {
  phase: 'active' | 'ended';
  after: ReadonlyMap<string, After>;
}

const newestFirst = (a: Run, b: Run) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/**
 * The latest runs of one page of priorities of `repos` — active ones first, then the most
 * recently requested — and where the next page starts (undefined: this was the last).
 * Each repository is read through indexed page queries: the cost is the page, not the history.
 */
export function latestRunsPage(store: Store, repos: readonly string[], size: number, from: PageCursor): { runs: Run[]; next?: PageCursor } {
  const out: Run[] = [];
  for (const phase of ['active', 'ended'] as const) {
    if (phase === 'active' && from.phase === 'ended') continue;
    const after = phase === from.phase ? from.after : new Map<string, After>();
    const want = size - out.length;
    const read = (repo: string) => (phase === 'active' ? store.activeRunsPage(repo, want + 1, after.get(repo)) : store.latestEndedRuns(repo, want + 1, after.get(repo)));
    const candidates = repos.flatMap(read).sort(newestFirst);
    const taken = candidates.slice(0, want);
    out.push(...taken);
    if (candidates.length > taken.length) {
      const next = new Map(after);
      for (const run of taken) next.set(run.repo, run); // each repository's taken runs are a prefix of its own list
      return { runs: out, next: { phase, after: next } };
    }
  }
  return { runs: out };
}

/**
 * Agents view: priority → its latest run, then "Older runs" (earlier attempts, read when
 * expanded). The top level lists the active priorities, then the most recently requested,
 * one page at a time ("Older priorities" reads the next page). It re-reads the database
 * only when the ChangeWatcher says runs changed (in any window, or the CLI), or on
 * "Refresh", and every read is a page: the view costs the same at 100 runs as at 100,000.
 */
export class AgentsTreeProvider extends Disposable implements vscode.TreeDataProvider<AgentNode> {
  private readonly changed = this.register(new vscode.EventEmitter<AgentNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: AgentNode[] | undefined;
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
    switch (node.kind) {
      case 'priority':
        return priorityItem(node, this.repos.repositories.length > 1);
      case 'run':
        return runItem(node.run, node.extras);
      case 'olderRuns':
        return olderRunsItem(node);
      case 'morePriorities':
        return morePrioritiesItem(node);
    }
  }

  getChildren(node?: AgentNode): AgentNode[] {
    if (!node) return this.load();
    switch (node.kind) {
      case 'priority': {
        const latest = node.runs[0];
        const children: AgentNode[] = node.runs.map((run) => ({ kind: 'run', run, extras: node.extras?.get(run.id), parent: node }));
        if (latest.attempt > 1) children.push({ kind: 'olderRuns', priority: node, below: node.runs[node.runs.length - 1].attempt, parent: node });
        return children;
      }
      case 'olderRuns':
        return this.olderRuns(node);
      case 'morePriorities':
        return this.priorities(node.cursor, node);
      case 'run':
        return [];
    }
  }

  getParent(node: AgentNode): AgentNode | undefined {
    return node.parent;
  }

  /** The node of a run, for TreeView.reveal: its priority's page and its attempts' page are read as the view would. */
  findRun(runId: string): RunNode | undefined {
    const run = this.host.store.getRun(runId);
    if (!run || !this.repos.find(run.repo)) return undefined;
    let level: AgentNode[] = this.load();
    for (;;) {
      const priority = level.find((n): n is PriorityNode => n.kind === 'priority' && n.repo === run.repo && n.priority === run.priority);
      if (priority) return this.findAttempt(priority, run);
      const more = level.find((n): n is MorePrioritiesNode => n.kind === 'morePriorities');
      if (!more) return undefined;
      level = this.getChildren(more);
    }
  }

  private findAttempt(priority: PriorityNode, run: Run): RunNode | undefined {
    let level = this.getChildren(priority);
    for (;;) {
      const found = level.find((n): n is RunNode => n.kind === 'run' && n.run.id === run.id);
      if (found) return found;
      const older = level.find((n): n is OlderRunsNode => n.kind === 'olderRuns');
      if (!older) return undefined;
      level = this.getChildren(older);
    }
  }

  private olderRuns(node: OlderRunsNode): AgentNode[] {
    const p = node.priority;
    const agentType = p.runs[0].agentType;
    const runs = this.host.store.earlierAttempts(p.repo, p.priority, node.below, TREE_PAGE + 1, agentType);
    const shown = runs.slice(0, TREE_PAGE);
    const extras = this.extrasOf(shown);
    const children: AgentNode[] = shown.map((run) => ({ kind: 'run', run, extras: extras.get(run.id), parent: node }));
    if (runs.length > shown.length) children.push({ kind: 'olderRuns', priority: p, below: shown[shown.length - 1].attempt, parent: node });
    return children;
  }

  private priorities(cursor: PageCursor, parent: MorePrioritiesNode | undefined): AgentNode[] {
    const roots = this.repos.repositories.map((r) => r.root);
    const page = latestRunsPage(this.host.store, roots, TREE_PAGE, cursor);
    const extras = this.extrasOf(page.runs);
    const nodes: AgentNode[] = page.runs.map((run) => ({ kind: 'priority', repo: run.repo, priority: run.priority, title: run.title, runs: [run], extras, parent }));
    if (page.next) nodes.push({ kind: 'morePriorities', cursor: page.next, parent });
    return nodes;
  }

  /** The facts and ports of a page of runs: two queries, whatever the page's size. */
  private extrasOf(runs: readonly Run[]): Map<string, RunExtras> {
    const ids = runs.map((r) => r.id);
    const facts = this.host.store.factsOf(ids);
    const ports = this.host.store.portBlocksOf(ids.filter((id, i) => isActive(runs[i].status)));
    return new Map(ids.map((id) => [id, { facts: facts.get(id), ports: ports.get(id) }]));
  }

  private load(): AgentNode[] {
    if (this.nodes) return this.nodes;
    const nodes = this.priorities({ phase: 'active', after: new Map() }, undefined);
    this.nodes = nodes;
    this.scheduleElapsedRefresh(nodes.some((n) => n.kind === 'priority' && isActive(n.runs[0].status)));
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
  const facts = node.extras?.get(latest.id)?.facts;
  const active = isActive(latest.status);
  const item = new vscode.TreeItem(node.priority, active ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `priority:${node.repo}:${node.priority}`;
  const state = facts?.attention === 'needs-input' ? 'needs input' : facts?.attention === 'stalled' && active ? 'stalled' : STATUS_LABEL[latest.status];
  item.description = [node.title, state, showRepo ? path.basename(node.repo) : undefined].filter(Boolean).join(' · ');
  // Attempts are numbered 1, 2, … and runs are never deleted: the latest attempt is the count.
  item.tooltip = `${node.priority}${node.title ? `: ${node.title}` : ''}\n${latest.attempt} run(s), latest ${STATUS_LABEL[latest.status]}\n${node.repo}`;
  item.iconPath = runIcon(latest, facts);
  item.contextValue = active ? 'priority.active' : 'priority.idle';
  return item;
}

function runItem(run: Run, extras: RunExtras = {}): vscode.TreeItem {
  const item = new vscode.TreeItem(`#${run.attempt} ${STATUS_LABEL[run.status]}`, vscode.TreeItemCollapsibleState.None);
  item.id = `run:${run.id}`;
  item.description = runDescription(run, Date.now(), extras);
  item.tooltip = runTooltip(run, extras);
  item.iconPath = runIcon(run, extras.facts);
  item.contextValue = runContextValue(run);
  // A live agent opens its terminal (which falls back to the log when it has none).
  item.command = run.status === 'running' ? { command: 'worktreeOrchestrator.openAgentTerminal', title: 'Open Agent Terminal', arguments: [run.id] } : { command: 'worktreeOrchestrator.showLog', title: 'Show Log', arguments: [run.id] };
  return item;
}

function olderRunsItem(node: OlderRunsNode): vscode.TreeItem {
  const item = new vscode.TreeItem('Older runs', vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `older:${node.priority.repo}:${node.priority.priority}:${node.below}`;
  item.description = node.below > 2 ? `#${node.below - 1} … #1` : '#1';
  item.tooltip = `Earlier attempts of ${node.priority.priority}, read when expanded`;
  item.iconPath = new vscode.ThemeIcon('history');
  item.contextValue = 'olderRuns';
  return item;
}

function morePrioritiesItem(node: MorePrioritiesNode): vscode.TreeItem {
  const item = new vscode.TreeItem('Older priorities', vscode.TreeItemCollapsibleState.Collapsed);
  const after = [...node.cursor.after].sort(([a], [b]) => (a < b ? -1 : 1));
  item.id = `more:${node.cursor.phase}:${after.map(([repo, r]) => `${repo}@${r.id}`).join(',')}`;
  const oldest = Math.min(...after.map(([, r]) => r.createdAt));
  item.description = node.cursor.phase === 'active' ? 'more active priorities' : Number.isFinite(oldest) ? `requested before ${new Date(oldest).toLocaleString()}` : undefined;
  item.tooltip = `The next ${TREE_PAGE} priorities, read when expanded`;
  item.iconPath = new vscode.ThemeIcon('history');
  item.contextValue = 'morePriorities';
  return item;
}
