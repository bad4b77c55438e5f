import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listWorktrees, WorktreeInfo } from '../../core/git/git';
import { isPoolPath } from '../../core/leader/warmPool';
import { DetailsTarget, WorktreeDetails } from '../../core/git/worktreeDetails';
import { Disposable } from '../host/disposable';
import { OrchestratorHost } from '../host/orchestratorHost';
import { STATUS_LABEL } from './runPresentation';
import * as settings from '../host/settings';
import { WindowRepositories, WindowRepository } from '../host/windowRepositories';
import { isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

/** How long file events in a worktree are gathered before its dirty count is checked again. */
const FILE_RECHECK_MS = 1_000;

export interface WorktreeNode {
  kind: 'worktree';
  repo: string;
  info: WorktreeInfo;
  isMain: boolean;
  /** The latest run that worked (or works) there, when one did. */
  run: Run | undefined;
  /** The branch ahead/behind counts are measured against. */
  base: string | undefined;
  ahead: number | undefined;
  behind: number | undefined;
  /** Changed plus untracked entries; undefined when it could not be read. */
  dirty: number | undefined;
  missing: boolean;
}

/**
 * Worktrees view: every worktree `git worktree list` reports for the window's repositories,
 * including ones the orchestrator did not make. Reloaded when runs change, the repositories
 * change, or on "Refresh" — not on a timer.
 *
 * Items come from one `git worktree list --porcelain` per repository plus the database, at
 * once; ahead/behind and dirty counts (a git process each per worktree) are filled in by
 * WorktreeDetails in the background and the items whose counts arrived are re-rendered.
 */
export class WorktreesTreeProvider extends Disposable implements vscode.TreeDataProvider<WorktreeNode> {
  private readonly changed = this.register(new vscode.EventEmitter<WorktreeNode | WorktreeNode[] | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: Promise<WorktreeNode[]> | undefined;
  /** The nodes of the last completed load, by path: where arriving details go. */
  private current = new Map<string, WorktreeNode>();
  private readonly details = new WorktreeDetails((paths) => this.detailsArrived(paths));
  private runs: { generation: number; byRepo: Map<string, ReadonlyMap<string, Run>> } | undefined;
  private readonly touchedRepos = new Set<string>();
  private recheckTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: OrchestratorHost,
    private readonly repos: WindowRepositories,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(this.details);
    this.register(host.onDidChangeRuns(() => this.refresh()));
    this.register(repos.onDidChange(() => this.refresh()));
    // Files edited in a worktree open in this window get its dirty count checked again
    // (within FILE_RECHECK_MS); others are checked again after a while (see WorktreeDetails).
    const files = this.register(vscode.workspace.createFileSystemWatcher('**/*'));
    const touched = (uri: vscode.Uri) => this.fileChanged(uri);
    this.register(files.onDidChange(touched));
    this.register(files.onDidCreate(touched));
    this.register(files.onDidDelete(touched));
    this.register({ dispose: () => this.recheckTimer && clearTimeout(this.recheckTimer) });
  }

  /** Reloads the list; `recheck`: also every dirty count (the Refresh command). */
  refresh(recheck = false): void {
    if (recheck) this.details.invalidateAll();
    this.nodes = undefined;
    this.changed.fire(undefined);
  }

  /** Resolves once the list is loaded and the counts being fetched for it have arrived. */
  async settled(): Promise<void> {
    await this.getChildren();
    await this.details.idle();
  }

  getTreeItem(node: WorktreeNode): vscode.TreeItem {
    return worktreeItem(node, this.repos.repositories.length > 1);
  }

  async getChildren(node?: WorktreeNode): Promise<WorktreeNode[]> {
    if (node) return [];
    if (!this.nodes) {
      const loading = this.load();
      this.nodes = loading;
      void loading.then((nodes) => {
        if (this.nodes === loading) this.current = new Map(nodes.map((n) => [n.info.path, n]));
      });
    }
    return this.nodes;
  }

  private async load(): Promise<WorktreeNode[]> {
    const out: WorktreeNode[] = [];
    const repos = this.repos.repositories;
    // Every repository's git process starts before the database is read.
    const lists = repos.map((repo) => {
      const list = listWorktrees(repo.root);
      list.catch(() => undefined); // reported below, in order
      return list;
    });
    for (const [i, repo] of repos.entries()) {
      try {
        const list = await lists[i];
        const nodes = worktreeNodes(repo, list, this.runsByPath(repo.root, list.map((w) => w.path)));
        for (const n of nodes) Object.assign(n, this.details.get(n.info.path));
        this.details.update(repo.root, nodes.map(detailsTarget));
        out.push(...nodes);
      } catch (e) {
        this.log.warn(`Worktrees of ${repo.root}: ${(e as Error).message}`);
      }
    }
    return out;
  }

  /**
   * The latest run of each worktree path, read again only when the database's change
   * generation (bumped by a trigger on every run write, in any process) has moved.
   */
  private runsByPath(repo: string, paths: readonly string[]): ReadonlyMap<string, Run> {
    const generation = this.host.store.changeGeneration();
    if (this.runs?.generation !== generation) this.runs = { generation, byRepo: new Map() };
    const cacheKey = [repo, ...paths].join('\0');
    const cached = this.runs.byRepo.get(cacheKey);
    if (cached) return cached;
    const byPath = new Map<string, Run>();
    // Only the runs of the listed worktrees (an index lookup each), not the whole history.
    for (const r of this.host.store.runsAtWorktrees(repo, [...new Set(paths.flatMap((p) => [p, path.resolve(p)]))])) {
      const key = path.resolve(r.worktree);
      const seen = byPath.get(key);
      if (!seen || seen.attempt < r.attempt) byPath.set(key, r);
    }
    this.runs.byRepo.set(cacheKey, byPath);
    return byPath;
  }

  private detailsArrived(paths: string[]): void {
    if (this.isDisposed) return;
    const nodes: WorktreeNode[] = [];
    for (const p of paths) {
      const node = this.current.get(p);
      if (!node) continue;
      Object.assign(node, this.details.get(p));
      nodes.push(node);
    }
    if (nodes.length) this.changed.fire(nodes);
  }

  private fileChanged(uri: vscode.Uri): void {
    if (uri.scheme !== 'file') return;
    const file = uri.fsPath;
    if (/[\\/]\.git([\\/]|$)/.test(file)) return;
    // The innermost worktree holding the file (worktrees may sit inside the main checkout).
    let owner: WorktreeNode | undefined;
    for (const [p, node] of this.current) {
      if ((file === p || file.startsWith(p + path.sep)) && (!owner || p.length > owner.info.path.length)) owner = node;
    }
    if (!owner) return;
    this.details.invalidate(owner.info.path);
    this.touchedRepos.add(owner.repo);
    // A burst of file events (a save, a build, an agent at work) becomes one status per worktree.
    this.recheckTimer ??= setTimeout(() => {
      this.recheckTimer = undefined;
      const repos = [...this.touchedRepos];
      this.touchedRepos.clear();
      const nodes = [...this.current.values()];
      for (const repo of repos) this.details.update(repo, nodes.filter((n) => n.repo === repo).map(detailsTarget));
    }, FILE_RECHECK_MS);
  }
}

function detailsTarget(n: WorktreeNode): DetailsTarget {
  return { repo: n.repo, path: n.info.path, head: n.info.head, branch: n.info.branch, base: n.base, missing: n.missing };
}

function worktreeNodes(repo: WindowRepository, list: WorktreeInfo[], byPath: ReadonlyMap<string, Run>): WorktreeNode[] {
  const configuredBase = settings.baseBranch(repo.folder.uri);
  // The branch checked out in the main checkout, as GitRepo.baseBranch would say.
  const defaultBase = configuredBase ?? list[0]?.branch ?? undefined;
  return list.map((info, index): WorktreeNode => {
    const run = byPath.get(path.resolve(info.path));
    const isMain = index === 0;
    const missing = info.prunable || !fs.existsSync(info.path);
    const base = isMain ? undefined : (run?.baseRef ?? defaultBase);
    return { kind: 'worktree', repo: repo.root, info, isMain, run, base, ahead: undefined, behind: undefined, dirty: undefined, missing };
  });
}

/** A worktree the leader checked out ahead of time (core's warm pool: `<root>/.pool-<id>`). */
function isPoolWorktree(node: WorktreeNode): boolean {
  return !node.isMain && !node.run && isPoolPath(node.info.path);
}

function worktreeItem(node: WorktreeNode, showRepo: boolean): vscode.TreeItem {
  const { info } = node;
  const name = path.basename(info.path);
  const item = new vscode.TreeItem(node.isMain ? `${name} (main checkout)` : name, vscode.TreeItemCollapsibleState.None);
  item.id = `worktree:${info.path}`;
  const parts: string[] = [info.branch ?? (info.head ? `detached ${info.head.slice(0, 8)}` : 'no HEAD')];
  if (node.ahead !== undefined && node.behind !== undefined) parts.push(`↑${node.ahead} ↓${node.behind}`);
  if (node.missing) parts.push('missing');
  else if (node.dirty) parts.push(`${node.dirty} changed`);
  const pool = isPoolWorktree(node);
  if (node.run) parts.push(`${node.run.priority} ${STATUS_LABEL[node.run.status]}`);
  else if (pool) parts.push(`warm pool${/ready/.test(info.locked ?? '') ? ', ready' : ''}`);
  else if (!node.isMain) parts.push('not from the orchestrator');
  if (info.locked !== null && !pool) parts.push('locked');
  if (showRepo) parts.push(path.basename(node.repo));
  item.description = parts.join(' · ');

  const tip = new vscode.MarkdownString(undefined, true);
  tip.appendMarkdown(`\`${info.path}\`\n\n`);
  const rows: string[] = [
    `Branch: ${info.branch ?? 'detached HEAD'}${info.head ? ` @ ${info.head.slice(0, 8)}` : ''}`,
    node.base ? `Against ${node.base}: ${node.ahead ?? '?'} ahead, ${node.behind ?? '?'} behind` : '',
    node.missing ? 'The folder is missing (git would prune it)' : `Uncommitted: ${node.dirty === undefined ? 'unknown' : node.dirty === 0 ? 'none' : `${node.dirty} file(s)`}`,
    node.run
      ? `Run: ${node.run.priority} #${node.run.attempt} ${STATUS_LABEL[node.run.status]}${node.run.pid && isActive(node.run.status) ? ` (pid ${node.run.pid})` : ''}`
      : node.isMain ? 'Main checkout' : pool ? 'Checked out ahead of time for the next spawn (warm pool)' : 'Not made by the orchestrator',
    info.locked !== null ? `Locked${info.locked ? `: ${info.locked}` : ''}` : '',
  ].filter(Boolean);
  tip.appendMarkdown(rows.join('  \n'));
  item.tooltip = tip;

  item.iconPath = new vscode.ThemeIcon(node.isMain ? 'repo' : node.missing ? 'warning' : info.locked !== null ? 'lock' : 'git-branch');
  // The pool is the leader's to manage: no open/remove actions on it.
  item.contextValue = node.isMain ? 'worktree.main' : node.missing ? 'worktree.missing' : pool ? 'worktree.pool' : node.run && isActive(node.run.status) ? 'worktree.linked.active' : 'worktree.linked';
  return item;
}
