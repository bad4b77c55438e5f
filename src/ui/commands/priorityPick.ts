import * as vscode from 'vscode';
import { loadRoadmap } from '../../core/roadmap/roadmap';
import { Store } from '../../core/db/store';
import { PickEntry, pickEntries, PriorityChoice } from '../../core/roadmap/priorityPickItems';
import { STATUS_LABEL } from '../views/runPresentation';
import * as settings from '../host/settings';
import type { WindowRepository } from '../host/windowRepositories';

export type { PriorityChoice } from '../../core/roadmap/priorityPickItems';

interface Item extends vscode.QuickPickItem {
  entry: PickEntry;
}

/**
 * The roadmap's priorities to choose from (see pickEntries): planned first, then the rest;
 * priorities with an active run are marked and cannot be chosen for a second agent;
 * completed ones stay hidden until asked for; the roadmap's warnings are listed last (and
 * passed to `warn`, for the log), choosing one opens the roadmap at its line. Anything
 * typed that is not in the list can be spawned as typed (the roadmap still has to know
 * it: requestSpawn checks). Throws the roadmap's UserError when there is no usable roadmap.
 */
export async function pickPriority(store: Store, repo: WindowRepository, warn: (message: string) => void = () => undefined): Promise<PriorityChoice | undefined> {
  const roadmap = loadRoadmap(repo.root, settings.roadmapPath(repo.folder.uri));
  for (const w of roadmap.warnings) warn(`Roadmap ${roadmap.path}: ${w.message}`);
  const runs = store.listRuns({ repo: repo.root });

  const qp = vscode.window.createQuickPick<Item>();
  qp.title = `Spawn code_developer — ${repo.name}${roadmap.warnings.length ? ` (roadmap: ${roadmap.warnings.length} warning${roadmap.warnings.length === 1 ? '' : 's'})` : ''}`;
  qp.placeholder = 'Choose a roadmap priority, or type its id (US-036, PRIORITY 20)';
  qp.matchOnDescription = true;
  qp.matchOnDetail = false;
  let showCompleted = false;
  const build = () => {
    qp.items = pickEntries(roadmap, runs, qp.value, showCompleted, (s) => STATUS_LABEL[s]).map((entry) =>
      entry.separator
        ? { label: entry.label, kind: vscode.QuickPickItemKind.Separator, entry }
        : { label: entry.label, description: entry.description, detail: entry.detail, alwaysShow: entry.alwaysShow, entry },
    );
  };
  build();

  return new Promise<PriorityChoice | undefined>((resolve) => {
    let result: PriorityChoice | undefined;
    qp.onDidChangeValue(build);
    qp.onDidAccept(() => {
      const picked = qp.selectedItems[0]?.entry;
      if (picked?.showCompleted) {
        showCompleted = true;
        build();
        return;
      }
      if (picked?.warningLine !== undefined) {
        const at = new vscode.Position(picked.warningLine - 1, 0);
        void vscode.window.showTextDocument(vscode.Uri.file(roadmap.path), { selection: new vscode.Range(at, at) });
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
