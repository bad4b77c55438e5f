import * as vscode from 'vscode';
import type { RunFacts } from '../../core/db/runFacts';
import type { Run } from '../../core/model/run';
import { Disposable } from '../host/disposable';
import type { MessageAction, Notifier } from '../host/notifier';
import type { OrchestratorHost } from '../host/orchestratorHost';
import type { WindowRepositories } from '../host/windowRepositories';

/** Where the needs-input marks that were announced are kept (shared by the profile's windows). */
export const NOTIFIED_INPUT_KEY = 'worktreeOrchestrator.notifiedNeedsInput';
/** A mark set this long before the window started is still announced (a reload in between). */
const STARTUP_GRACE_MS = 2 * 60_000;
const REMEMBER_MS = 7 * 24 * 3600_000;
export const FOLLOW_UP_COMMAND = 'worktreeOrchestrator.followUp';

/** A mark's identity: the run and when it was set (a new denial, a new silence: a new mark). */
export const markKey = (f: Pick<RunFacts, 'runId' | 'attentionAt'>) => `${f.runId}@${f.attentionAt ?? 0}`;

/** "US-036 #2 needs input: permission denied: Bash" */
export function needsInputMessage(run: Run, f: RunFacts): string {
  return `${run.priority}${run.attempt > 1 ? ` #${run.attempt}` : ''} needs input${f.attentionReason ? `: ${f.attentionReason}` : ''}`;
}

/**
 * One notification per needs-input mark across all windows: only the leading window
 * announces (a mark is the run's, not a window's), and the marks announced are kept in the
 * profile's global state, so neither a second window, a reload nor a change of leader repeats
 * one. Actions: Show Log, and Follow Up… (the follow-up command, when it is installed).
 */
export class NeedsInputNotices extends Disposable {
  private readonly since = Date.now() - STARTUP_GRACE_MS;
  private readonly shownHere = new Set<string>();

  constructor(
    private readonly host: OrchestratorHost,
    private readonly repos: WindowRepositories,
    private readonly notifier: Notifier,
    private readonly memento: vscode.Memento,
  ) {
    super();
    this.register(host.onDidChangeRuns(() => this.check()));
    this.register(host.onDidChangeLeader(() => this.check()));
    this.register(repos.onDidChange(() => this.check()));
    this.check();
  }

  check(): void {
    if (this.isDisposed || !this.host.isLeader) return;
    let marked: RunFacts[];
    try {
      marked = this.host.store.markedRuns('needs-input');
    } catch {
      return; // busy or closed: the next change checks again
    }
    for (const f of marked) this.consider(f);
  }

  private consider(f: RunFacts): void {
    const key = markKey(f);
    if ((f.attentionAt ?? 0) < this.since || this.shownHere.has(key)) return;
    const run = this.host.store.getRun(f.runId);
    if (!run || !this.repos.repositories.some((r) => r.root === run.repo)) return;
    const notified = this.memento.get<Record<string, number>>(NOTIFIED_INPUT_KEY, {});
    if (notified[key] !== undefined) return;
    this.shownHere.add(key);
    const cutoff = Date.now() - REMEMBER_MS;
    const kept = Object.fromEntries(Object.entries(notified).filter(([, at]) => at >= cutoff));
    void this.memento.update(NOTIFIED_INPUT_KEY, { ...kept, [key]: f.attentionAt ?? Date.now() });
    const showLog: MessageAction = { title: 'Show Log', run: () => vscode.commands.executeCommand('worktreeOrchestrator.showLog', run.id) };
    const followUp: MessageAction = { title: 'Follow Up…', run: () => followUpRun(run, this.notifier) };
    this.notifier.warn(needsInputMessage(run, f), followUp, showLog);
  }
}

/** Runs the follow-up command (another part of the extension registers it), or says why it cannot. */
export async function followUpRun(run: Run, notifier: Pick<Notifier, 'warn'>): Promise<unknown> {
  const commands = await vscode.commands.getCommands(true);
  if (!commands.includes(FOLLOW_UP_COMMAND)) {
    notifier.warn(`Follow Up is not available in this version of the extension; answer the agent in its terminal (Open Agent Terminal) or with \`worktree-orchestrator attach ${run.priority}\`.`);
    return undefined;
  }
  return vscode.commands.executeCommand(FOLLOW_UP_COMMAND, run.id);
}
