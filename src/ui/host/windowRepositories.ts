import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { GitRepo } from '../../core/git/git';
import { findRoadmapPath } from '../../core/roadmap/roadmap';
import { Disposable } from './disposable';
import * as settings from './settings';

export interface WindowRepository {
  /** The main checkout (real path), also when the window shows one of its worktrees. */
  root: string;
  name: string;
  /** The workspace folder it was found through (for folder-scoped settings). */
  folder: vscode.WorkspaceFolder;
  /** The roadmap file, or undefined when there is none (or the setting points outside). */
  roadmap: string | undefined;
}

/** What the views show when they are empty: drives the viewsWelcome entries. */
export type ViewState = 'loading' | 'noRepo' | 'noRoadmap' | 'ready' | 'dbError';
export const VIEW_STATE_KEY = 'worktreeOrchestrator.state';

export function setViewState(state: ViewState): Thenable<unknown> {
  return vscode.commands.executeCommand('setContext', VIEW_STATE_KEY, state);
}

/**
 * The git repositories behind this window's folders. A run's worktree opened as a folder
 * maps back to its main checkout (the first entry of `git worktree list`), so a window that
 * shows a repository and its agents' worktrees is still one repository.
 */
export class WindowRepositories extends Disposable {
  private current: WindowRepository[] = [];
  private scanning: Promise<WindowRepository[]> | undefined;
  private scanned = false;
  private rescan = false;
  private roadmapWatchers: vscode.Disposable[] = [];
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;

  constructor(private readonly log: vscode.LogOutputChannel) {
    super();
    this.register(vscode.workspace.onDidChangeWorkspaceFolders(() => void this.refresh()));
    this.register(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${settings.SECTION}.roadmapPath`)) void this.refresh();
    }));
    this.register({ dispose: () => this.roadmapWatchers.forEach((w) => w.dispose()) });
  }

  get repositories(): readonly WindowRepository[] {
    return this.current;
  }

  /** Resolves once the first scan is done (commands may run before it finished); starts it if none has (activation defers it). */
  async ready(): Promise<readonly WindowRepository[]> {
    return this.scanning ?? (this.scanned ? this.current : this.refresh());
  }

  find(root: string): WindowRepository | undefined {
    return this.current.find((r) => r.root === root);
  }

  /** Re-reads the folders; overlapping calls coalesce into one more scan. */
  refresh(): Promise<WindowRepository[]> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      let found: WindowRepository[];
      do {
        this.rescan = false;
        found = await scan(this.log);
      } while (this.rescan && !this.isDisposed);
      return found;
    })().then((found) => {
      this.scanning = undefined;
      this.scanned = true;
      if (this.isDisposed) return found;
      this.current = found;
      this.watchRoadmaps(found);
      void setViewState(!found.length ? 'noRepo' : found.some((r) => r.roadmap) ? 'ready' : 'noRoadmap');
      this.changed.fire();
      return found;
    });
    return this.scanning;
  }

  /** A roadmap created or deleted (by the template command, git checkout, anything) changes the welcome view. */
  private watchRoadmaps(repos: WindowRepository[]): void {
    this.roadmapWatchers.forEach((w) => w.dispose());
    this.roadmapWatchers = repos.map((repo) => {
      const configured = settings.roadmapPath(repo.folder.uri);
      const pattern = configured && !path.isAbsolute(configured) ? configured : '{docs/roadmap/ROADMAP.md,ROADMAP.md}';
      const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(repo.root), pattern), false, true, false);
      const onChange = () => {
        const now = roadmapOf(repo.root, repo.folder);
        if (now !== repo.roadmap) void this.refresh();
      };
      return vscode.Disposable.from(watcher, watcher.onDidCreate(onChange), watcher.onDidDelete(onChange));
    });
  }
}

async function scan(log: vscode.LogOutputChannel): Promise<WindowRepository[]> {
  const out: WindowRepository[] = [];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    if (folder.uri.scheme !== 'file' || !fs.existsSync(folder.uri.fsPath)) continue;
    let root: string;
    try {
      root = await mainCheckout(folder.uri.fsPath);
    } catch (e) {
      log.debug(`${folder.uri.fsPath}: not a git repository (${(e as Error).message})`);
      continue;
    }
    if (out.some((r) => r.root === root)) continue;
    out.push({ root, name: path.basename(root), folder, roadmap: roadmapOf(root, folder) });
  }
  return out;
}

/** The main checkout of the repository `dir` belongs to. */
export async function mainCheckout(dir: string): Promise<string> {
  const repo = await GitRepo.open(dir);
  const main = (await repo.worktrees())[0];
  if (!main || main.bare || !fs.existsSync(main.path)) return repo.root;
  return fs.realpathSync(main.path);
}

function roadmapOf(root: string, folder: vscode.WorkspaceFolder): string | undefined {
  try {
    return findRoadmapPath(root, settings.roadmapPath(folder.uri));
  } catch {
    return undefined;
  }
}
