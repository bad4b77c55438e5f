import * as vscode from 'vscode';
import { UserError } from '../../core/model/userError';
import { createOrchestratorStatusItem } from '../views/leaderStatusBar';
import { setViewState } from './windowRepositories';

/**
 * The database could not be opened (locked, damaged and moved aside, unwritable state
 * folder, written by a newer version): the views and the status bar say so, and every
 * contributed command answers with the reason instead of "command not found".
 */
export function registerUnavailable(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, error: unknown): void {
  const message = error instanceof UserError ? error.message : `Worktree Orchestrator could not open its database: ${(error as Error)?.message ?? error}`;
  log.error(error instanceof UserError ? message : `${message}\n${(error as Error)?.stack ?? ''}`);
  void setViewState('dbError');
  const show = () => {
    void vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log').then((choice) => {
      if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'worktreeOrchestrator.stateDir');
      if (choice === 'Show Log') log.show();
    });
  };
  // The status bar says what it says in every window: here, that this window cannot lead.
  const item = createOrchestratorStatusItem();
  item.text = '$(error) Orchestrator: unavailable';
  item.tooltip = `${message}\n\nClick for the reason and what to do.`;
  item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  item.show();
  context.subscriptions.push(item);
  const contributed = (context.extension.packageJSON as { contributes?: { commands?: Array<{ command: string }> } }).contributes?.commands ?? [];
  for (const { command } of contributed) {
    context.subscriptions.push(vscode.commands.registerCommand(command, command === 'worktreeOrchestrator.showOrchestratorLog' ? () => log.show() : show));
  }
  show();
}
