import * as vscode from 'vscode';
import { loadRoadmap, RoadmapPriority } from '../core/roadmap';
import { isActive, Run, Store } from '../core/store';
import { STATUS_LABEL } from './runPresentation';
import * as settings from './settings';
import type { WindowRepository } from './windowRepositories';

export type PriorityChoice = { kind: 'spawn'; id: string } | { kind: 'active'; run: Run };

interface Item extends vscode.QuickPickItem {
  choice?: PriorityChoice;
  showCompleted?: true;
}

const ORDER: Record<RoadmapPriority['status'], number> = { planned: 0, 'in-progress': 1, blocked: 2, unknown: 3, complete: 4 };
const STATUS_TEXT: Record<RoadmapPriority['status'], string> = { planned: 'planned', 'in-progress': 'in progress', blocked: 'blocked', unknown: 'no status', complete: 'complete' };

/**
 * The roadmap's priorities to choose from: planned first, then the rest; priorities with an
 * active run are marked and cannot be chosen for a second agent; completed ones stay hidden
 * until asked for. Anything typed that is not in the list can be spawned as typed (the
 * roadmap still has to know it: requestSpawn checks).
 * Throws the roadmap's UserError when there is no usable roadmap.
 */
export async function pickPriority(store: Store, repo: WindowRepository): Promise<PriorityChoice | undefined> {
  const roadmap = loadRoadmap(repo.root, vscode.workspace.getConfiguration(settings.SECTION, repo.folder.uri).get<string>('roadmapPath'));
  const latest = new Map<string, Run>();
  for (const run of store.listRuns({ repo: repo.root })) {
    const seen = latest.get(run.priority);
    if (!seen || isActive(run.status) || (!isActive(seen.status) && run.attempt > seen.attempt)) latest.set(run.priority, run);
  }
  const priorities = [...roadmap.priorities].sort((a, b) => ORDER[a.status] - ORDER[b.status] || a.line - b.line);
  const completed = priorities.filter((p) => p.status === 'complete');

  const item = (p: RoadmapPriority): Item => {
    const run = latest.get(p.id);
    if (run && isActive(run.status)) {
      return {
        label: `$(sync~spin) ${p.id}`,
        description: p.title,
        detail: `Active: ${STATUS_LABEL[run.status]}${run.pid ? ` (pid ${run.pid})` : ''} — a second agent is not started; choose it to reveal the run`,
        choice: { kind: 'active', run },
      };
    }
    return {
      label: p.id,
      description: p.title,
      detail: [STATUS_TEXT[p.status], run ? `ran before: #${run.attempt} ${STATUS_LABEL[run.status]} (a new attempt will be offered)` : undefined].filter(Boolean).join(' · '),
      choice: { kind: 'spawn', id: p.id },
    };
  };

  const qp = vscode.window.createQuickPick<Item>();
  qp.title = `Spawn code_developer — ${repo.name}`;
  qp.placeholder = 'Choose a roadmap priority, or type its id (US-036, PRIORITY 20)';
  qp.matchOnDescription = true;
  qp.matchOnDetail = false;
  let showCompleted = false;
  const build = () => {
    const items: Item[] = [];
    const typed = qp.value.trim();
    if (typed && !priorities.some((p) => p.id.toLowerCase() === typed.toLowerCase())) {
      items.push({ label: `$(edit) Spawn "${typed}"`, description: 'as typed', alwaysShow: true, choice: { kind: 'spawn', id: typed } });
    }
    const section = (label: string, list: RoadmapPriority[]) => {
      if (!list.length) return;
      items.push({ label, kind: vscode.QuickPickItemKind.Separator });
      items.push(...list.map(item));
    };
    section('Planned', priorities.filter((p) => p.status === 'planned'));
    section('Other', priorities.filter((p) => p.status !== 'planned' && p.status !== 'complete'));
    if (showCompleted) section('Completed', completed);
    else if (completed.length) items.push({ label: `$(eye) Show completed (${completed.length})`, alwaysShow: true, showCompleted: true });
    qp.items = items;
  };
  build();

  return new Promise<PriorityChoice | undefined>((resolve) => {
    let result: PriorityChoice | undefined;
    qp.onDidChangeValue(build);
    qp.onDidAccept(() => {
      const picked = qp.selectedItems[0];
      if (picked?.showCompleted) {
        showCompleted = true;
        build();
        return;
      }
      result = picked?.choice;
      qp.hide();
    });
    qp.onDidHide(() => {
      qp.dispose();
      resolve(result);
    });
    qp.show();
  });
}
