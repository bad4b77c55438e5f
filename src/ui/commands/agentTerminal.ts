import * as vscode from 'vscode';
import { AttachConnection, describeExit } from '../../core/agent/attachConnection';
import { UserError } from '../../core/model/userError';
import { resolveRun } from './commandArgs';
import { registerCommand } from './registerCommand';
import type { Services } from '../host/services';
import { LIVE_STATUSES, isActive } from '../../core/model/runStatus';
import { Run } from '../../core/model/run';

/** workspaceState key: the runs whose terminals were open here, reopened after a reload. */
const OPEN_TERMINALS_KEY = 'worktreeOrchestrator.agentTerminals';
/**
 * globalState key: the same lists by the window's first folder. A single-folder window that
 * gets a worktree reopens as a new multi-root workspace (workspaceFolders.ts) whose first
 * folder is the old folder, and whose workspaceState is empty: it takes the list from here.
 */
const BY_FIRST_FOLDER_KEY = 'worktreeOrchestrator.agentTerminalsByFolder';

/**
 * Open Agent Terminal (issue 16): a VS Code terminal bridged to the run's attach socket, held by
 * the agent's supervisor. Keys go to the agent, the terminal's size follows the panel, closing
 * the terminal only detaches, several windows may attach at once. After a reload (or a
 * restart of the extension host), the terminals that were open in this window come back.
 */
export class AgentTerminals implements vscode.Disposable {
  private readonly open = new Map<string, vscode.Terminal>();
  private disposing = false;
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly s: Services,
    private readonly memento: vscode.Memento,
    private readonly global?: vscode.Memento,
  ) {
    this.subscriptions = [
      vscode.window.onDidCloseTerminal((t) => {
        // A window that reloads, closes or opens another folder or workspace closes its terminals
        // first (reason Shutdown): those are to come back; only the user's closes are forgotten.
        if (t.exitStatus?.reason === vscode.TerminalExitReason.Shutdown) return;
        for (const [runId, terminal] of this.open) if (terminal === t) this.forget(runId);
      }),
      // Another window on the same folder that closed the same run's terminal took it off the
      // shared list; this one still has it: back on the list when the user comes here.
      vscode.window.onDidChangeWindowState((w) => {
        if (w.focused) for (const runId of this.open.keys()) this.remember(runId, true);
      }),
    ];
  }

  /** Reopens the terminals of this window's last session, for the runs still active. */
  async restore(): Promise<void> {
    // Never written in this workspace: a window that was just turned into a workspace, maybe.
    const own = this.memento.get<string[] | undefined>(OPEN_TERMINALS_KEY, undefined);
    const folder = firstFolder();
    const carried = folder ? this.global?.get<Record<string, string[]>>(BY_FIRST_FOLDER_KEY, {})[folder] : undefined;
    for (const runId of own ?? carried ?? []) {
      const run = this.s.host.store.getRun(runId);
      if (!run || !isActive(run.status)) {
        this.forget(runId);
        continue;
      }
      await this.show(run, { preserveFocus: true }).then(
        () => this.s.log.info(`Reopened the agent terminal of ${run.priority} #${run.attempt} (run ${run.id}), open here before the reload${own ? '' : ' (in the single-folder window this workspace was made from)'}.`),
        (e: unknown) => {
          this.s.log.warn(`Could not reopen the agent terminal of ${run.priority} #${run.attempt} (run ${run.id}): ${(e as Error).message}`);
          this.forget(runId);
        },
      );
    }
  }

  async show(run: Run, o: { preserveFocus?: boolean } = {}): Promise<vscode.Terminal> {
    const existing = this.open.get(run.id);
    if (existing) {
      existing.show(o.preserveFocus);
      return existing;
    }
    // Connected before the terminal exists: a run without a terminal gets a message, not an empty panel.
    const connection = await AttachConnection.open(this.s.host.stateDir, run);
    const terminal = vscode.window.createTerminal({ name: `${run.priority} #${run.attempt}`, pty: bridge(connection), isTransient: true });
    this.open.set(run.id, terminal);
    this.remember(run.id, true);
    terminal.show(o.preserveFocus);
    return terminal;
  }

  private forget(runId: string): void {
    this.open.delete(runId);
    // On shutdown (a reload) the list stays: those terminals are to come back.
    if (!this.disposing) this.remember(runId, false);
  }

  /**
   * Adds or removes one run in the lists rather than writing this window's set: windows on
   * the same folder (browser tabs of code-server) share its workspaceState, and one window's
   * set would drop the other's terminals.
   */
  private remember(runId: string, open: boolean): void {
    const update = (ids: readonly string[]) => (open ? [...ids.filter((id) => id !== runId), runId] : ids.filter((id) => id !== runId));
    const mine = this.memento.get<string[]>(OPEN_TERMINALS_KEY, []);
    if (mine.includes(runId) !== open) void this.memento.update(OPEN_TERMINALS_KEY, update(mine));
    const folder = firstFolder();
    if (!folder || !this.global) return;
    const all = { ...this.global.get<Record<string, string[]>>(BY_FIRST_FOLDER_KEY, {}) };
    if ((all[folder] ?? []).includes(runId) === open) return; // as it should be: no write
    const ids = update(all[folder] ?? []);
    if (ids.length) all[folder] = ids;
    else delete all[folder];
    void this.global.update(BY_FIRST_FOLDER_KEY, all);
  }

  dispose(): void {
    this.disposing = true;
    for (const d of this.subscriptions) d.dispose();
    for (const t of this.open.values()) t.dispose();
    this.open.clear();
  }
}

const firstFolder = (): string | undefined => vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;

/** The Pseudoterminal: output and exit from the connection, keys and size to it; close detaches. */
function bridge(c: AttachConnection): vscode.Pseudoterminal {
  const write = new vscode.EventEmitter<string>();
  const close = new vscode.EventEmitter<void>();
  let pending: string[] | null = [];
  c.on('output', (text: string) => (pending ? pending.push(text) : write.fire(text)));
  c.on('exit', (exit) => write.fire(`\r\n\x1b[2m[the agent of ${c.run.priority} ended: ${describeExit(exit)}]\x1b[0m\r\n`));
  c.on('close', () => {
    if (!c.exit) write.fire(`\r\n\x1b[2m[disconnected from ${c.run.priority}'s terminal]\x1b[0m\r\n`);
  });
  return {
    onDidWrite: write.event,
    onDidClose: close.event,
    open: (size) => {
      // What came before VS Code opened the terminal is written now, in order.
      for (const text of pending ?? []) write.fire(text);
      pending = null;
      if (size) c.resize(size.columns, size.rows);
    },
    handleInput: (data) => c.input(data),
    setDimensions: (size) => c.resize(size.columns, size.rows),
    close: () => {
      c.detach();
      write.dispose();
      close.dispose();
    },
  };
}

export function registerAgentTerminalCommands(s: Services, terminals: AgentTerminals): vscode.Disposable[] {
  return [
    registerCommand(s, 'worktreeOrchestrator.openAgentTerminal', 'Opening the agent terminal', async (arg) => {
      const run = await resolveRun(s, arg, { statuses: LIVE_STATUSES, placeHolder: 'Open the terminal of which agent?' });
      if (!run) return undefined;
      try {
        return await terminals.show(run);
      } catch (e) {
        // An agent without a terminal (pipes) or no longer running: its log is what there is.
        if (e instanceof UserError && (e.code === 'NO_TERMINAL' || e.code === 'NOT_ACTIVE')) {
          s.notifier.info(e.message);
          await s.logs.show(run);
          return undefined;
        }
        throw e;
      }
    }),
  ];
}
