// What the Spawn quick pick lists, as plain data: no `vscode` import, so unit tests can
// check it in plain Node; priorityPick.ts turns it into QuickPickItems.
import type { Roadmap, RoadmapPriority } from './roadmap';
import { RunStatus, isActive } from '../model/runStatus';
import { Run } from '../model/run';

export type PriorityChoice = { kind: 'spawn'; id: string } | { kind: 'active'; run: Run };

export interface PickEntry {
  label: string;
  description?: string;
  detail?: string;
  /** A section heading (a separator), not a choice. */
  separator?: true;
  alwaysShow?: true;
  choice?: PriorityChoice;
  showCompleted?: true;
  /** A roadmap warning: choosing it opens the roadmap at this line. */
  warningLine?: number;
}

const ORDER: Record<RoadmapPriority['status'], number> = { planned: 0, 'in-progress': 1, blocked: 2, unknown: 3, complete: 4 };
const STATUS_TEXT: Record<RoadmapPriority['status'], string> = { planned: 'planned', 'in-progress': 'in progress', blocked: 'blocked', unknown: 'no status', complete: 'complete' };

/** The id a user typed, as the roadmap spells ids: ' priority 20 ' is 'PRIORITY-20'. */
const normalised = (typed: string) => typed.trim().replace(/\s+/g, '-').toUpperCase();

/**
 * The entries of the quick pick: planned first, then the rest, completed ones only when
 * asked for; a priority is listed once, under its canonical id, with its aliases in the
 * label so typing either id finds it; priorities with an active run (under any of their
 * ids) are marked and not spawnable; the roadmap's warnings come last.
 */
export function pickEntries(roadmap: Roadmap, runs: readonly Run[], typed: string, showCompleted: boolean, statusLabel: (s: RunStatus) => string): PickEntry[] {
  const latest = new Map<string, Run>();
  for (const run of runs) {
    const seen = latest.get(run.priority);
    if (!seen || isActive(run.status) || (!isActive(seen.status) && run.attempt > seen.attempt)) latest.set(run.priority, run);
  }
  const priorities = [...roadmap.priorities].sort((a, b) => ORDER[a.status] - ORDER[b.status] || a.line - b.line);
  const completed = priorities.filter((p) => p.status === 'complete');

  const entry = (p: RoadmapPriority): PickEntry => {
    const label = [p.id, ...p.aliases].join(' · ');
    const ids = [p.id, ...p.aliases];
    const active = ids.map((id) => latest.get(id)).find((r) => r && isActive(r.status));
    if (active) {
      return {
        label: `$(sync~spin) ${label}`,
        description: p.title,
        detail: `Active: ${statusLabel(active.status)}${active.pid ? ` (pid ${active.pid})` : ''} — a second agent is not started; choose it to reveal the run`,
        choice: { kind: 'active', run: active },
      };
    }
    const run = latest.get(p.id);
    return {
      label,
      description: p.title,
      detail: [STATUS_TEXT[p.status], run ? `ran before: #${run.attempt} ${statusLabel(run.status)} (a new attempt will be offered)` : undefined].filter(Boolean).join(' · '),
      choice: { kind: 'spawn', id: p.id },
    };
  };

  const entries: PickEntry[] = [];
  const want = normalised(typed);
  if (want && !priorities.some((p) => p.id === want || p.aliases.includes(want))) {
    entries.push({ label: `$(edit) Spawn "${typed.trim()}"`, description: 'as typed', alwaysShow: true, choice: { kind: 'spawn', id: typed.trim() } });
  }
  const section = (label: string, list: RoadmapPriority[]) => {
    if (!list.length) return;
    entries.push({ label, separator: true });
    entries.push(...list.map(entry));
  };
  section('Planned', priorities.filter((p) => p.status === 'planned'));
  section('Other', priorities.filter((p) => p.status !== 'planned' && p.status !== 'complete'));
  if (showCompleted) section('Completed', completed);
  else if (completed.length) entries.push({ label: `$(eye) Show completed (${completed.length})`, alwaysShow: true, showCompleted: true });
  if (roadmap.warnings.length) {
    entries.push({ label: `Roadmap warnings (${roadmap.warnings.length})`, separator: true });
    for (const w of roadmap.warnings) {
      entries.push({ label: `$(warning) line ${w.line}`, description: w.message, detail: 'choose to open the roadmap at this line', alwaysShow: true, warningLine: w.line });
    }
  }
  return entries;
}
