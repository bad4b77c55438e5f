import * as vscode from 'vscode';
import { agentCommandProblem } from '../../core/agent/agentCommandCheck';
import { requestFollowUp } from '../../core/followUp';
import { UserError } from '../../core/model/userError';
import { resolveRun } from './commandArgs';
import { registerCommand } from './registerCommand';
import type { Services } from '../host/services';
import * as settings from '../host/settings';
import { spawnRefusal } from '../host/workspaceTrust';
import type { RunStatus } from '../../core/model/runStatus';
import type { Run } from '../../core/model/run';

const ENDED: readonly RunStatus[] = ['succeeded', 'failed', 'stopped', 'lost'];

/**
 * "Follow Up…": the next run of an ended run's priority in the same worktree and branch,
 * told what to do next (an input box); the agent's session is resumed where its CLI can
 * (core/followUp.ts). `arg`: a run's tree item, a run id or priority (a notification's
 * action, keybindings), or `{ run, message }` (no input box: tests, other extensions).
 */
export function registerFollowUpCommand(s: Services): vscode.Disposable {
  return registerCommand(s, 'worktreeOrchestrator.followUp', 'Starting a follow-up', (arg) => followUp(s, arg));
}

async function followUp(s: Services, arg: unknown): Promise<Run | undefined> {
  const refusal = spawnRefusal(s.trust.trusted);
  if (refusal) throw new UserError(refusal, 'UNTRUSTED');
  const given = typeof arg === 'object' && arg !== null && 'message' in arg ? (arg as { run?: unknown; message?: unknown }) : undefined;
  const run = await resolveRun(s, given ? given.run : arg, { statuses: ENDED, placeHolder: 'Follow up which run?' });
  if (!run) return undefined;
  const message = typeof given?.message === 'string' ? given.message : await askForMessage(run);
  if (message === undefined) return undefined;
  const config = settings.spawnSettings(vscode.Uri.file(run.repo));
  const problem = agentCommandProblem(config);
  if (problem) throw new UserError(problem, 'NO_AGENT_COMMAND');
  const next = await requestFollowUp(s.host.store, s.host.stateDir, run.repo, run.id, message, config, { requestedBy: s.windowLabel });
  s.notifier.info(`${next.priority} #${next.attempt}: follow-up of #${run.attempt} requested; it works on in ${next.worktree} (${next.branch}).`, {
    title: 'Show Log',
    run: () => vscode.commands.executeCommand('worktreeOrchestrator.showLog', next.id),
  });
  return next;
}

function askForMessage(run: Run): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title: `Follow up ${run.priority} #${run.attempt}`,
    prompt: `What should the agent do next? It works on in ${run.worktree} (${run.branch}), resuming its session where it can.`,
    placeHolder: 'e.g. The tests fail: fix them, then commit',
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim() ? undefined : 'Say what the agent should do next.'),
  });
}
