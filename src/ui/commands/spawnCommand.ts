import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { RoadmapError } from '../../core/roadmap/roadmap';
import { requestSpawn } from '../../core/requests';
import { AlreadyActiveError, PreviousRunError } from '../../core/db/store';
import { UserError } from '../../core/model/userError';
import { agentCommandProblem } from '../../core/agent/agentCommandCheck';
import { asNode } from './commandArgs';
import { MessageAction } from '../host/notifier';
import { pickPriority } from './priorityPick';
import { STATUS_LABEL } from '../views/runPresentation';
import type { Services } from '../host/services';
import { waitWithProgress } from './waitWithProgress';
import * as settings from '../host/settings';
import { WindowRepository } from '../host/windowRepositories';
import { spawnRefusal } from '../host/workspaceTrust';
import { BUSY_STATUSES, RunStatus } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

/** How long the spawning window waits for the leader to make the worktree and start the agent. */
const PROVISION_TIMEOUT_MS = 120_000;
const PENDING: readonly RunStatus[] = ['requested', 'provisioning'];

/**
 * "Spawn code_developer": choose (or take) a priority, record the request, wait while the
 * leader — this window or another, or the CLI — makes the worktree and starts the agent,
 * then put the worktree into this window. Every refusal (untrusted workspace, no agent
 * command, unknown priority, an active run, a previous run) changes nothing.
 *
 * `arg`: a priority id string (tests, keybindings), or a tree node. Returns the run, or
 * undefined when nothing was requested.
 */
export async function spawnCodeDeveloper(s: Services, arg?: unknown, o: { newAttempt?: boolean } = {}): Promise<Run | undefined> {
  const refusal = spawnRefusal(s.trust.trusted);
  if (refusal) {
    s.notifier.warn(refusal, { title: 'Manage Workspace Trust', run: () => vscode.commands.executeCommand('workbench.trust.manage') });
    return undefined;
  }
  const repos = await s.repos.ready();
  const repo = await chooseRepository(s, repos, arg);
  if (!repo) return undefined;

  const config = settings.spawnSettings(repo.folder.uri);
  const problem = agentCommandProblem(config);
  if (problem) {
    s.notifier.error(problem, openSettings());
    return undefined;
  }
  const typed = priorityFromArg(arg) ?? (await choosePriority(s, repo));
  if (!typed) return undefined;

  let run: Run;
  try {
    run = await requestSpawn(s.host.store, s.host.stateDir, repo.root, typed, config, { newAttempt: o.newAttempt, requestedBy: s.windowLabel });
  } catch (e) {
    reportRefusal(s, e, repo, typed);
    return undefined;
  }
  s.log.info(`Requested ${run.priority} #${run.attempt} (run ${run.id}): ${run.branch} in ${run.worktree}.`);
  run = await waitWhileProvisioning(s, run);
  if (announce(s, run)) await openWorktree(s, repo, run);
  return run;
}

/** The Spawn quick pick; undefined when cancelled or refused (said). */
async function choosePriority(s: Services, repo: WindowRepository): Promise<string | undefined> {
  let choice;
  try {
    choice = await pickPriority(s.host.store, repo, (m) => s.log.warn(m));
  } catch (e) {
    reportRefusal(s, e, repo);
    return undefined;
  }
  if (choice?.kind === 'active') alreadyActive(s, choice.run);
  return choice?.kind === 'spawn' ? choice.id : undefined;
}

/** Says where the run is once provisioning is over (or still going); true when its agent runs. */
function announce(s: Services, run: Run): boolean {
  if (run.status === 'failed' || run.status === 'lost') {
    s.notifier.error(`${run.priority}: the agent could not be started (${run.error ?? `exit code ${run.exitCode ?? 'unknown'}`}).`, showLog(run));
  } else if (run.status === 'requested') {
    s.notifier.info(`${run.priority} is queued: the leader starts it when an agent slot is free (maxParallel).`, reveal(run));
  } else if (run.status === 'provisioning') {
    s.notifier.info(`${run.priority} is still being provisioned; it shows in the Agents view when it starts.`, reveal(run));
  } else {
    s.notifier.info(`${run.priority}: code_developer ${STATUS_LABEL[run.status]}${run.pid ? ` (pid ${run.pid})` : ''} on ${run.branch} in ${run.worktree}.`, showLog(run));
    return true;
  }
  return false;
}

async function openWorktree(s: Services, repo: WindowRepository, run: Run): Promise<void> {
  if (!settings.openWorktreeAsWorkspaceFolder() || !fs.existsSync(run.worktree)) return;
  // In a single-folder window this reloads the window (see WorkspaceFolders): the run is
  // detached and recorded, so nothing here needs to survive that.
  try {
    const outcome = await s.folders.add(repo.root, run.worktree, `${run.priority} · code_developer`);
    s.log.info(`Worktree ${run.worktree}: ${outcome.kind === 'opened' ? `opening ${outcome.workspaceFile}` : outcome.kind} in this window.`);
  } catch (e) {
    s.notifier.failure(e, `Adding ${run.worktree} to the window`);
  }
}

