import * as vscode from 'vscode';
import { holderAlive } from '../../core/leader/leaderLease';
import { Disposable } from '../host/disposable';
import { describeLeader, OrchestratorHost } from '../host/orchestratorHost';
import { ACTIVE_STATUSES } from '../../core/model/runStatus';

/**
 * The singleton indicator: whether this window leads or stands by (and who leads), and how
 * many agents run. Updated from the host's change events only; the first update() is the
 * caller's, once the database is open (it reads the database: not during activation).
 */
export class LeaderStatusBar extends Disposable {
  private readonly item = this.register(createOrchestratorStatusItem());

  constructor(private readonly host: OrchestratorHost) {
    super();
    this.register(host.onDidChangeLeader(() => this.update()));
    this.register(host.onDidChangeRuns(() => this.update()));
    this.item.text = '$(server-process) Orchestrator';
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  /** Live runs marked needs-input at the last update. */
  needInput = 0;

  update(): void {
    let running = 0;
    let queued = 0;
    let needInput = 0;
    try {
      const active = new Set<string>();
      for (const r of this.host.store.listRuns({ statuses: ACTIVE_STATUSES })) {
        active.add(r.id);
        if (r.status === 'requested') queued++;
        else running++;
      }
      // Runs that wait for the user: live ones (an ended run's mark is for its Follow Up, in the tree).
      needInput = this.host.store.markedRuns('needs-input').filter((f) => active.has(f.runId)).length;
    } catch {
      return; // database busy or closed: the next change event updates it
    }
    const counts = `${running} running${queued ? `, ${queued} queued` : ''}${needInput ? `, ${needInput} need${needInput === 1 ? 's' : ''} input` : ''}`;
    this.needInput = needInput;
    const leader = this.host.leader();
    const tooltip = new vscode.MarkdownString(undefined, true);
    if (this.host.isLeader) {
      this.item.text = `${needInput ? '$(bell-dot)' : '$(server-process)'} Orchestrator: leader · ${counts}`;
      tooltip.appendMarkdown(`**This window leads** the orchestrator (pid ${process.pid}, epoch ${leader.epoch}).\n\n`);
    } else if (holderAlive(leader)) {
      this.item.text = `${needInput ? '$(bell-dot)' : '$(server-process)'} Orchestrator: standby (pid ${leader.pid ?? '?'})${needInput ? ` · ${needInput} need${needInput === 1 ? 's' : ''} input` : ''}`;
      tooltip.appendMarkdown(`**Standby.** ${describeLeader(leader)} leads (epoch ${leader.epoch}); this window shows its state and can request spawns.\n\n`);
    } else {
      this.item.text = '$(warning) Orchestrator: no leader';
      tooltip.appendMarkdown('**Nobody leads** right now; a window takes over within seconds.\n\n');
    }
    tooltip.appendMarkdown(`Agents: ${counts}.  \nState: \`${this.host.stateDir}\`\n\nClick for actions.`);
    this.item.tooltip = tooltip;
  }
}

/** The one status bar item, in the same place whether the orchestrator is available or not; click: Show Status. */
export function createOrchestratorStatusItem(): vscode.StatusBarItem {
  const item = vscode.window.createStatusBarItem('worktreeOrchestrator.status', vscode.StatusBarAlignment.Left, 10);
  item.name = 'Worktree Orchestrator';
  item.command = 'worktreeOrchestrator.showStatus';
  return item;
}
