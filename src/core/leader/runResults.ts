import { describeHoldings, describeRemovalCost, removalCost, removalNote, worktreeUsers } from './gc';
import { GitRepo, samePath } from '../git/git';
import type { Acts } from './leaderLease';
import { crashPoint } from '../crashPoint';
import { describeUses, gitMergesIn } from '../agent/processInfo';
import { Store } from '../db/store';
import { UserError } from '../model/userError';
import { isActive } from '../model/runStatus';
import { Run, RunEvent } from '../model/run';

/**
 * What a user does with a finished run: look at its changes, merge them into the base
 * branch in the main checkout, remove its worktree. Merge and remove are side effects:
 * only the leader carries them out, after a fenced intent record, and each refusal leaves
 * everything as it was.
 */

/** How long a merge waits for an earlier leader's git, still running its hooks, to finish. */
const ORPHANED_MERGE_WAIT_MS = 30_000;

/** The intent of a merge of this run that never reported an outcome (its leader was killed), if any. */
function unfinishedMerge(store: Store, runId: string): RunEvent | undefined {
  const last = store.events(runId).filter((e) => e.kind === 'merge' || e.kind === 'merged' || e.kind === 'merge-failed').pop();
  return last?.kind === 'merge' ? last : undefined;
}


/**
 * `git merge --no-ff` of the run's branch into its base, in the main checkout. What an
 * earlier merge left is told as it is: already merged (a killed leader's git went on and
 * completed it: done), a merge in progress (MERGE_HEAD: nothing is done), that git still
 * running its hooks (waited for), or killed before committing (its result left staged).
 */
export async function mergeRun(store: Store, acts: Acts, run: Run): Promise<string> {
  if (isActive(run.status)) throw new UserError(`${run.priority} is still ${run.status}; stop it or let it finish before merging.`, 'RUN_ACTIVE');
  const repo = (await GitRepo.open(run.repo)).fencedBy(acts);
  const record = (kind: string, detail: string) => acts.act(kind, (fence) => store.fencedEvent(fence, run.id, kind, detail));
  const current = await repo.baseBranch().catch(() => null);
  if (current !== run.baseRef) {
    throw new UserError(`The main checkout ${repo.root} is on ${current ?? 'a detached HEAD'}, not ${run.baseRef}: check out ${run.baseRef} to merge. Nothing was changed.`, 'WRONG_BRANCH');
  }
  const begun = unfinishedMerge(store, run.id);
  const m: MergeContext = { repo, run, begun, earlier: begun ? `the merge of ${run.branch} into ${run.baseRef} begun at ${new Date(begun.at).toISOString()} (leader epoch ${begun.epoch})` : '' };
  const already = await settleEarlierMerge(m, record);
  if (already) return already;
  record('merge', `${run.branch} -> ${run.baseRef}`);
  crashPoint('before-merge');
  await mergeNoFf(m, record);
  record('merged', `${run.branch} -> ${run.baseRef}`);
  return `Merged ${run.branch} into ${run.baseRef}.`;
}

interface MergeContext {
  repo: GitRepo;
  run: Run;
  /** The intent of an earlier merge of this run that never reported its outcome. */
  begun: RunEvent | undefined;
  /** That merge, in words ('' when there is none). */
  earlier: string;
}

/**
 * What an earlier merge (or the user) left in the main checkout: a message when the branch is
 * merged already, undefined when the checkout is ready to merge; otherwise a UserError.
 */
async function settleEarlierMerge(m: MergeContext, record: (kind: string, detail: string) => void): Promise<string | undefined> {
  const { repo, run, begun, earlier } = m;
  const git = (args: string[]) => repo.ask(args);
  for (const waitUntil = Date.now() + ORPHANED_MERGE_WAIT_MS; ; await new Promise((r) => setTimeout(r, 200))) {
    const live = gitMergesIn(repo.root);
    if (live.length && begun && Date.now() < waitUntil) continue; // the earlier leader's git, in its hooks: let it finish
    const mergeHead = (await git(['rev-parse', '-q', '--verify', 'MERGE_HEAD'])).stdout.trim();
    // A git killed after committing (SIGPIPE once its leader is gone) leaves MERGE_HEAD behind.
    const leftover = !!mergeHead && (await git(['merge-base', '--is-ancestor', mergeHead, 'HEAD'])).exitCode === 0;
    if (await repo.isMerged(run.branch, run.baseRef)) {
      if (begun) record('merged', `${run.branch} -> ${run.baseRef} (completed by the git of ${earlier})`);
      const note = leftover ? `; its git stopped before clearing MERGE_HEAD in ${repo.root}: "git merge --quit" clears it` : '';
      return `${run.branch} is already merged into ${run.baseRef}${begun ? ` (${earlier} completed after its leader stopped${note})` : note}.`;
    }
    if (live.length) {
      throw new UserError(`git merge (pid ${live.join(', ')}) is running in the main checkout ${repo.root}${begun ? ` (${earlier}, still in its hooks)` : ''}; ask again once it has finished. Nothing was done.`, 'MERGE_IN_PROGRESS');
    }
    if (mergeHead) throw await mergeInProgress(m, mergeHead, leftover);
    await refuseDirtyMain(m);
    return undefined;
  }
}

