import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { Disposable } from '../host/disposable';
import { OrchestratorHost } from '../host/orchestratorHost';
import { STATUS_LABEL } from '../views/runPresentation';
import { isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

export const LOG_SCHEME = 'worktree-orchestrator-log';
/** Beyond this, only the tail is shown: an editor is no place for a 100 MB log. */
const MAX_SHOWN_BYTES = 4 * 1024 * 1024;
/** stat() of one file while its document is open: cheap, and works for logs written by any process. */
const FOLLOW_INTERVAL_MS = 500;

/**
 * Agent logs as read-only documents that follow the file live. The log is written by the
 * agent's supervisor, whichever window (or the CLI) started it, so this reads the file the
 * run's row names and watches it for as long as the document is open. An editor scrolled to
 * the end stays at the end as lines arrive.
 */
export class AgentLogProvider extends Disposable implements vscode.TextDocumentContentProvider {
  private readonly changed = this.register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this.changed.event;
  private readonly followed = new Map<string, { file: string; stop: () => void }>();
  private readonly atEnd = new Set<string>();

  constructor(private readonly host: OrchestratorHost) {
    super();
    this.register(vscode.workspace.registerTextDocumentContentProvider(LOG_SCHEME, this));
    this.register(vscode.workspace.onDidCloseTextDocument((doc) => this.unfollow(doc.uri)));
    this.register(vscode.workspace.onDidChangeTextDocument((e) => {
      const key = e.document.uri.toString();
      if (e.document.uri.scheme !== LOG_SCHEME || !this.atEnd.has(key)) return;
      for (const editor of vscode.window.visibleTextEditors) {
        if (editor.document === e.document) revealEnd(editor);
      }
    }));
    this.register({ dispose: () => [...this.followed.keys()].forEach((k) => this.unfollow(vscode.Uri.parse(k))) });
  }

  static uriFor(run: Run): vscode.Uri {
    // The path is what the editor tab shows; the query says which run.
    return vscode.Uri.from({ scheme: LOG_SCHEME, path: `/${run.priority} #${run.attempt}.log`, query: run.id });
  }

  async show(run: Run): Promise<vscode.TextEditor> {
    const doc = await vscode.workspace.openTextDocument(AgentLogProvider.uriFor(run));
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    if (doc.languageId !== 'log') await vscode.languages.setTextDocumentLanguage(doc, 'log').then(undefined, () => undefined);
    revealEnd(editor);
    return editor;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const run = this.host.store.getRun(uri.query);
    if (!run) return `No run ${uri.query} in the orchestrator database.\n`;
    this.follow(uri, run.logPath);
    this.rememberScroll(uri);
    let text: string;
    try {
      text = readTail(run.logPath);
    } catch {
      text = '';
    }
    if (!text) {
      return `(no output yet — ${run.priority} #${run.attempt} is ${STATUS_LABEL[run.status]}${isActive(run.status) ? '; this document follows the log as it grows' : ''})\nLog file: ${run.logPath}\n`;
    }
    return text;
  }

  private follow(uri: vscode.Uri, file: string): void {
    const key = uri.toString();
    if (this.followed.has(key)) return;
    const listener = (curr: fs.Stats, prev: fs.Stats) => {
      if (curr.size !== prev.size || curr.mtimeMs !== prev.mtimeMs) this.changed.fire(uri);
    };
    fs.watchFile(file, { interval: FOLLOW_INTERVAL_MS, persistent: false }, listener);
    this.followed.set(key, { file, stop: () => fs.unwatchFile(file, listener) });
  }

  private unfollow(uri: vscode.Uri): void {
    const key = uri.toString();
    this.followed.get(key)?.stop();
    this.followed.delete(key);
    this.atEnd.delete(key);
  }

  /** Before new content arrives: which open editors of this log are scrolled to its end. */
  private rememberScroll(uri: vscode.Uri): void {
    const key = uri.toString();
    const editors = vscode.window.visibleTextEditors.filter((e) => e.document.uri.toString() === key);
    if (!editors.length) {
      this.atEnd.add(key); // not shown yet: start at the end
      return;
    }
    const lines = editors[0].document.lineCount;
    if (editors.some((e) => e.visibleRanges.some((r) => r.end.line >= lines - 2))) this.atEnd.add(key);
    else this.atEnd.delete(key);
  }
}

function revealEnd(editor: vscode.TextEditor): void {
  const last = editor.document.lineAt(Math.max(0, editor.document.lineCount - 1)).range.end;
  editor.revealRange(new vscode.Range(last, last), vscode.TextEditorRevealType.Default);
}

function readTail(file: string): string {
  const size = fs.statSync(file).size;
  if (size <= MAX_SHOWN_BYTES) return fs.readFileSync(file, 'utf8');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_SHOWN_BYTES);
    fs.readSync(fd, buf, 0, buf.length, size - buf.length);
    const text = buf.toString('utf8');
    return `[… ${size - buf.length} earlier bytes not shown; full log: ${file}]\n${text.slice(text.indexOf('\n') + 1)}`;
  } finally {
    fs.closeSync(fd);
  }
}
