import * as assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as path from 'node:path';
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

  it('loads better-sqlite3 shipped inside the VSIX', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext);
    // Resolve from the installed extension's folder, so this proves the VSIX carries it.
    const requireFromExt = createRequire(path.join(ext.extensionPath, 'package.json'));
    const resolved = requireFromExt.resolve('better-sqlite3');
    assert.ok(resolved.startsWith(path.join(ext.extensionPath, 'node_modules')), resolved);
    const Database = requireFromExt('better-sqlite3') as typeof import('better-sqlite3');
    const db = new Database(':memory:');
    try {
      assert.deepEqual({ ...(db.prepare('select 41 + 1 as x').get() as object) }, { x: 42 });
    } finally {
      db.close();
    }
  });
});
