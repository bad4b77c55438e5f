// A minimal stand-in for the `vscode` module, for the bench only: enough for
// dist/extension.js to load and activate, and for the tree providers to build their items,
// outside a real extension host. It times our code, not VS Code's: a real host adds its
// own costs (extension host start, rendering). Anything not modelled here is an inert stub.
'use strict';
const path = require('node:path');

const state = {
  /** Folder paths the fake window shows (set by the bench before activation). */
  folders: [],
  /** Settings returned by getConfiguration().get/inspect, keyed 'section.key'. */
  settings: {},
};

function stub(name) {
  const fn = function () {
    return stub(`${name}()`);
  };
  return new Proxy(fn, {
    get(target, prop) {
      if (prop === 'then') return undefined; // not a thenable
      if (prop === Symbol.iterator) return function* () {};
      if (prop === Symbol.toPrimitive) return () => `[stub ${name}]`;
      if (prop === 'dispose') return () => undefined;
      if (prop in target) return target[prop];
      return stub(`${name}.${String(prop)}`);
    },
    construct() {
      return stub(`new ${name}`);
    },
  });
}

class Disposable {
  constructor(fn) {
    this._fn = fn;
  }
  static from(...items) {
    return new Disposable(() => items.forEach((d) => d && d.dispose && d.dispose()));
  }
  dispose() {
    const fn = this._fn;
    this._fn = undefined;
    if (fn) fn();
  }
}

class EventEmitter {
  constructor() {
    this._listeners = new Set();
    this.event = (listener, thisArg, disposables) => {
      const bound = thisArg ? listener.bind(thisArg) : listener;
      this._listeners.add(bound);
      const d = new Disposable(() => this._listeners.delete(bound));
      if (Array.isArray(disposables)) disposables.push(d);
      return d;
    };
  }
  fire(value) {
    for (const l of [...this._listeners]) l(value);
  }
  dispose() {
    this._listeners.clear();
  }
}

const noEvent = () => new Disposable(() => undefined);

