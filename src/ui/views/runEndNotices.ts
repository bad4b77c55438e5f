import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { Disposable } from '../host/disposable';
import type { MessageAction, Notifier } from '../host/notifier';
import type { OrchestratorHost } from '../host/orchestratorHost';
import { STATUS_LABEL } from './runPresentation';
import type { WindowRepositories } from '../host/windowRepositories';
import { ACTIVE_STATUSES, isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

/** Where the ids of runs whose end was shown are kept (shared by the profile's windows). */
export const NOTIFIED_KEY = 'worktreeOrchestrator.notifiedRunEnds';
/** A run that ended this long before the window started is still announced (a reload in between). */
const STARTUP_GRACE_MS = 2 * 60_000;
/** Notified ids are forgotten after this: the grace window is long past by then. */
const REMEMBER_MS = 7 * 24 * 3600_000;

/** `… window "name" (pid 1234)`: how windows label themselves (see extension.ts). */
const WINDOW_LABEL = /^.* window ".*" \(pid (\d+)\)$/;

/**
 * Which window announces a run's end: the window that requested it, while that window
 * (its extension host) still runs; otherwise — runs of the loop or the CLI, or a window
 * that has closed or reloaded since (a spawn reloads a single-folder window) — the
 * leading window. Exactly one window answers yes at a time.
 */
export function announcesHere(run: Pick<Run, 'requestedBy'>, here: { windowLabel: string; isLeader: boolean }, alive: (pid: number) => boolean = pidAlive): boolean {
  if (run.requestedBy === here.windowLabel) return true;
  const pid = WINDOW_LABEL.exec(run.requestedBy ?? '')?.[1];
  const requesterRuns = pid !== undefined && Number(pid) !== process.pid && alive(Number(pid));
  return !requesterRuns && here.isLeader;
}

/** "US-036 succeeded (exit 0)"; "US-036 #2 failed (exit 3)". */
export function runEndMessage(run: Run): string {
  const exit = run.exitCode === null ? 'exit code unknown' : `exit ${run.exitCode}`;
  return `${run.priority}${run.attempt > 1 ? ` #${run.attempt}` : ''} ${STATUS_LABEL[run.status]} (${exit})`;
}

/**
 * "US-036 succeeded (exit 0)" with Open Diff, Merge, Open Worktree, Show Log (Show Log first
 * when it failed or was lost), once per run: the ids shown are kept in the profile's global
 * state, so neither a reload nor a second window repeats them. Runs that ended before this
 * window started (beyond a short grace for reloads) are not announced.
 *
 * Ends are noticed without re-reading every run: the runs seen active are remembered, and
 * on each change those no longer active are looked up.
 */
export class RunEndNotices extends Disposable {
  private readonly since = Date.now() - STARTUP_GRACE_MS;
  private active = new Set<string>();
  private readonly shownHere = new Set<string>();
  private scanned = false;

  constructor(
    private readonly host: OrchestratorHost,
    private readonly repos: WindowRepositories,
    private readonly notifier: Notifier,
    private readonly windowLabel: string,
    private readonly memento: vscode.Memento,
  ) {
    super();
    this.register(host.onDidChangeRuns(() => this.check()));
    this.register(host.onDidChangeLeader(() => this.check()));
    this.register(repos.onDidChange(() => this.startupScan()));
    this.active = new Set(host.store.listRuns({ statuses: ACTIVE_STATUSES }).map((r) => r.id));
    this.startupScan();
  }

  /** Runs that ended while this window was (re)loading: once, when its repositories are known. */
  private startupScan(): void {
    if (this.scanned || this.isDisposed || !this.repos.repositories.length) return;
    this.scanned = true;
    for (const repo of this.repos.repositories) {
      for (const run of this.host.store.endedSince(repo.root, this.since)) this.consider(run);
    }
  }

  private check(): void {
    if (this.isDisposed) return;
    const now = this.host.store.listRuns({ statuses: ACTIVE_STATUSES });
    const still = new Set(now.map((r) => r.id));
    for (const id of this.active) {
      if (still.has(id)) continue;
      const run = this.host.store.getRun(id);
      if (run) this.consider(run);
    }
    this.active = still;
  }

  private consider(run: Run): void {
    if (isActive(run.status) || (run.endedAt ?? 0) < this.since || this.shownHere.has(run.id)) return;
    if (!this.repos.repositories.some((r) => r.root === run.repo)) return;
    if (!announcesHere(run, { windowLabel: this.windowLabel, isLeader: this.host.isLeader })) return;
    // A spawn from this window that never started was already reported by the spawn command.
    if (run.requestedBy === this.windowLabel && run.startedAt === null) return;
    const notified = this.memento.get<Record<string, number>>(NOTIFIED_KEY, {});
    if (notified[run.id] !== undefined) return;
    this.shownHere.add(run.id);
    const cutoff = Date.now() - REMEMBER_MS;
    const kept = Object.fromEntries(Object.entries(notified).filter(([, at]) => at >= cutoff));
    void this.memento.update(NOTIFIED_KEY, { ...kept, [run.id]: run.endedAt ?? Date.now() });
    this.announce(run);
  }

  private announce(run: Run): void {
    const command = (id: string, title: string): MessageAction => ({ title, run: () => vscode.commands.executeCommand(`worktreeOrchestrator.${id}`, run.id) });
    const showLog = command('showLog', 'Show Log');
    const rest = [command('showDiff', 'Open Diff'), command('merge', 'Merge'), ...(fs.existsSync(run.worktree) ? [command('revealWorktree', 'Open Worktree')] : [])];
    const message = runEndMessage(run);
    if (run.status === 'succeeded' || run.status === 'stopped') this.notifier.info(message, ...rest, showLog);
    else if (run.status === 'lost') this.notifier.warn(message, showLog, ...rest);
    else this.notifier.error(message, showLog, ...rest);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
