import * as vscode from 'vscode';
import { describeLeader, OrchestratorHost } from './orchestratorHost';

/**
 * Side effects on worktrees and branches (merge, remove) are the leader's alone (fenced by
 * its epoch). From a standby, the user may take leadership over for this window — only
 * after saying so, since the other window stops acting at once.
 */
export async function ensureLeading(host: OrchestratorHost, what: string): Promise<boolean> {
  if (host.isLeader) return true;
  if (!host.leaderAlive()) {
    if (host.lease.tryAcquire()) return true;
  }
  const choice = await vscode.window.showWarningMessage(
    `Only the leading window ${what}.`,
    { modal: true, detail: `${describeLeader(host.leader())} leads the orchestrator; this window is a standby. Take over leadership in this window? The other window keeps its agents' view and becomes a standby.` },
    'Take Over',
  );
  return choice === 'Take Over' && host.takeOver();
}
