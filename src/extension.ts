import * as vscode from 'vscode';

// Placeholder: wired up to src/core and src/ui as they land.
export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('worktreeOrchestrator.spawnCodeDeveloper', () => undefined),
  );
}

export function deactivate(): void {}
