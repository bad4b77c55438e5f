import * as fs from 'node:fs';
import { describeHoldings, describeRemovalCost, removalCost, removalNote, worktreeUsers } from './gc';
import { GitRepo, samePath } from './git';
import type { Acts, Fence } from './leaderLease';
import { crashPoint } from './crashPoint';
import { describeUses } from './processInfo';
import { isActive, Run, Store } from './store';
import { UserError } from './userError';
import { loadExeca } from './loadExeca';

/**
 * What a user does with a finished run: look at its changes, merge them into the base
 * branch in the main checkout, remove its worktree. Merge and remove are side effects:
 * only the leader carries them out, after a fenced intent record, and each refusal leaves
 * everything as it was.
 */

export interface ChangedFile {
  status: string;
  path: string;
}

/** Files the run changed against the commit it started from (committed and not). */
export async function changedFiles(run: Run): Promise<ChangedFile[]> {
  if (!run.baseCommit || !fs.existsSync(run.worktree)) return [];
  const execa = await loadExeca();
  const r = await execa('git', ['diff', '--name-status', '-z', '--no-renames', run.baseCommit, '--'], { cwd: run.worktree, reject: false });
  const parts = r.stdout.split('\0').filter(Boolean);
  const out: ChangedFile[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) out.push({ status: parts[i], path: parts[i + 1] });
  const untracked = await execa('git', ['ls-files', '--others', '--exclude-standard', '-z'], { cwd: run.worktree, reject: false });
  for (const p of untracked.stdout.split('\0').filter(Boolean)) out.push({ status: '?', path: p });
  return out;
}

/** `git merge --no-ff` of the run's branch into its base, in the main checkout. */
export async function mergeRun(store: Store, fence: Fence, run: Run): Promise<string> {
  if (isActive(run.status)) throw new UserError(`${run.priority} is still ${run.status}; stop it or let it finish before merging.`, 'RUN_ACTIVE');
  const repo = await GitRepo.open(run.repo);
  const current = await repo.baseBranch().catch(() => null);
  if (current !== run.baseRef) {
    throw new UserError(`The main checkout ${repo.root} is on ${current ?? 'a detached HEAD'}, not ${run.baseRef}: check out ${run.baseRef} to merge. Nothing was changed.`, 'WRONG_BRANCH');
  }
  const execa = await loadExeca();
  const dirty = await execa('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repo.root });
  // Porcelain lines start with a two-letter status that may begin with a space: no trim().
  const files = dirty.stdout.split('\n').filter((l) => l.length > 3).map((l) => l.slice(3));
  if (files.length) {
    throw new UserError(`The main checkout has uncommitted changes (${files.slice(0, 5).join(', ')}${files.length > 5 ? ', …' : ''}): commit or stash them first. Nothing was changed.`, 'MAIN_DIRTY');
  }
  if (await repo.isMerged(run.branch, run.baseRef)) return `${run.branch} is already merged into ${run.baseRef}.`;
  store.fencedEvent(fence, run.id, 'merge', `${run.branch} -> ${run.baseRef}`);
  crashPoint('before-merge');
  const message = `Merge ${run.branch} (${run.priority}${run.title ? `: ${run.title}` : ''})`;
  const merged = await execa('git', ['merge', '--no-ff', '--no-edit', '-m', message, `refs/heads/${run.branch}`], { cwd: repo.root, reject: false });
  if (merged.exitCode !== 0) {
    const conflicts = (await execa('git', ['diff', '--name-only', '--diff-filter=U'], { cwd: repo.root, reject: false })).stdout.split('\n').filter(Boolean);
    await execa('git', ['merge', '--abort'], { cwd: repo.root, reject: false });
    store.fencedEvent(fence, run.id, 'merge-failed', conflicts.join(', ') || merged.stderr.trim());
    throw new UserError(
      conflicts.length
        ? `Merging ${run.branch} into ${run.baseRef} conflicts in ${conflicts.join(', ')}. The merge was aborted; nothing was changed.`
        : `git refused to merge ${run.branch} into ${run.baseRef}: ${merged.stderr.trim().split('\n')[0]}. Nothing was changed.`,
      'MERGE_CONFLICT',
    );
  }
  store.fencedEvent(fence, run.id, 'merged', `${run.branch} -> ${run.baseRef}`);
  return `Merged ${run.branch} into ${run.baseRef}.`;
}

/**
 * Removes the run's worktree when it holds nothing; with `force` (the user confirmed what
 * would be lost) also when it does. The branch is kept unless merged.
 */
export async function removeRunWorktree(store: Store, acts: Acts, run: Run, force: boolean): Promise<string> {
  if (isActive(run.status)) throw new UserError(`${run.priority} is still ${run.status}; stop it before removing its worktree.`, 'RUN_ACTIVE');
  const repo = (await GitRepo.open(run.repo)).fencedBy(acts);
  const info = (await repo.worktrees()).find((w) => samePath(w.path, run.worktree));
  if (!info) return `${run.worktree} is already gone.`;
  // A process still working there (a leftover of the agent, a shell, a dev server) would lose its files.
  const users = worktreeUsers(store, run.worktree, run.id);
  if (users.length && !force) throw new UserError(`${run.worktree} is in use by ${describeUses(users)}; end ${users.length === 1 ? 'it' : 'them'} first, or remove it anyway (CLI: --force). Nothing was changed.`, 'IN_USE');
  const holdings = await repo.holdings(run.worktree, run.baseRef);
  const cost = removalCost(holdings, info.branch, run.baseRef);
  const why = describeRemovalCost(run.worktree, cost);
  if (why && !force) {
    throw new UserError(describeHoldings(cost.lost) ? `${why}. Confirm to remove it anyway (CLI: --force).` : `${why}. Confirm removing the worktree (CLI: --force).`, describeHoldings(cost.lost) ? 'WOULD_LOSE_WORK' : 'UNMERGED_COMMITS');
  }
  acts.act('remove-worktree', (fence) => store.fencedEvent(fence, run.id, 'remove-worktree', `${run.worktree}${removalNote(cost, force)}`));
  crashPoint('before-remove');
  const result = await repo.removeWorktree(run.worktree, run.baseRef, { force });
  return `Removed ${run.worktree}${result.branchDeleted ? ` and its merged branch ${result.branchDeleted}` : `; branch ${run.branch} kept${holdings.unmerged.length ? ' (not merged)' : ''}`}.`;
}
