import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { GitRepo, samePath, WorktreeInfo } from '../core/git';
import { isActive, Run } from '../core/store';
import { isPoolPath } from '../core/warmPool';
import { Disposable } from './disposable';
import { OrchestratorHost } from './orchestratorHost';
import { STATUS_LABEL } from './runPresentation';
import * as settings from './settings';
import { WindowRepositories, WindowRepository } from './windowRepositories';

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
 */
export class WorktreesTreeProvider extends Disposable implements vscode.TreeDataProvider<WorktreeNode> {
  private readonly changed = this.register(new vscode.EventEmitter<WorktreeNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: Promise<WorktreeNode[]> | undefined;

  constructor(
    private readonly host: OrchestratorHost,
    private readonly repos: WindowRepositories,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(host.onDidChangeRuns(() => this.refresh()));
    this.register(repos.onDidChange(() => this.refresh()));
  }

  refresh(): void {
    this.nodes = undefined;
    this.changed.fire(undefined);
  }

  getTreeItem(node: WorktreeNode): vscode.TreeItem {
    return worktreeItem(node, this.repos.repositories.length > 1);
  }

  async getChildren(node?: WorktreeNode): Promise<WorktreeNode[]> {
    if (node) return [];
    this.nodes ??= this.load();
    return this.nodes;
  }

  private async load(): Promise<WorktreeNode[]> {
    const runs = this.host.store.listRuns();
    const out: WorktreeNode[] = [];
    for (const repo of this.repos.repositories) {
      try {
        out.push(...(await worktreesOf(repo, runs.filter((r) => r.repo === repo.root))));
      } catch (e) {
        this.log.warn(`Worktrees of ${repo.root}: ${(e as Error).message}`);
      }
    }
    return out;
  }
}

async function worktreesOf(repo: WindowRepository, runs: Run[]): Promise<WorktreeNode[]> {
  const git = await GitRepo.open(repo.root);
  const list = (await git.worktrees()).filter((w) => !w.bare);
  const configuredBase = vscode.workspace.getConfiguration(settings.SECTION, repo.folder.uri).get<string>('baseBranch')?.trim() || undefined;
  const defaultBase = configuredBase ?? (await git.baseBranch().catch(() => undefined));
  return Promise.all(
    list.map(async (info, index): Promise<WorktreeNode> => {
      const run = runs.filter((r) => samePath(r.worktree, info.path)).sort((a, b) => b.attempt - a.attempt)[0];
      const isMain = index === 0;
      const missing = info.prunable || !fs.existsSync(info.path);
      const base = isMain ? undefined : (run?.baseRef ?? defaultBase);
      const [counts, dirty] = await Promise.all([
        base && info.branch && info.branch !== base ? aheadBehind(git, base, info.branch) : undefined,
        missing ? undefined : dirtyCount(info.path),
      ]);
      return { kind: 'worktree', repo: repo.root, info, isMain, run, base, ahead: counts?.ahead, behind: counts?.behind, dirty, missing };
    }),
  );
}

async function aheadBehind(git: GitRepo, base: string, branch: string): Promise<{ ahead: number; behind: number } | undefined> {
  try {
    const [behind, ahead] = (await git.raw(['rev-list', '--left-right', '--count', `refs/heads/${base}...refs/heads/${branch}`, '--'])).trim().split(/\s+/).map(Number);
    return Number.isFinite(ahead) && Number.isFinite(behind) ? { ahead, behind } : undefined;
  } catch {
    return undefined;
  }
}

async function dirtyCount(worktree: string): Promise<number | undefined> {
  try {
    const wt = await GitRepo.open(worktree);
    return (await wt.raw(['status', '--porcelain=v1', '-z', '--untracked-files=normal'])).split('\0').filter(Boolean).length;
  } catch {
    return undefined;
  }
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
