import * as path from 'node:path';
import * as vscode from 'vscode';
import type * as Main from './extensionMain';
import type { ExtensionApi, StartupTimes } from './ui/host/extensionApi';

// activate() is what VS Code times when a window starts (loading this file, calling
// activate, awaiting it), so this entry is small and imports nothing but `vscode`: it
// registers each contributed command and returns the API, and the extension's body
// (dist/extensionMain.js: services, views, the database, git) is loaded right after it
// returns — or at once, when a command or the API is used before that.

let main: typeof Main | undefined;
let api: ExtensionApi | undefined;
let loaded = false;
let stubs: vscode.Disposable[] = [];
let deferred: NodeJS.Immediate | undefined;

export function activate(context: vscode.ExtensionContext): ExtensionApi {
  const times: StartupTimes = {};
  const load = () => {
    if (loaded) return api;
    loaded = true;
    if (deferred) clearImmediate(deferred);
    // The body registers the real commands: the stand-ins go first, in the same turn.
    for (const d of stubs) d.dispose();
    stubs = [];
    // A computed path: esbuild leaves it to Node, so the body stays its own bundle.
    const t0 = performance.now();
    main = require(path.join(__dirname, 'extensionMain.js')) as typeof Main;
    api = main.start(context, times);
    times.bodyMs = performance.now() - t0;
    return api;
  };
  const contributed = ((context.extension?.packageJSON ?? require(path.join(context.extensionPath, 'package.json'))) as { contributes?: { commands?: Array<{ command: string }> } }).contributes?.commands ?? [];
  // A command run before the body is loaded loads it, then runs as registered there.
  stubs = contributed.map(({ command }) => vscode.commands.registerCommand(command, (...args: unknown[]) => (load(), vscode.commands.executeCommand(command, ...args))));
  deferred = setImmediate(load);
  return lazyApi(() => {
    const loadedApi = load();
    if (!loadedApi) throw new Error('Worktree Orchestrator is unavailable: its database could not be opened (see its log).');
    return loadedApi;
  }, times);
}

export function deactivate(): void {
  if (deferred) clearImmediate(deferred);
  for (const d of stubs) d.dispose();
  stubs = [];
  main?.deactivate();
  main = undefined;
  api = undefined;
  loaded = false;
}

/** The API object returned at once; each member loads the body on first use. */
function lazyApi(get: () => ExtensionApi, times: StartupTimes): ExtensionApi {
  return {
    get store() {
      return get().store;
    },
    get stateDir() {
      return get().stateDir;
    },
    isLeader: () => get().isLeader(),
    statusBarText: () => get().statusBarText(),
    get agentsTree() {
      return get().agentsTree;
    },
    get worktreesTree() {
      return get().worktreesTree;
    },
    get testing() {
      return { ...get().testing, startup: times };
    },
  };
}
