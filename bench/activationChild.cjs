// One activation sample, in a fresh process (a cold module cache), against the fake
// `vscode` module of fakeVscode.cjs — so it times our bundle and our activate(), not
// VS Code's extension host. Prints one JSON line.
//   node activationChild.cjs <dist/extension.js> <workspace folder> <state dir>
'use strict';
const now = () => performance.now();
const [extensionPath, folder, stateDir] = process.argv.slice(2);
const fake = require('./fakeVscode.cjs');
fake.__install();
fake.__bench.folders = folder ? [folder] : [];
fake.__bench.settings['worktreeOrchestrator.stateDir'] = stateDir;

async function main() {
  const out = { require: NaN, activate: NaN, treeReady: NaN, agentNodes: NaN, error: null };
  const t0 = now();
  const ext = require(extensionPath);
  out.require = now() - t0;
  if (typeof ext.activate !== 'function') {
    out.error = 'no activate export';
    return out;
  }
  const context = {
    subscriptions: [],
    extensionPath: require('node:path').resolve(extensionPath, '..', '..'),
    extensionUri: fake.Uri.file(require('node:path').resolve(extensionPath, '..', '..')),
    globalStorageUri: fake.Uri.file(stateDir),
    storageUri: undefined,
    logUri: fake.Uri.file(stateDir),
    globalState: { get: (_k, d) => d, update: () => Promise.resolve(), keys: () => [], setKeysForSync: () => undefined },
    workspaceState: { get: (_k, d) => d, update: () => Promise.resolve(), keys: () => [] },
    secrets: { get: () => Promise.resolve(undefined), store: () => Promise.resolve(), delete: () => Promise.resolve(), onDidChange: () => ({ dispose() {} }) },
    environmentVariableCollection: { replace() {}, append() {}, prepend() {}, clear() {} },
    extensionMode: 1,
    asAbsolutePath: (p) => require('node:path').resolve(extensionPath, '..', '..', p),
  };
  try {
    const t1 = now();
    const api = await ext.activate(context);
    out.activate = now() - t1;
    // "The tree can render": the window's repositories are known and the agents tree has its roots.
    if (api && api.agentsTree && api.testing) {
      await api.testing.repositories();
      const roots = await api.agentsTree.getChildren();
      for (const r of roots) api.agentsTree.getTreeItem(r);
      out.agentNodes = roots.length;
      out.treeReady = now() - t0;
    }
    if (typeof ext.deactivate === 'function') await ext.deactivate();
    for (const d of context.subscriptions) {
      try {
        d.dispose();
      } catch {
        // stub
      }
    }
  } catch (e) {
    out.error = String((e && e.stack) || e).split('\n').slice(0, 3).join(' ');
  }
  return out;
}

main().then(
  (out) => process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0)),
  (e) => process.stdout.write(`${JSON.stringify({ error: String(e) })}\n`, () => process.exit(0)),
);
