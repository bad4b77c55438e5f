import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { GitRepo } from '../../core/git/git';
import { UserError } from '../../core/model/userError';
import { reportAnswer, requestFromLeader } from './leaderRequest';
import { STATUS_LABEL } from '../views/runPresentation';
import type { Services } from '../host/services';
import { isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

const SHOWN_COMMITS = 12;

/**
 * Merges an ended run's branch into its base branch in the main checkout (`git merge
 * --no-ff`), after a modal that lists the commits. The checks here (run ended, base branch
 * checked out, main checkout clean) only make the refusal immediate and precise: the merge
 * itself is requested from the leader, which checks again and aborts a conflicting merge,
 * leaving everything as it was.
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
  // The leader merges (fenced), whichever window asked; its answer says how it went.
  const action = await requestFromLeader(s, 'merge', run, { title: `Merging ${run.branch} into ${run.baseRef}` });
  reportAnswer(s, action, {
    title: 'Remove Worktree',
    run: () => vscode.commands.executeCommand('worktreeOrchestrator.removeWorktree', run.id),
  });
  return action.status === 'done';
}
