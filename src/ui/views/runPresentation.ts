import * as vscode from 'vscode';
import { RunStatus, isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';
import type { RunFacts } from '../../core/db/runFacts';

/** What the views show of a run beside the run itself: its facts and its port block. */
export interface RunExtras {
  facts?: RunFacts;
  ports?: { first: number; count: number };
}

/** How a run's status reads in the views: 'requested' is "queued" to the user. */
export const STATUS_LABEL: Record<RunStatus, string> = {
  requested: 'queued',
  provisioning: 'provisioning',
  running: 'running',
  stopping: 'stopping',
  succeeded: 'succeeded',
  failed: 'failed',
  stopped: 'stopped',
  lost: 'lost',
};

const STATUS_ICON: Record<RunStatus, [string, string?]> = {
  requested: ['clock'],
  provisioning: ['loading~spin'],
  running: ['sync~spin', 'charts.blue'],
  stopping: ['debug-stop', 'charts.orange'],
  succeeded: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  stopped: ['circle-slash'],
  lost: ['question', 'charts.yellow'],
};

export function statusIcon(status: RunStatus): vscode.ThemeIcon {
  const [id, color] = STATUS_ICON[status];
  return new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
}

/** A live run's mark wins over its status icon: a bell when it needs input, a watch when stalled. */
export function runIcon(run: Run, facts?: RunFacts): vscode.ThemeIcon {
  if (facts?.attention === 'needs-input') return new vscode.ThemeIcon('bell-dot', new vscode.ThemeColor('charts.yellow'));
  if (facts?.attention === 'stalled' && isActive(run.status)) return new vscode.ThemeIcon('watch', new vscode.ThemeColor('charts.orange'));
  return statusIcon(run.status);
}

/** "needs input: permission denied: Bash" / "stalled" / the last activity, for the description. */
export function factsLine(run: Run, facts?: RunFacts): string | undefined {
  if (!facts) return undefined;
  if (facts.attention === 'needs-input') return `needs input${facts.attentionReason ? `: ${facts.attentionReason}` : ''}`;
  if (facts.attention === 'stalled' && isActive(run.status)) return `stalled${facts.lastActivity ? ` · ${facts.lastActivity}` : ''}`;
  return facts.lastActivity ?? undefined;
}

/** "12.3k" */
export function formatCount(n: number): string {
  return n < 1000 ? String(n) : n < 1_000_000 ? `${(n / 1000).toFixed(1)}k` : `${(n / 1_000_000).toFixed(2)}M`;
}

/**
 * `run.<status>` while active, `run.ended.<status>` after: the `viewItem` when-clauses
 * of package.json match on these (stop only active runs; merge, remove, new attempt only
 * ended ones).
 */
export function runContextValue(run: Run): string {
  return isActive(run.status) ? `run.${run.status}` : `run.ended.${run.status}`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** How long it has been running (active) or how long it ran (ended). */
export function elapsed(run: Run, now = Date.now()): string {
  const from = run.startedAt ?? run.createdAt;
  return formatDuration((run.endedAt ?? now) - from);
}

/** "needs input: … · pid 1234 · 3m 05s · code-developer/us-036": what it is doing first. */
export function runDescription(run: Run, now = Date.now(), extras: RunExtras = {}): string {
  const parts: string[] = [];
  const doing = factsLine(run, extras.facts);
  if (doing) parts.push(doing.length > 80 ? `${doing.slice(0, 79)}…` : doing);
  if (run.pid && isActive(run.status)) parts.push(`pid ${run.pid}`);
  parts.push(isActive(run.status) ? elapsed(run, now) : `ran ${elapsed(run, now)}`);
  if (run.exitCode !== null && !isActive(run.status)) parts.push(`exit ${run.exitCode}`);
  parts.push(run.branch);
  return parts.join(' · ');
}

export function runTooltip(run: Run, extras: RunExtras = {}): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  const time = (t: number | null) => (t ? new Date(t).toLocaleString() : '—');
  md.appendMarkdown(`**${run.priority}** ${run.title ? escape(run.title) : ''}  \n`);
  md.appendMarkdown(`$(${STATUS_ICON[run.status][0].replace('~spin', '')}) ${STATUS_LABEL[run.status]} · attempt ${run.attempt}${run.stopRequested && isActive(run.status) ? ' · stop requested' : ''}\n\n`);
  const rows: Array<[string, string]> = [
    ['Command', run.command.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')],
    ['Worktree', run.worktree],
    ['Branch', `${run.branch} (from ${run.baseRef}${run.baseCommit ? ` @ ${run.baseCommit.slice(0, 8)}` : ''})`],
  ];
  if (run.pid) rows.push(['Process', `pid ${run.pid}${run.supervisorPid ? `, supervisor ${run.supervisorPid}` : ''}`]);
  rows.push(['Exit code', run.exitCode === null ? (isActive(run.status) ? '—' : 'unknown') : String(run.exitCode)]);
  if (run.error) rows.push(['Error', run.error]);
  rows.push(['Requested', `${time(run.createdAt)}${run.requestedBy ? ` by ${run.requestedBy}` : ''}`]);
  rows.push(['Started', time(run.startedAt)]);
  rows.push(['Ended', time(run.endedAt)]);
  rows.push(['Log', run.logPath]);
  rows.push(...factRows(run, extras));
  for (const [k, v] of rows) md.appendMarkdown(`${k}: \`${v.replace(/`/g, "'")}\`  \n`);
  return md;
}

/** Session, tokens, cost, denials, the mark, the ports: what the run's facts say. */
function factRows(run: Run, { facts: f, ports }: RunExtras): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (ports) rows.push(['Ports', `${ports.first}–${ports.first + ports.count - 1} (WTO_PORT=${ports.first})`]);
  if (!f) return rows;
  if (f.attention) rows.push([f.attention === 'needs-input' ? 'Needs input' : 'Stalled', `${f.attentionReason ?? ''}${f.attentionAt ? ` (since ${new Date(f.attentionAt).toLocaleTimeString()})` : ''}`]);
  if (f.lastActivity) rows.push(['Last activity', `${f.lastActivity}${f.lastActivityAt ? ` (${new Date(f.lastActivityAt).toLocaleTimeString()})` : ''}`]);
  if (f.tokensIn !== null || f.tokensOut !== null) rows.push(['Tokens', `${formatCount(f.tokensIn ?? 0)} in / ${formatCount(f.tokensOut ?? 0)} out`]);
  if (f.costUsd !== null) rows.push(['Cost', `$${f.costUsd.toFixed(4)}`]);
  if (f.denials) rows.push(['Permission denials', `${f.denials}${f.deniedTool ? `, last: ${f.deniedTool}` : ''}`]);
  if (f.sessionId) rows.push(['Session', f.sessionId]);
  return rows;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, '\\$&');
}
