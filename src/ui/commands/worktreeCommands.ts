import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { cleanUpWorktrees } from './cleanUpWorktrees';
import { resolveWorktree, WorktreeTarget } from './commandArgs';
import { registerCommand } from './registerCommand';
import { removeWorktree } from './removeWorktree';
import type { Services } from '../host/services';

/** Commands on a worktree (of a run, or any worktree in the Worktrees view), and cleaning them up. */
export function registerWorktreeCommands(s: Services): vscode.Disposable[] {
  const target = async (arg: unknown, placeHolder: string): Promise<WorktreeTarget | undefined> => {
    const t = await resolveWorktree(s, arg, placeHolder);
    if (t && !fs.existsSync(t.worktree)) {
      s.notifier.warn(`${t.worktree} does not exist (any more).`);
      return undefined;
    }
    return t;
  };
  const folderName = (t: WorktreeTarget) => (t.run ? `${t.run.priority} · code_developer` : path.basename(t.worktree));

  return [
    registerCommand(s, 'worktreeOrchestrator.openWorktreeInNewWindow', 'Opening the worktree', async (arg) => {
      const t = await target(arg, 'Open the worktree of which run?');
      if (t) await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(t.worktree), { forceNewWindow: true });
    }),
    registerCommand(s, 'worktreeOrchestrator.revealWorktree', 'Revealing the worktree', async (arg) => {
      const t = await target(arg, 'Reveal the worktree of which run?');
      if (!t) return;
      if (s.folders.contains(t.worktree)) {
        await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(t.worktree));
        return;
      }
      s.notifier.info(
        `${t.worktree} is not in this window.`,
        { title: 'Add to Workspace', run: () => vscode.commands.executeCommand('worktreeOrchestrator.addWorktreeToWorkspace', t.run?.id ?? arg) },
        { title: 'Open in New Window', run: () => vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(t.worktree), { forceNewWindow: true }) },
      );
    }),
    registerCommand(s, 'worktreeOrchestrator.addWorktreeToWorkspace', 'Adding the worktree to the window', async (arg) => {
      const t = await target(arg, 'Add the worktree of which run?');
      return t && s.folders.add(t.repoRoot, t.worktree, folderName(t));
    }),
    registerCommand(s, 'worktreeOrchestrator.removeWorktree', 'Removing the worktree', async (arg) => {
      const t = await target(arg, 'Remove the worktree of which run?');
      return t ? removeWorktree(s, t) : false;
    }),
    registerCommand(s, 'worktreeOrchestrator.gc', 'Cleaning up worktrees', (arg) => cleanUpWorktrees(s, arg)),
  ];
}
