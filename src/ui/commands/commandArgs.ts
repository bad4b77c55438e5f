import * as vscode from 'vscode';
import type { AgentNode } from '../views/agentsTreeProvider';
import { STATUS_LABEL } from '../views/runPresentation';
import type { Services } from '../host/services';
import type { WorktreeNode } from '../views/worktreesTreeProvider';
import { RunStatus, isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

/**
 * Commands take their target from a tree item (a run, a priority, a worktree), a string
 * (run id or priority id: keybindings, tests, other extensions), or — from the command
 * palette — a quick pick.
 */
export function runFromArg(s: Services, arg: unknown): Run | undefined {
  if (typeof arg === 'string') return s.host.store.findRun(arg, s.repos.repositories.length === 1 ? s.repos.repositories[0].root : undefined);
  const node = asNode(arg);
  if (node?.kind === 'run') return s.host.store.getRun(node.run.id) ?? node.run;
  if (node?.kind === 'priority') return s.host.store.getRun(node.runs[0].id) ?? node.runs[0];
  if (node?.kind === 'worktree' && node.run) return s.host.store.getRun(node.run.id) ?? node.run;
  return undefined;
}

export async function resolveRun(s: Services, arg: unknown, o: { statuses?: readonly RunStatus[]; placeHolder: string }): Promise<Run | undefined> {
  if (arg !== undefined) {
    const run = runFromArg(s, arg);
    if (!run) s.notifier.warn(`No run matches ${typeof arg === 'string' ? `"${arg}"` : 'that item'}.`);
    return run;
  }
  const roots = new Set(s.repos.repositories.map((r) => r.root));
  const runs = s.host.store
    .listRuns(o.statuses ? { statuses: o.statuses } : {})
    .filter((r) => roots.has(r.repo))
    .reverse();
  if (!runs.length) {
    s.notifier.info(o.statuses?.every(isActive) ? 'No agent is active.' : 'No runs yet.');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    runs.map((run) => ({
      label: `${run.priority} #${run.attempt}`,
      description: `${STATUS_LABEL[run.status]}${run.pid && isActive(run.status) ? ` · pid ${run.pid}` : ''} · ${run.branch}`,
      detail: run.title ?? undefined,
      run,
    })),
    { placeHolder: o.placeHolder, matchOnDescription: true },
  );
  return picked?.run;
}

/** A worktree to act on: from the Worktrees view, or the worktree of a run. */
export interface WorktreeTarget {
  repoRoot: string;
  worktree: string;
  branch: string | null;
  run: Run | undefined;
  /** The base branch recorded for the run, when there is one. */
  base: string | undefined;
}

export async function resolveWorktree(s: Services, arg: unknown, placeHolder: string): Promise<WorktreeTarget | undefined> {
  const node = asNode(arg);
  if (node?.kind === 'worktree') {
    const run = node.run && (s.host.store.getRun(node.run.id) ?? node.run);
    return { repoRoot: node.repo, worktree: node.info.path, branch: node.info.branch, run, base: run?.baseRef ?? node.base };
  }
  const run = await resolveRun(s, arg, { placeHolder });
  return run && { repoRoot: run.repo, worktree: run.worktree, branch: run.branch, run, base: run.baseRef };
}

/** A tree node passed as a command argument, if `arg` is one. */
export function asNode(arg: unknown): AgentNode | WorktreeNode | undefined {
  const kind = (arg as { kind?: unknown } | null | undefined)?.kind;
  return kind === 'run' || kind === 'priority' || kind === 'worktree' ? (arg as AgentNode | WorktreeNode) : undefined;
}
