import * as vscode from 'vscode';
import { agentCommandProblem } from '../../core/agent/agentCommandCheck';
import { describeLeader } from '../host/orchestratorHost';
import { reconcileAndWait } from '../../core/requests';
import { UserError } from '../../core/model/userError';
import { registerCommand } from './registerCommand';
import { createRoadmap } from './roadmapTemplate';
import type { Services } from '../host/services';
import * as settings from '../host/settings';
import { newAttempt, spawnCodeDeveloper } from './spawnCommand';
import { WindowRepository } from '../host/windowRepositories';
import { spawnRefusal } from '../host/workspaceTrust';

/** Spawning, the continuous loop, leadership, and the views as a whole. */
export function registerOrchestratorCommands(s: Services): vscode.Disposable[] {
  return [
    registerCommand(s, 'worktreeOrchestrator.spawnCodeDeveloper', 'Spawning code_developer', (arg) => spawnCodeDeveloper(s, arg)),
    registerCommand(s, 'worktreeOrchestrator.newAttempt', 'Starting a new attempt', (arg) => newAttempt(s, arg)),
    registerCommand(s, 'worktreeOrchestrator.startLoop', 'Starting the loop', (arg) => startLoop(s, arg)),
    registerCommand(s, 'worktreeOrchestrator.stopLoop', 'Stopping the loop', (arg) => stopLoop(s, arg)),
    registerCommand(s, 'worktreeOrchestrator.reconcile', 'Reconciling', () => reconcile(s)),
    registerCommand(s, 'worktreeOrchestrator.takeOverLeadership', 'Taking over leadership', () => takeOver(s)),
    registerCommand(s, 'worktreeOrchestrator.refresh', 'Refreshing', async () => {
      await s.repos.refresh();
      s.agentsTree.refresh();
      s.worktreesTree.refresh(true);
      s.statusBar.update();
    }),
    registerCommand(s, 'worktreeOrchestrator.showOrchestratorLog', 'Showing the log', () => s.log.show()),
    registerCommand(s, 'worktreeOrchestrator.createRoadmap', 'Creating the roadmap', (arg) => createRoadmap(s, arg)),
    registerCommand(s, 'worktreeOrchestrator.showStatus', 'Showing the status', () => showStatus(s)),
  ];
}

async function startLoop(s: Services, arg: unknown) {
  const refusal = spawnRefusal(s.trust.trusted);
  if (refusal) return s.notifier.warn(refusal);
  const repo = await chooseRepository(s, arg, 'Run the continuous loop for which repository?');
  if (!repo) return;
  const config = settings.spawnSettings(repo.folder.uri);
  const problem = agentCommandProblem(config);
  if (problem) return s.notifier.error(problem, { title: 'Open Settings', run: () => settings.openSettings() });
  // The loop engine (another component) reads this row and spawns priorities in turn.
  s.host.store.setLoop(repo.root, true, config);
  s.notifier.info(`Continuous loop on for ${repo.name}: the leader spawns the next planned priority whenever a slot is free.`);
}

async function stopLoop(s: Services, arg: unknown) {
  const enabled = new Set(s.host.store.loops().filter((l) => l.enabled).map((l) => l.repo));
  const repo = await chooseRepository(s, arg, 'Stop the loop of which repository?', (r) => enabled.has(r.root));
  if (!repo) return;
  s.host.store.setLoop(repo.root, false, settings.spawnSettings(repo.folder.uri));
  s.notifier.info(`Continuous loop off for ${repo.name}: running agents go on; no new ones are started.`);
}

/** This window's own reconcile when it leads, else the leader's, asked through the database (as `cli reconcile` does). */
async function reconcile(s: Services) {
  const leadsHere = async (act: () => Promise<unknown>) => s.host.isLeader && (await act(), true);
  const report = await reconcileAndWait(s.host.store, '', s.windowLabel, leadsHere, async () => {
    const own = await s.host.reconcile();
    if (!own) throw new UserError(`This window stopped leading; ${describeLeader(s.host.leader())} leads now. Try again.`);
    return own;
  });
  const orphans = report.orphanWorktrees.length + report.orphanProcesses.length;
  s.notifier.info(
    `Reconciled: ${report.adopted.length} agent(s) adopted, ${report.ended.length} recorded as ended, ${report.resumed.length} resumed${orphans ? `, ${orphans} orphan(s) reported in the log (left as they are)` : ''}.`,
    ...(orphans ? [{ title: 'Show Log', run: () => s.log.show() }] : []),
  );
  return report;
}

async function takeOver(s: Services) {
  if (s.host.isLeader) return s.notifier.info('This window already leads the orchestrator.');
  if (s.host.leaderAlive()) {
    const choice = await vscode.window.showWarningMessage(
      `Take over the orchestrator from ${describeLeader(s.host.leader())}?`,
      { modal: true, detail: 'The other window or process stops acting at once (its leadership epoch is fenced off) and becomes a standby. Running agents are not affected: this window adopts them.' },
      'Take Over',
    );
    if (choice !== 'Take Over') return;
  }
  if (s.host.takeOver()) s.notifier.info('This window leads the orchestrator now.');
  else s.notifier.warn('Could not take over: the database is busy. Try again in a moment.');
}

async function showStatus(s: Services) {
  const leading = s.host.isLeader;
  const loopsOn = new Set(s.host.store.loops().filter((l) => l.enabled).map((l) => l.repo));
  const anyLoop = s.repos.repositories.some((r) => loopsOn.has(r.root));
  const items: Array<vscode.QuickPickItem & { command?: string }> = [
    { label: '$(add) Spawn code_developer…', command: 'worktreeOrchestrator.spawnCodeDeveloper' },
    { label: '$(output) Show Orchestrator Log', command: 'worktreeOrchestrator.showOrchestratorLog' },
    anyLoop
      ? { label: '$(debug-pause) Stop Continuous Work Loop', command: 'worktreeOrchestrator.stopLoop' }
      : { label: '$(debug-start) Start Continuous Work Loop', command: 'worktreeOrchestrator.startLoop' },
    leading
      ? { label: '$(sync) Reconcile', description: 'adopt live agents, record dead ones, report orphans', command: 'worktreeOrchestrator.reconcile' }
      : { label: '$(arrow-swap) Take Over Leadership', description: `${describeLeader(s.host.leader())} leads`, command: 'worktreeOrchestrator.takeOverLeadership' },
    { label: '$(refresh) Refresh Views', command: 'worktreeOrchestrator.refresh' },
  ];
  const picked = await vscode.window.showQuickPick(items, {
    title: leading ? `Orchestrator: this window leads (pid ${process.pid})` : `Orchestrator: standby — ${describeLeader(s.host.leader())} leads`,
    placeHolder: `State: ${s.host.stateDir}`,
  });
  if (picked?.command) await vscode.commands.executeCommand(picked.command);
}

async function chooseRepository(s: Services, arg: unknown, placeHolder: string, filter: (r: WindowRepository) => boolean = () => true): Promise<WindowRepository | undefined> {
  const repos = (await s.repos.ready()).filter(filter);
  if (typeof arg === 'string') {
    const byRoot = repos.find((r) => r.root === arg);
    if (byRoot) return byRoot;
  }
  if (!repos.length) {
    s.notifier.info(s.repos.repositories.length ? 'No repository of this window has the loop on.' : 'No git repository is open in this window.');
    return undefined;
  }
  if (repos.length === 1) return repos[0];
  return (await vscode.window.showQuickPick(repos.map((r) => ({ label: r.name, description: r.root, repo: r })), { placeHolder }))?.repo;
}
