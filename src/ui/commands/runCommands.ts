import * as vscode from 'vscode';
import { resolveRun } from './commandArgs';
import { mergeRun } from './mergeRun';
import { registerCommand } from './registerCommand';
import { STATUS_LABEL } from '../views/runPresentation';
import type { Services } from '../host/services';
import { ACTIVE_STATUSES, ENDED_STATUSES, isActive } from '../../core/model/runStatus';

/** Commands on one run: stop, log, diff, merge, reveal in the Agents view. */
export function registerRunCommands(s: Services): vscode.Disposable[] {
  return [
    registerCommand(s, 'worktreeOrchestrator.stopAgent', 'Stopping the agent', async (arg) => {
      const run = await resolveRun(s, arg, { statuses: ACTIVE_STATUSES, placeHolder: 'Stop which agent?' });
      if (!run) return undefined;
      if (!isActive(run.status)) {
        s.notifier.info(`${run.priority} #${run.attempt} is not active (${STATUS_LABEL[run.status]}); nothing to stop.`);
        return run;
      }
      // A person confirms; a programmatic call with a run id or priority (tests, keybindings) does not.
      if (typeof arg !== 'string') {
        const choice = await vscode.window.showWarningMessage(
          `Stop code_developer for ${run.priority}${run.pid ? ` (pid ${run.pid})` : ''}?`,
          { modal: true, detail: `It gets SIGTERM, then SIGKILL after the grace period (worktreeOrchestrator.stopGraceSeconds). Its worktree ${run.worktree} and branch ${run.branch} are kept.` },
          'Stop',
        );
        if (choice !== 'Stop') return undefined;
      }
      // A request, not an act: the leader (whichever window or process) carries it out.
      const requested = s.host.store.requestStop(run.id);
      s.log.info(`Stop requested for ${run.priority} #${run.attempt} (run ${run.id}).`);
      return requested;
    }),
    registerCommand(s, 'worktreeOrchestrator.showLog', 'Showing the agent log', async (arg) => {
      const run = await resolveRun(s, arg, { placeHolder: 'Show the log of which run?' });
      if (run) await s.logs.show(run);
      return run;
    }),
    registerCommand(s, 'worktreeOrchestrator.showDiff', 'Showing the diff', async (arg) => {
      const run = await resolveRun(s, arg, { placeHolder: 'Show the changes of which run?' });
      if (!run) return undefined;
      const files = await s.diff.show({ title: `${run.priority} #${run.attempt}: ${run.branch} ↔ ${run.baseRef}`, repoRoot: run.repo, worktree: run.worktree, branch: run.branch, base: run.baseRef });
      if (!files) s.notifier.info(`${run.priority} #${run.attempt} has no changes against ${run.baseRef} yet.`);
      return files;
    }),
    registerCommand(s, 'worktreeOrchestrator.merge', 'Merging', async (arg) => {
      const run = await resolveRun(s, arg, { statuses: ENDED_STATUSES, placeHolder: 'Merge the branch of which run?' });
      return run ? mergeRun(s, run) : false;
    }),
    registerCommand(s, 'worktreeOrchestrator.revealRun', 'Revealing the run', async (arg) => {
      const run = typeof arg === 'string' ? s.host.store.getRun(arg) : undefined;
      if (!run) return;
      s.agentsTree.refresh();
      const node = s.agentsTree.findRun(run.id);
      if (node) await s.agentsView.reveal(node, { select: true, focus: true, expand: true });
    }),
  ];
}
