import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitRepo, holdsNothing, samePath, WorktreeHoldings } from '../git/git';
import { LeaderLease } from './leaderLease';
import { exitRecord, readJson, runDir } from '../agent/agents';
import { describeUses, ProcessIdentity, processesUsing, ProcessUse } from '../agent/processInfo';
import { FencedError, Store } from '../db/store';
import { isPoolPath } from './warmPool';
import { isActive } from '../model/runStatus';
import type { RepoRequest } from '../model/action';
import { answerRequest } from './requestAnswer';

export interface GcItem {
  worktree: string;
  runId: string | null;
  /** 'refused': git would not remove it (a worktree with an initialised submodule, say); the reason says why. */
  action: 'removed' | 'kept' | 'would-remove' | 'refused';
  reason?: string;
  holdings?: WorktreeHoldings;
}

/**
 * The run's supervisor once it has written the run's exit: it carries the run id but works
 * in the run's folder, and is about to exit — not a user of the worktree.
 */
export function finishedSupervisor(stateDir: string, runId: string): number[] {
  const sup = exitRecord(stateDir, runId) && readJson<ProcessIdentity>(path.join(runDir(stateDir, runId), 'supervisor.json'));
  return sup ? [sup.pid] : [];
}

/** The processes using a worktree (see processesUsing), for a run's worktree also those carrying its id. */
export function worktreeUsers(store: Store, worktree: string, runId: string | undefined): ProcessUse[] {
  const stateDir = path.dirname(store.file);
  return processesUsing(worktree, runId ? { stateDir, runId, except: finishedSupervisor(stateDir, runId) } : undefined);
}

/**
 * What removing a worktree costs — the one rule of Remove (CLI and UI), Clean Up and gc.
 * Uncommitted changes and untracked files go with the folder; commits not in the base go
 * too on a detached HEAD, and stay on the branch otherwise (kept until merged). Anything
 * held, lost or kept, needs the user's explicit confirmation (invariant 5); gc never forces.
 */
export interface RemovalCost {
  lost: WorktreeHoldings;
  /** Commits not in the base that the (kept) branch still holds. */
  keptOnBranch: number;
  branch: string | null;
  base: string;
}

export function removalCost(h: WorktreeHoldings, branch: string | null, base: string): RemovalCost {
  return branch ? { lost: { ...h, unmerged: [] }, keptOnBranch: h.unmerged.length, branch, base } : { lost: h, keptOnBranch: 0, branch, base };
}

const commits = (n: number) => `${n} commit${n === 1 ? '' : 's'}`;

/** Why a removal needs confirmation, or undefined when it costs nothing. */
export function describeRemovalCost(worktree: string, c: RemovalCost): string | undefined {
  const lost = describeHoldings(c.lost);
  const them = c.lost.changed.length + c.lost.untracked.length + c.lost.unmerged.length === 1 ? 'it' : 'them';
  if (lost) return `${worktree} holds ${lost}; removing it would lose ${them}${c.keptOnBranch ? ` (its ${commits(c.keptOnBranch)} not in ${c.base} stays on ${c.branch})` : ''}`;
  if (c.keptOnBranch) return `${worktree} holds ${commits(c.keptOnBranch)} not in ${c.base}; ${c.keptOnBranch === 1 ? 'it stays' : 'they stay'} on ${c.branch}, which is kept`;
  return undefined;
}

/** For the event log: what a removal lost, and only that (anything held was confirmed first). */
export function removalNote(c: RemovalCost): string {
  const lost = describeHoldings(c.lost);
  const kept = c.keptOnBranch ? `${c.branch} keeps ${commits(c.keptOnBranch)} not in ${c.base}` : '';
  if (lost) return ` (forced, losing ${lost}${kept ? `; ${kept}` : ''})`;
  return kept ? ` (confirmed; ${kept})` : '';
}

/** "2 changed files, 1 untracked file, 3 unmerged commits" — what a worktree holds. */
export function describeHoldings(h: WorktreeHoldings): string {
  const parts: string[] = [];
  const n = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  if (h.changed.length) parts.push(n(h.changed.length, 'changed file'));
  if (h.untracked.length) parts.push(n(h.untracked.length, 'untracked file'));
  if (h.unmerged.length) parts.push(n(h.unmerged.length, 'unmerged commit'));
  return parts.join(', ');
}

