import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitRepo, holdsNothing, samePath, WorktreeHoldings, WorktreeInfo } from '../../core/git/git';
import { describeHoldings, removalCost, removalNote, worktreeUsers } from '../../core/leader/gc';
import { describeUses } from '../../core/agent/processInfo';
import { UserError } from '../../core/model/userError';
import type { WorktreeTarget } from './commandArgs';
import { ensureLeading } from '../host/leadership';
import { reportAnswer, requestFromLeader } from './leaderRequest';
import { STATUS_LABEL } from '../views/runPresentation';
import type { Services } from '../host/services';
import * as settings from '../host/settings';
import { ACTIVE_STATUSES, isActive } from '../../core/model/runStatus';

const SHOWN_PER_KIND = 8;

export interface RemoveOptions {
  /** Ask before removing a worktree that holds nothing (default true; GC does not). */
  confirmEmpty?: boolean;
  /** Say that it was removed (default true; GC sums up instead). Refusals are always said. */
  report?: boolean;
}

/**
 * Removes a worktree without ever losing work by surprise (invariant 5): what it holds
 * (uncommitted changes, untracked files, commits not in the base) is listed in a modal, and
 * only an explicit "Remove and Lose This Work" forces removal. The branch is deleted only
 * when merged. Only the leader removes, after a fenced intent record: a run's worktree by
 * request (any window may ask), any other worktree from this window once it leads.
 */
export async function removeWorktree(s: Services, t: WorktreeTarget, o: RemoveOptions = {}): Promise<boolean> {
  const { confirmEmpty = true, report = true } = o;
  const { repo, info } = await removable(s, t);
  const configured = settings.baseBranch();
  const base = t.base ?? (await repo.baseBranch(configured));
  const holdings: WorktreeHoldings = fs.existsSync(t.worktree) ? await repo.holdings(t.worktree, base) : { changed: [], untracked: [], unmerged: [] };
  const empty = holdsNothing(holdings);
  const lockNote = info.locked !== null && !t.run ? `\n\nIt is locked${info.locked ? ` (${info.locked})` : ''} by someone else; removing it unlocks it.` : '';
  const branchNote = info.branch ? `The branch ${info.branch} is deleted only if it is merged into ${base}.` : '';

  // The rule the CLI and gc use too: commits on a branch survive the removal (the branch is
  // kept unless merged); on a detached HEAD they would be lost with the worktree.
  const cost = removalCost(holdings, info.branch, base);
  const lost = describeHoldings(cost.lost);
  const force = !empty;
  const confirm = empty ? 'Remove' : lost ? 'Remove and Lose This Work' : 'Remove (Keep Branch)';
  const message = empty
    ? `Remove the worktree ${path.basename(t.worktree)}?`
    : lost
      ? `${path.basename(t.worktree)} holds work that removing it would lose: ${lost}.`
      : `Remove the worktree ${path.basename(t.worktree)}? Its branch ${info.branch} keeps ${cost.keptOnBranch} commit(s) not in ${base}.`;
  if (!empty || confirmEmpty) {
    const detail = `${t.worktree}\n\n${empty ? 'It holds no uncommitted changes, untracked files or unmerged commits.' : listHoldings(holdings, base)}\n\n${branchNote}${lockNote}`;
    if ((await s.notifier.ask('warning', message, detail, confirm)) !== confirm) return false;
  }
  if (force && fs.existsSync(t.worktree)) {
    // The confirmation covers exactly what was listed: anything new since then is not forced away.
    const now = await repo.holdings(t.worktree, base);
    if (JSON.stringify(now) !== JSON.stringify(holdings)) {
      s.notifier.warn(`${t.worktree} changed while you were deciding; nothing was removed. Run Remove Worktree again to see what it holds now.`);
      return false;
    }
  }

  if (t.run && samePath(t.run.worktree, t.worktree)) {
    // A run's worktree: the leader removes it (fenced), whichever window asked.
    const action = await requestFromLeader(s, 'remove', t.run, { force, title: `Removing ${path.basename(t.worktree)}` });
    if (action.status === 'done') s.folders.remove(t.worktree);
    if (report || action.status !== 'done') reportAnswer(s, action);
    return action.status === 'done';
  }

  // A worktree no run owns has no action row to request through: this window removes it,
  // as the leader only (taking over if the user agrees), after a fenced intent record.
  if (!(await ensureLeading(s.host, 'removes worktrees'))) return false;
  const result = await s.host.fenced('remove-worktree', null, `${t.worktree}${removalNote(cost)}`, (acts) =>
    repo.fencedBy(acts).removeWorktree(t.worktree, base, { force }),
  );
  if (!result.removed) {
    s.notifier.warn(`${t.worktree} was kept: it now holds ${describeHoldings(result.holdings)}. Run Remove Worktree again to see what.`);
    return false;
  }
  s.folders.remove(t.worktree);
  if (report) s.notifier.info(`Removed ${t.worktree}${result.branchDeleted ? `; branch ${result.branchDeleted} was merged and is deleted` : info.branch ? `; branch ${info.branch} is kept (not merged into ${base})` : ''}.`);
  return true;
}

/** The worktree's repository and git's entry for it, or a UserError when it must not be removed now. */
async function removable(s: Services, t: WorktreeTarget): Promise<{ repo: GitRepo; info: WorktreeInfo }> {
  if (t.run && isActive(t.run.status)) {
    throw new UserError(`${t.run.priority} #${t.run.attempt} is ${STATUS_LABEL[t.run.status]} in ${t.worktree}: stop it first.`, 'RUN_ACTIVE');
  }
  const repo = await GitRepo.open(t.repoRoot);
  if (samePath(t.worktree, repo.root)) throw new UserError('The main checkout is never removed.', 'MAIN_CHECKOUT');
  const info = (await repo.worktrees()).find((w) => samePath(w.path, t.worktree));
  if (!info) throw new UserError(`${t.worktree} is no longer a worktree of ${repo.root}.`, 'NO_WORKTREE');
  const active = s.host.store.listRuns({ repo: repo.root, statuses: ACTIVE_STATUSES }).find((r) => samePath(r.worktree, t.worktree));
  if (active) throw new UserError(`${active.priority} #${active.attempt} is ${STATUS_LABEL[active.status]} in ${t.worktree}: stop it first.`, 'RUN_ACTIVE');
  // A process still working there (a leftover of the agent, a shell, a dev server) would lose
  // its folder: confirming the loss of listed work does not cover that, so it is refused here.
  const users = worktreeUsers(s.host.store, t.worktree, t.run?.id);
  if (users.length) throw new UserError(`${t.worktree} is in use by ${describeUses(users)}; end ${users.length === 1 ? 'it' : 'them'} first. Nothing was changed.`, 'IN_USE');
  return { repo, info };
}

function listHoldings(h: WorktreeHoldings, base: string): string {
  const block = (title: string, items: string[]) =>
    items.length ? `${title}:\n${items.slice(0, SHOWN_PER_KIND).map((i) => `  ${i}`).join('\n')}${items.length > SHOWN_PER_KIND ? `\n  … and ${items.length - SHOWN_PER_KIND} more` : ''}` : '';
  return [
    block('Uncommitted changes', h.changed),
    block('Untracked files', h.untracked),
    block(`Commits not in ${base}`, h.unmerged),
  ].filter(Boolean).join('\n\n');
}