class Uri {
  constructor(scheme, authority, p, query, fragment) {
    this.scheme = scheme;
    this.authority = authority || '';
    this.path = p || '';
    this.query = query || '';
    this.fragment = fragment || '';
  }
  get fsPath() {
    return this.path;
  }
  static file(p) {
    return new Uri('file', '', path.resolve(p));
  }
  static parse(s) {
    const m = /^([a-z][\w+.-]*):(?:\/\/([^/]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/i.exec(s);
    return m ? new Uri(m[1], m[2], m[3], m[4], m[5]) : new Uri('file', '', s);
  }
  static from(c) {
    return new Uri(c.scheme, c.authority, c.path, c.query, c.fragment);
  }
  static joinPath(base, ...parts) {
    return new Uri(base.scheme, base.authority, path.posix.join(base.path, ...parts));
  }
  with(c) {
    return new Uri(c.scheme ?? this.scheme, c.authority ?? this.authority, c.path ?? this.path, c.query ?? this.query, c.fragment ?? this.fragment);
  }
  toString() {
    return `${this.scheme}://${this.authority}${this.path}${this.query ? `?${this.query}` : ''}`;
  }
}

class TreeItem {
  constructor(label, collapsibleState) {
    this.label = label;
    this.collapsibleState = collapsibleState ?? 0;
  }
}

class ThemeIcon {
  constructor(id, color) {
    this.id = id;
    this.color = color;
  }
}

class ThemeColor {
  constructor(id) {
    this.id = id;
  }
}

class MarkdownString {
  constructor(value, supportThemeIcons) {
    this.value = value ?? '';
    this.supportThemeIcons = supportThemeIcons;
  }
  appendMarkdown(s) {
    this.value += s;
    return this;
  }
  appendText(s) {
    this.value += s;
    return this;
  }
  appendCodeblock(s) {
    this.value += `\n\`\`\`\n${s}\n\`\`\`\n`;
    return this;
  }
}

class RelativePattern {
  constructor(base, pattern) {
    this.base = base;
    this.pattern = pattern;
  }
}

class Range {
  constructor(a, b, c, d) {
    this.start = { line: a, character: b };
    this.end = { line: c, character: d };
  }
}

const logChannel = () => {
  const lines = [];
  const log = (level) => (m) => lines.push(`[${level}] ${m}`);
  return {
    name: 'bench',
    lines,
    logLevel: 2,
    onDidChangeLogLevel: noEvent,
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    append: log('append'),
    appendLine: log('line'),
    replace: () => undefined,
    clear: () => undefined,
    show: () => undefined,
    hide: () => undefined,
    dispose: () => undefined,
  };
};

function configuration(section) {
  const key = (k) => (section ? `${section}.${k}` : k);
  return {
    get: (k, def) => (key(k) in state.settings ? state.settings[key(k)] : def),
    has: (k) => key(k) in state.settings,
    inspect: (k) => ({ key: key(k), defaultValue: undefined, globalValue: state.settings[key(k)] }),
    update: () => Promise.resolve(),
  };
}

const workspace = {
  get workspaceFolders() {
    return state.folders.length ? state.folders.map((p, index) => ({ uri: Uri.file(p), name: path.basename(p), index })) : undefined;
  },
  get name() {
    return state.folders.length ? path.basename(state.folders[0]) : undefined;
  },
  workspaceFile: undefined,
  isTrusted: true,
  getConfiguration: configuration,
  onDidChangeConfiguration: noEvent,
  onDidChangeWorkspaceFolders: noEvent,
  onDidGrantWorkspaceTrust: noEvent,
  onDidChangeTextDocument: noEvent,
  onDidCloseTextDocument: noEvent,
  onDidOpenTextDocument: noEvent,
  createFileSystemWatcher: () => ({ onDidCreate: noEvent, onDidChange: noEvent, onDidDelete: noEvent, dispose: () => undefined }),
  registerTextDocumentContentProvider: () => new Disposable(() => undefined),
  openTextDocument: () => Promise.resolve(stub('TextDocument')),
  updateWorkspaceFolders: () => true,
  textDocuments: [],
};

const window = {
  createOutputChannel: () => logChannel(),
  createTreeView: (_id, options) => ({
    ...options,
    visible: true,
    selection: [],
    onDidChangeVisibility: noEvent,
    onDidChangeSelection: noEvent,
    onDidExpandElement: noEvent,
    onDidCollapseElement: noEvent,
    reveal: () => Promise.resolve(),
    dispose: () => undefined,
  }),
  createStatusBarItem: () => ({ text: '', tooltip: undefined, command: undefined, name: undefined, show: () => undefined, hide: () => undefined, dispose: () => undefined }),
  showInformationMessage: () => Promise.resolve(undefined),
  showWarningMessage: () => Promise.resolve(undefined),
  showErrorMessage: () => Promise.resolve(undefined),
  showQuickPick: () => Promise.resolve(undefined),
  showInputBox: () => Promise.resolve(undefined),
  showTextDocument: () => Promise.resolve(stub('TextEditor')),
  withProgress: (_o, task) => Promise.resolve(task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: noEvent })),
  createQuickPick: () => stub('QuickPick'),
  visibleTextEditors: [],
  onDidChangeVisibleTextEditors: noEvent,
  onDidChangeActiveTextEditor: noEvent,
  registerTreeDataProvider: () => new Disposable(() => undefined),
  createTerminal: () => stub('Terminal'),
  onDidCloseTerminal: noEvent,
  onDidChangeWindowState: noEvent,
};

const commands = {
  registered: new Map(),
  registerCommand(id, fn) {
    commands.registered.set(id, fn);
    return new Disposable(() => commands.registered.delete(id));
  },
  executeCommand: () => Promise.resolve(undefined),
  getCommands: () => Promise.resolve([...commands.registered.keys()]),
};

const concrete = {
  __bench: state,
  Disposable,
  EventEmitter,
  Uri,
  TreeItem,
  ThemeIcon,
  ThemeColor,
  MarkdownString,
  RelativePattern,
  Range,
  TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  QuickPickItemKind: { Separator: -1, Default: 0 },
  TextEditorRevealType: { Default: 0, InCenter: 1, InCenterIfOutsideViewport: 2, AtTop: 3 },
  ViewColumn: { Active: -1, Beside: -2, One: 1 },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  TerminalExitReason: { Unknown: 0, Shutdown: 1, Process: 2, User: 3, Extension: 4 },
  workspace,
  window,
  commands,
  env: { appName: 'bench (fake vscode)', machineId: 'bench', sessionId: 'bench', uriScheme: 'vscode', remoteName: undefined },
  languages: { setTextDocumentLanguage: (d) => Promise.resolve(d) },
  version: '1.139.0',
};

// Whatever is not modelled answers with an inert stub instead of throwing.
module.exports = new Proxy(concrete, {
  get(target, prop) {
    if (prop in target) return target[prop];
    if (typeof prop === 'symbol' || prop === '__esModule' || prop === 'default') return undefined;
    return stub(`vscode.${prop}`);
  },
});

/** Makes `require('vscode')` return this module. Returns the undo. */
concrete.__install = function install() {
  const Module = require('node:module');
  const original = Module._load;
  const fake = module.exports;
  Module._load = function (request, parent, isMain) {
    if (request === 'vscode') return fake;
    return original.call(this, request, parent, isMain);
  };
  return () => {
    Module._load = original;
  };
};
