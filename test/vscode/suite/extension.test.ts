import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, testWorkspace } from './env';

describe('extension in a real VS Code (code-server)', () => {
  it('opened the temp repository made by the runner', () => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.deepEqual(
      folders.map((f) => f.uri.fsPath),
      [testWorkspace()],
    );
  });

  it('is installed and activates', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed`);
    await ext.activate();
    assert.equal(ext.isActive, true);
  });

  it('registers worktreeOrchestrator.spawnCodeDeveloper', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('worktreeOrchestrator.spawnCodeDeveloper'));
  });
});
