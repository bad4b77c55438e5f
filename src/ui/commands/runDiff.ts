import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { GitRepo } from '../../core/git/git';
import { UserError } from '../../core/model/userError';
import { Disposable } from '../host/disposable';

export const GIT_SCHEME = 'worktree-orchestrator-git';

interface GitRef {
  /** Where to run git (the worktree or the main checkout). */
  cwd: string;
  /** A commit; empty for "no such file on this side". */
  ref: string;
  /** Repository-relative path. */
  file: string;
}

/**
 * Diffs of a run's work against the commit it started from (the merge base with its base
 * branch): uncommitted and untracked files included, shown in VS Code's multi-file diff
 * editor. File contents at a commit come from this provider — `git show <commit>:<path>` —
 * so it does not depend on the built-in git extension's URI format.
 */
export class RunDiff extends Disposable implements vscode.TextDocumentContentProvider {
  constructor() {
    super();
    this.register(vscode.workspace.registerTextDocumentContentProvider(GIT_SCHEME, this));
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const q = JSON.parse(uri.query) as GitRef;
    if (!q.ref) return '';
    const repo = await GitRepo.open(q.cwd);
    return repo.raw(['show', '--end-of-options', `${q.ref}:${q.file}`]).catch(() => '');
  }

  /**
   * Shows what `branch` (checked out in `worktree`, if that still exists) changed since it
   * left `base`. Returns the number of changed files.
   */
  async show(o: { title: string; repoRoot: string; worktree: string; branch: string; base: string }): Promise<number> {
    const live = fs.existsSync(o.worktree);
    const cwd = live ? o.worktree : o.repoRoot;
    const git = await GitRepo.open(cwd);
    const tip = live ? 'HEAD' : `refs/heads/${o.branch}`;
    let mergeBase: string;
    try {
      mergeBase = (await git.raw(['merge-base', tip, `refs/heads/${o.base}`])).trim();
    } catch {
      throw new UserError(`${o.branch} and ${o.base} have no common history to diff against.`, 'NO_MERGE_BASE');
    }
    // Working tree (live) or branch tip against the merge base; renames as delete + add.
    const nameStatus = await git.raw(['diff', '--name-status', '--no-renames', '-z', mergeBase, ...(live ? [] : [tip]), '--']);
    const entries: Array<{ status: string; file: string }> = [];
    const fields = nameStatus.split('\0').filter(Boolean);
    for (let i = 0; i + 1 < fields.length; i += 2) entries.push({ status: fields[i], file: fields[i + 1] });
    if (live) {
      const untracked = await git.raw(['ls-files', '--others', '--exclude-standard', '-z']);
      for (const file of untracked.split('\0').filter(Boolean)) entries.push({ status: 'A', file });
    }
    if (!entries.length) return 0;

    const side = (ref: string, file: string) =>
      vscode.Uri.from({ scheme: GIT_SCHEME, path: `/${file}`, query: JSON.stringify({ cwd, ref, file } satisfies GitRef) });
    const resources = entries.map(({ status, file }) => {
      const fileUri = vscode.Uri.file(path.join(cwd, file));
      // No side for an added (left) or deleted (right) file: the editor shows it as such.
      const left = status.startsWith('A') ? undefined : side(mergeBase, file);
      const right = status.startsWith('D') ? undefined : live ? fileUri : side(tip, file);
      return [fileUri, left, right] as const;
    });
    try {
      await vscode.commands.executeCommand('vscode.changes', o.title, resources);
    } catch {
      // Older hosts without the multi-file diff editor: one unified diff document.
      const patch = await git.raw(['diff', '--no-color', mergeBase, ...(live ? [] : [tip]), '--']);
      const doc = await vscode.workspace.openTextDocument({ language: 'diff', content: patch || '(no changes to tracked files)' });
      await vscode.window.showTextDocument(doc, { preview: false });
    }
    return entries.length;
  }
}