async function mergeInProgress(m: MergeContext, mergeHead: string, leftover: boolean): Promise<UserError> {
  const { repo, run, begun, earlier } = m;
  const names = (await repo.ask(['for-each-ref', '--points-at', mergeHead, '--format=%(refname:short)', 'refs/heads/'])).stdout.split('\n').filter(Boolean);
  const what = names.length ? names.map((n) => (n === run.branch ? `${n}, this run's branch${begun ? `, as ${earlier}` : ''}` : n)).join(', ') : `commit ${mergeHead.slice(0, 12)}`;
  return new UserError(
    leftover
      ? `A finished merge left MERGE_HEAD behind in the main checkout ${repo.root} (merging ${what}, already in HEAD): "git merge --quit" clears it. Nothing was done.`
      : `A merge is in progress in the main checkout ${repo.root} (merging ${what}): finish it with "git commit" or abandon it with "git merge --abort". Nothing was done.`,
    'MERGE_IN_PROGRESS',
  );
}

/** Refuses a main checkout with uncommitted changes, telling an interrupted merge's result apart. */
async function refuseDirtyMain(m: MergeContext): Promise<void> {
  const { repo, run, begun } = m;
  const dirty = await repo.ask(['status', '--porcelain', '--untracked-files=no']);
  // Porcelain lines start with a two-letter status that may begin with a space: no trim().
  const files = dirty.stdout.split('\n').filter((l) => l.length > 3).map((l) => l.slice(3));
  if (!files.length) return;
  const listed = `${files.slice(0, 5).join(', ')}${files.length > 5 ? ', …' : ''}`;
  if (!begun) throw new UserError(`The main checkout has uncommitted changes (${listed}): commit or stash them first. Nothing was changed.`, 'MAIN_DIRTY');
  // git stages the merged result before its pre-merge-commit hook, and records it as AUTO_MERGE.
  const isItsResult = (await repo.ask(['diff', '--cached', '--quiet', 'AUTO_MERGE', '--'])).exitCode === 0;
  throw new UserError(
    `The merge of ${run.branch} into ${run.baseRef} begun at ${new Date(begun.at).toISOString()} was interrupted before it committed (its git was killed with leader epoch ${begun.epoch}): the main checkout holds ${isItsResult ? 'its result, uncommitted' : 'uncommitted changes, probably its result'} (${listed}). Nothing was done now: look at them, and "git reset --merge" discards them before merging again.`,
    'MERGE_INTERRUPTED',
  );
}

/** `git merge --no-ff`; on a conflict or refusal the merge is aborted and a UserError says why. */
async function mergeNoFf(m: MergeContext, record: (kind: string, detail: string) => void): Promise<void> {
  const { repo, run } = m;
  const message = `Merge ${run.branch} (${run.priority}${run.title ? `: ${run.title}` : ''})`;
  const merged = await repo.change(['merge', '--no-ff', '--no-edit', '-m', message, `refs/heads/${run.branch}`]);
  if (merged.exitCode === 0) return;
  const conflicts = (await repo.ask(['diff', '--name-only', '--diff-filter=U'])).stdout.split('\n').filter(Boolean);
  await repo.change(['merge', '--abort']);
  record('merge-failed', conflicts.join(', ') || merged.stderr.trim());
  throw new UserError(
    conflicts.length
      ? `Merging ${run.branch} into ${run.baseRef} conflicts in ${conflicts.join(', ')}. The merge was aborted; nothing was changed.`
      : `git refused to merge ${run.branch} into ${run.baseRef}: ${merged.stderr.trim().split('\n')[0]}. Nothing was changed.`,
    'MERGE_CONFLICT',
  );
}

/**
 * Removes the run's worktree when it holds nothing; with `force` (the user confirmed what
 * would be lost) also when it does. The branch is kept unless merged.
 */
export async function removeRunWorktree(store: Store, acts: Acts, run: Run, force: boolean): Promise<string> {
  if (isActive(run.status)) throw new UserError(`${run.priority} is still ${run.status}; stop it before removing its worktree.`, 'RUN_ACTIVE');
  // A follow-up works on in the same worktree: it is that run's now.
  const successor = store.runsAtWorktrees(run.repo, [run.worktree]).find((r) => r.id !== run.id && isActive(r.status));
  if (successor) throw new UserError(`${run.worktree} is the worktree of ${successor.priority} #${successor.attempt} now (${successor.status}, a follow-up); stop it before removing the worktree. Nothing was changed.`, 'RUN_ACTIVE');
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
  acts.act('remove-worktree', (fence) => store.fencedEvent(fence, run.id, 'remove-worktree', `${run.worktree}${removalNote(cost)}`));
  crashPoint('before-remove');
  const result = await repo.removeWorktree(run.worktree, run.baseRef, { force });
  return `Removed ${run.worktree}${result.branchDeleted ? ` and its merged branch ${result.branchDeleted}` : `; branch ${run.branch} kept${holdings.unmerged.length ? ' (not merged)' : ''}`}.`;
}
