import { Store } from '../db/store';
import { GitRepo, samePath } from '../git/git';
import { UserError } from '../model/userError';
import type { LeaderLease } from './leaderLease';
import { isActive } from '../model/runStatus';
import { Run } from '../model/run';

/**
 * The worktree step of a follow-up (core/followUp.ts): instead of adding a worktree, the
 * leader takes over the previous run's, as it is — same path, same branch, its commits and
 * whatever else it holds. Idempotent, so a leader resuming after a crash simply does it again.
 * `repo` is the leader's fenced repository: each git command confirms the epoch.
 */
export async function reuseWorktree(store: Store, lease: LeaderLease, repo: GitRepo, run: Run, previousRunId: string, lockReason: string): Promise<void> {
  const previous = store.getRun(previousRunId);
  if (!previous || isActive(previous.status)) throw new UserError(`The run ${run.id} follows up ${previousRunId}, which is ${previous ? `still ${previous.status}` : 'not recorded'}.`, 'NOT_ISOLATED');
  const listed = (await repo.worktrees()).find((w) => samePath(w.path, run.worktree));
  if (!listed) throw new UserError(`The worktree ${run.worktree} of ${previous.priority} #${previous.attempt} is gone (removed since the follow-up was requested); start a New Attempt instead.`, 'NO_WORKTREE');
  if (listed.branch !== run.branch) {
    throw new UserError(`The worktree ${run.worktree} has ${listed.branch ? `branch ${listed.branch}` : 'a detached HEAD'} checked out, not ${run.branch}; the follow-up was not started there.`, 'WRONG_BRANCH');
  }
  // The previous run no longer holds the lock: the leader's unlock of ended runs must not
  // release it once this run has taken it.
  if (previous.worktreeLocked) {
    store.fencedTransition(lease.currentFence(), previous.id, [previous.status], previous.status, { worktreeLocked: false }, `worktree handed to the follow-up run ${run.id}`);
  }
  if (listed.locked === lockReason) return;
  if (listed.locked !== null) await repo.unlockWorktree(run.worktree);
  await repo.lockWorktree(run.worktree, lockReason);
}
