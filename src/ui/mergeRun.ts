import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { GitRepo } from '../core/git';
import { isActive, Run } from '../core/store';
import { UserError } from '../core/userError';
import { ensureLeading } from './leadership';
import { STATUS_LABEL } from './runPresentation';
import type { Services } from './services';

const SHOWN_COMMITS = 12;

/**
 * Merges an ended run's branch into its base branch in the main checkout (`git merge
 * --no-ff`), after a modal that lists the commits. Refuses rather than guesses: the run must
 * have ended, the main checkout must have the base branch checked out with no uncommitted
 * changes to tracked files; a conflicting merge is aborted, leaving everything as it was.
 * Only the leader merges, after a fenced intent record.
 */
export async function mergeRun(s: Services, run: Run): Promise<boolean> {
  if (isActive(run.status)) throw new UserError(`${run.priority} #${run.attempt} is ${STATUS_LABEL[run.status]}: stop it (or let it finish) before merging its branch.`, 'RUN_ACTIVE');
  const repo = await GitRepo.open(run.repo);
  const head = (await repo.raw(['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
  if (head !== run.baseRef) {
    throw new UserError(`The main checkout ${run.repo} is on ${head || 'a detached HEAD'}, not ${run.baseRef}: check out ${run.baseRef} there to merge ${run.branch}.`, 'WRONG_BRANCH');
  }
  if (!(await repo.branchExists(run.branch))) throw new UserError(`The branch ${run.branch} no longer exists.`, 'NO_BRANCH');
  const dirty = (await repo.raw(['status', '--porcelain', '--untracked-files=no'])).trim();
  if (dirty) throw new UserError(`The main checkout ${run.repo} has uncommitted changes; commit or stash them before merging.`, 'DIRTY_MAIN');

  const commits = (await repo.raw(['rev-list', '--oneline', `refs/heads/${run.baseRef}..refs/heads/${run.branch}`, '--'])).split('\n').filter(Boolean);
  if (!commits.length) {
    s.notifier.info(`${run.branch} has no commits that ${run.baseRef} lacks: nothing to merge.`);
    return false;
  }
  let leftBehind = '';
  if (fs.existsSync(run.worktree)) {
    const h = await repo.holdings(run.worktree, run.baseRef).catch(() => undefined);
    const n = h ? h.changed.length + h.untracked.length : 0;
    if (n) leftBehind = `\n\nNot included: ${n} uncommitted or untracked file(s) in ${run.worktree}.`;
  }
  const detail = `${commits.slice(0, SHOWN_COMMITS).join('\n')}${commits.length > SHOWN_COMMITS ? `\n… and ${commits.length - SHOWN_COMMITS} more` : ''}${leftBehind}`;
  const choice = await vscode.window.showInformationMessage(
    `Merge ${commits.length} commit(s) of ${run.branch} into ${run.baseRef}?`,
    { modal: true, detail },
    'Merge',
  );
  if (choice !== 'Merge') return false;
  if (!(await ensureLeading(s.host, 'merges branches'))) return false;

  return s.host.fenced('merge', run.id, `${run.branch} -> ${run.baseRef}`, async () => {
    try {
      await repo.raw(['merge', '--no-ff', '--no-edit', '--', run.branch]);
    } catch (e) {
      await repo.raw(['merge', '--abort']).catch(() => undefined);
      throw new UserError(`Merging ${run.branch} into ${run.baseRef} stopped (${(e as Error).message}); the merge was aborted and nothing changed. Merge it by hand in ${run.repo}.`, 'MERGE_FAILED');
    }
    s.notifier.info(`Merged ${run.branch} into ${run.baseRef}.`, {
      title: 'Remove Worktree',
      run: () => vscode.commands.executeCommand('worktreeOrchestrator.removeWorktree', run.id),
    });
    return true;
  });
}