/**
 * Worktrees of ended runs, and worktrees in a run root that no run owns: removes the ones
 * that hold nothing uncommitted or unmerged and that no live process uses, and lists what
 * the others hold or who uses them. Never forces. A worktree git refuses to remove is
 * listed as refused, and the others are still collected.
 */
export async function collectGarbage(store: Store, lease: LeaderLease, repoRoot: string, o: { dryRun: boolean }): Promise<GcItem[]> {
  const repo = await GitRepo.open(repoRoot);
  const runs = store.listRuns({ repo: repo.root });
  const roots = new Set(runs.map((r) => path.dirname(r.worktree)));
  const items: GcItem[] = [];
  for (const wt of await repo.worktrees()) {
    if (samePath(wt.path, repo.root) || !roots.has(path.dirname(wt.path)) || isPoolPath(wt.path)) continue;
    const owner = runs.filter((r) => samePath(r.worktree, wt.path)).pop();
    if (owner && isActive(owner.status)) continue;
    const base = owner?.baseRef ?? (await repo.baseBranch().catch(() => 'main'));
    const users = worktreeUsers(store, wt.path, owner?.id);
    if (users.length) {
      items.push({ worktree: wt.path, runId: owner?.id ?? null, action: 'kept', reason: `in use by ${describeUses(users)}` });
      continue;
    }
    const holdings = fs.existsSync(wt.path) ? await repo.holdings(wt.path, base) : { changed: [], untracked: [], unmerged: [] };
    if (!holdsNothing(holdings)) {
      items.push({ worktree: wt.path, runId: owner?.id ?? null, action: 'kept', reason: `holds ${describeHoldings(holdings)}`, holdings });
      continue;
    }
    if (o.dryRun) {
      items.push({ worktree: wt.path, runId: owner?.id ?? null, action: 'would-remove', reason: owner ? `${owner.priority} ${owner.status}` : 'no run owns it' });
      continue;
    }
    // Intent first, fenced: a deposed leader cannot remove anything.
    lease.act('remove-worktree', (fence) => store.fencedEvent(fence, owner?.id ?? null, 'remove-worktree', wt.path));
    let result: Awaited<ReturnType<GitRepo['removeWorktree']>>;
    try {
      result = await repo.fencedBy(lease).removeWorktree(wt.path, base);
    } catch (e) {
      if (e instanceof FencedError) throw e;
      const why = String((e as Error).message).trim().split('\n')[0].replace(/^fatal: /, '');
      items.push({ worktree: wt.path, runId: owner?.id ?? null, action: 'refused', reason: `git refused: ${why}` });
      continue;
    }
    items.push({
      worktree: wt.path,
      runId: owner?.id ?? null,
      action: result.removed ? 'removed' : 'kept',
      reason: result.removed ? (result.branchDeleted ? `branch ${result.branchDeleted} merged and deleted` : 'branch kept (not merged)') : `holds ${describeHoldings(result.holdings)}`,
    });
  }
  return items;
}

/**
 * The leader's part of `gc` asked by another process (the CLI while a window leads): collects
 * each pending gc request's repository and answers in the same row with the report as JSON.
 */
export async function answerGcRequests(store: Store, lease: LeaderLease, requests: RepoRequest[], log: (level: 'info' | 'warn', message: string) => void): Promise<void> {
  for (const request of requests.filter((r) => r.kind === 'gc')) {
    const { status, result } = await answerRequest(async () => {
      const report = await collectGarbage(store, lease, request.repo, { dryRun: false });
      log('info', `gc ${request.repo}: ${report.filter((i) => i.action === 'removed').length} removed, ${report.filter((i) => i.action !== 'removed').length} kept or refused`);
      return JSON.stringify(report);
    });
    if (status === 'failed') log('warn', `gc ${request.repo} failed: ${result}`);
    store.finishRepoRequest(lease.currentFence(), request.id, status, result);
  }
}