function openSettings(): MessageAction {
  return { title: 'Open Settings', run: () => settings.openSettings() };
}

function openSettingsFor(key: string): MessageAction {
  return { title: 'Open Settings', run: () => settings.openSettings(`${settings.SECTION}.${key}`) };
}

function reportRefusal(s: Services, e: unknown, repo: WindowRepository, typed?: string): void {
  if (e instanceof AlreadyActiveError) return alreadyActive(s, e.run);
  if (e instanceof PreviousRunError) {
    return s.notifier.info(e.message, {
      title: 'New Attempt',
      run: () => vscode.commands.executeCommand('worktreeOrchestrator.newAttempt', e.run.id),
    });
  }
  if (e instanceof RoadmapError) {
    return s.notifier.error(e.message, { title: 'Create Roadmap', run: () => vscode.commands.executeCommand('worktreeOrchestrator.createRoadmap', repo.root) }, openSettingsFor('roadmapPath'));
  }
  if (e instanceof UserError && /AGENT_COMMAND/.test(e.code)) return s.notifier.error(e.message, openSettings());
  if (e instanceof UserError && /WORKTREE_ROOT|NO_BASE|BAD_BRANCH|DETACHED_HEAD/.test(e.code)) {
    return s.notifier.error(e.message, openSettingsFor(/WORKTREE_ROOT/.test(e.code) ? 'worktreeRoot' : 'baseBranch'));
  }
  s.notifier.failure(e, `Spawning code_developer${typed ? ` for ${typed}` : ''}`);
}

/** "New Attempt": a deliberate next attempt for a priority whose last run has ended. */
export function newAttempt(s: Services, arg?: unknown): Promise<Run | undefined> {
  if (typeof arg === 'string') {
    const run = s.host.store.getRun(arg);
    if (run) arg = run.priority;
  }
  return spawnCodeDeveloper(s, arg, { newAttempt: true });
}

function alreadyActive(s: Services, run: Run): void {
  s.notifier.warn(
    `${run.priority} already has an active code_developer run (#${run.attempt}, ${STATUS_LABEL[run.status]}${run.pid ? `, pid ${run.pid}` : ''}); not starting another.`,
    reveal(run),
  );
}

function reveal(run: Run): MessageAction {
  return { title: 'Reveal', run: () => vscode.commands.executeCommand('worktreeOrchestrator.revealRun', run.id) };
}

function showLog(run: Run): MessageAction {
  return { title: 'Show Log', run: () => vscode.commands.executeCommand('worktreeOrchestrator.showLog', run.id) };
}

function priorityFromArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg.trim() || undefined;
  const node = asNode(arg);
  if (node?.kind === 'priority') return node.priority;
  if (node?.kind === 'run') return node.run.priority;
  return undefined;
}

async function chooseRepository(s: Services, repos: readonly WindowRepository[], arg: unknown): Promise<WindowRepository | undefined> {
  const node = asNode(arg);
  const fromNode = node?.kind === 'priority' ? node.repo : node?.kind === 'run' ? node.run.repo : undefined;
  if (fromNode) {
    const known = repos.find((r) => r.root === fromNode);
    if (known) return known;
  }
  if (!repos.length) {
    s.notifier.error('No git repository is open in this window: open a repository folder to spawn code_developer in one of its worktrees.');
    return undefined;
  }
  // A typed id (tests, keybindings) takes the first repository; a person gets to choose.
  if (repos.length === 1 || typeof arg === 'string') return repos[0];
  const picked = await vscode.window.showQuickPick(
    repos.map((r) => ({ label: r.name, description: r.root, repo: r })),
    { placeHolder: 'Which repository?' },
  );
  return picked?.repo;
}

/**
 * Waits (with a cancellable progress notification) until the leader has moved the run past
 * provisioning, the run is queued behind others, or the timeout passes. Change events come
 * from the ChangeWatcher, so this works whichever process leads.
 */
async function waitWhileProvisioning(s: Services, run: Run): Promise<Run> {
  const queuedBehindOthers = (r: Run) =>
    r.status === 'requested' && s.host.store.listRuns({ statuses: BUSY_STATUSES }).length >= settings.maxParallel();
  return waitWithProgress(s, {
    title: `Spawning code_developer for ${run.priority}`,
    timeoutMs: PROVISION_TIMEOUT_MS,
    read: () => s.host.store.getRun(run.id) ?? run,
    done: (r) => !PENDING.includes(r.status) || queuedBehindOthers(r),
    message: (r) => progressText(r, s.host.leaderAlive()),
  });
}

function progressText(run: Run, leaderAlive: boolean): string {
  if (run.status === 'requested') return leaderAlive ? 'requested; waiting for the leader…' : 'requested; waiting for a leader to take over…';
  if (run.status === 'provisioning') return run.step === 'spawn' ? 'starting the agent…' : `creating worktree ${run.worktree}…`;
  return STATUS_LABEL[run.status];
}
