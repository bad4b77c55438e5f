import * as path from 'node:path';
import * as vscode from 'vscode';
import { collectGarbage, describeHoldings, GcItem } from '../../core/leader/gc';
import { removeWorktree } from './removeWorktree';
import { STATUS_LABEL } from '../views/runPresentation';
import type { Services } from '../host/services';
import type { WindowRepository } from '../host/windowRepositories';

export const CLEAN_UP = 'Clean Up';

export interface CleanUpResult {
  /** Worktree paths removed. */
  removed: string[];
  /** Worktree paths left in place (declined, refused, or failed). */
  kept: string[];
}

/**
 * "Clean Up Worktrees…": core's GC in dry-run lists the worktrees of ended runs and the
 * orphans in a run root (no run owns them); after one confirmation of that list, the ones
 * that hold nothing are removed without further questions, and for each of the others a
 * modal says exactly what removing it would lose (removeWorktree). Removal goes through
 * the leader: a run's worktree by request, an orphan from this window once it leads.
 */
export async function cleanUpWorktrees(s: Services, arg?: unknown): Promise<CleanUpResult> {
  const result: CleanUpResult = { removed: [], kept: [] };
  const repos = (await s.repos.ready()).filter((r) => typeof arg !== 'string' || r.root === arg);
  if (!repos.length) {
    s.notifier.info('No git repository is open in this window.');
    return result;
  }
  for (const repo of repos) {
    const items = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Looking for stale worktrees of ${repo.name}…` }, () =>
      collectGarbage(s.host.store, s.host.lease, repo.root, { dryRun: true }),
    );
    if (!items.length) {
      s.notifier.info(`${repo.name}: no stale or orphan worktrees to clean up.`);
      continue;
    }
    const empty = items.filter((i) => i.action === 'would-remove');
    const holding = items.filter((i) => i.action !== 'would-remove');
    const question = [
      empty.length ? `remove ${empty.length} that hold${empty.length === 1 ? 's' : ''} nothing` : '',
      holding.length ? `ask about ${holding.length} that hold${holding.length === 1 ? 's' : ''} work` : '',
    ].filter(Boolean).join(', then ');
    const detail = `${items.map((i) => describeItem(s, i)).join('\n')}\n\nBranches are deleted only when merged into their base.`;
    if ((await s.notifier.ask('warning', `Clean up ${items.length} worktree(s) of ${repo.name}: ${question}?`, detail, CLEAN_UP)) !== CLEAN_UP) {
      result.kept.push(...items.map((i) => i.worktree));
      continue;
    }
    // The clean ones first, without a question each; then one question per worktree with work.
    for (const item of [...empty, ...holding]) {
      let removed = false;
      try {
        removed = await removeWorktree(s, target(s, repo, item), { confirmEmpty: false, report: false });
      } catch (e) {
        s.notifier.failure(e, `Removing ${item.worktree}`);
      }
      (removed ? result.removed : result.kept).push(item.worktree);
    }
    const kept = result.kept.filter((p) => items.some((i) => i.worktree === p));
    const removedHere = result.removed.filter((p) => items.some((i) => i.worktree === p));
    s.notifier.info(
      `${repo.name}: removed ${removedHere.length} worktree(s)${kept.length ? `; kept ${kept.map((p) => path.basename(p)).join(', ')}` : ''}.`,
    );
  }
  s.worktreesTree.refresh();
  return result;
}

function target(s: Services, repo: WindowRepository, item: GcItem) {
  const run = item.runId ? s.host.store.getRun(item.runId) : undefined;
  return { repoRoot: repo.root, worktree: item.worktree, branch: run?.branch ?? null, run, base: run?.baseRef };
}

/** "us-001 — US-001 #1 stopped — holds 1 untracked file" */
function describeItem(s: Services, item: GcItem): string {
  const run = item.runId ? s.host.store.getRun(item.runId) : undefined;
  const owner = run ? `${run.priority} #${run.attempt} ${STATUS_LABEL[run.status]}` : 'no run owns it';
  const holds = item.holdings ? `holds ${describeHoldings(item.holdings)}` : item.action === 'kept' && item.reason ? item.reason : 'holds nothing';
  return `• ${path.basename(item.worktree)} — ${owner} — ${holds}`;
}
