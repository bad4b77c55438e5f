import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { samePath } from '../../core/git/git';

export type AddOutcome =
  | { kind: 'present' }
  /** Appended to the open multi-root workspace: nothing restarts. */
  | { kind: 'added' }
  /** A .code-workspace file listing the window's folders and the worktree was written and opened: the window reloads. */
  | { kind: 'opened'; workspaceFile: string };

/** Opens a workspace file in this window. Replaceable for extension-host tests, which would lose their host to the reload. */
export type WorkspaceOpener = (workspaceFile: vscode.Uri) => Thenable<unknown>;

const defaultOpener: WorkspaceOpener = (uri) => vscode.commands.executeCommand('vscode.openFolder', uri, { forceNewWindow: false });

/**
 * Puts a run's worktree into this window.
 *
 * A window that already is a multi-root workspace just gets another folder. A single-folder
 * window cannot: adding a folder turns it into an untitled workspace, which restarts the
 * extension host and, in remote windows (code-server), reloads the window — and with plain
 * updateWorkspaceFolders the reloaded window came back without the worktree about one time
 * in three. Writing a .code-workspace file that lists both folders and opening it landed
 * every time. Either way the orchestrator does not care about the restart: agents are
 * detached and leadership hands over.
 */
export class WorkspaceFolders {
  opener: WorkspaceOpener = defaultOpener;

  /** @param workspacesDir where generated .code-workspace files go (in global storage). */
  constructor(private readonly workspacesDir: string) {}

  contains(folder: string): boolean {
    return (vscode.workspace.workspaceFolders ?? []).some((f) => f.uri.scheme === 'file' && samePath(f.uri.fsPath, folder));
  }

  async add(repoRoot: string, worktree: string, name: string): Promise<AddOutcome> {
    if (this.contains(worktree)) return { kind: 'present' };
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (vscode.workspace.workspaceFile && folders.length > 0) {
      if (vscode.workspace.updateWorkspaceFolders(folders.length, 0, { uri: vscode.Uri.file(worktree), name })) return { kind: 'added' };
    }
    const file = this.workspaceFileFor(repoRoot);
    const listed = folders.filter((f) => f.uri.scheme === 'file').map((f) => ({ path: f.uri.fsPath, ...(f.name !== path.basename(f.uri.fsPath) ? { name: f.name } : {}) }));
    if (!listed.some((f) => samePath(f.path, repoRoot))) listed.unshift({ path: repoRoot });
    const previous = readWorkspace(file);
    const content = {
      ...previous,
      folders: [...listed, { path: worktree, name }],
    };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(content, null, 2) + '\n');
    fs.renameSync(tmp, file);
    await this.opener(vscode.Uri.file(file));
    return { kind: 'opened', workspaceFile: file };
  }

  /** Takes a removed worktree out of the window, when that does not restart it (never the first folder). */
  remove(worktree: string): void {
    const folders = vscode.workspace.workspaceFolders ?? [];
    const index = folders.findIndex((f) => f.uri.scheme === 'file' && samePath(f.uri.fsPath, worktree));
    if (index > 0) vscode.workspace.updateWorkspaceFolders(index, 1);
  }

  /**
   * `<repo-name>.code-workspace`; when a file of that name belongs to another repository of
   * the same name, a short hash of the path keeps them apart.
   */
  workspaceFileFor(repoRoot: string): string {
    const name = path.basename(repoRoot).replace(/[^A-Za-z0-9._-]/g, '_') || 'repository';
    const plain = path.join(this.workspacesDir, `${name}.code-workspace`);
    const existing = readWorkspace(plain);
    const first = (existing?.folders as Array<{ path?: string }> | undefined)?.[0]?.path;
    if (!existing || (first && samePath(first, repoRoot))) return plain;
    const hash = crypto.createHash('sha256').update(repoRoot).digest('hex').slice(0, 8);
    return path.join(this.workspacesDir, `${name}-${hash}.code-workspace`);
  }
}

/** A workspace file we wrote earlier (its settings are kept), or undefined. */
function readWorkspace(file: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
