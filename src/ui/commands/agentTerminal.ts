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
 * Open Agent Terminal (issue 16): a VS Code terminal bridged to the run's attach socket, held by
 * the agent's supervisor. Keys go to the agent, the terminal's size follows the panel, closing
 * the terminal only detaches, several windows may attach at once. After a reload (or a
 * restart of the extension host), the terminals that were open in this window come back.
 */
export class AgentTerminals implements vscode.Disposable {
  private readonly open = new Map<string, vscode.Terminal>();
  private disposing = false;
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly s: Services,
    private readonly memento: vscode.Memento,
  ) {
    this.subscription = vscode.window.onDidCloseTerminal((t) => {
      for (const [runId, terminal] of this.open) if (terminal === t) this.forget(runId);
    });
  }

  /** Reopens the terminals of this window's last session, for the runs still active. */
  async restore(): Promise<void> {
    for (const runId of this.memento.get<string[]>(OPEN_TERMINALS_KEY, [])) {
      const run = this.s.host.store.getRun(runId);
      if (run && isActive(run.status)) await this.show(run, { preserveFocus: true }).catch(() => this.forget(runId));
      else this.forget(runId);
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
    void this.memento.update(OPEN_TERMINALS_KEY, [...this.open.keys()]);
    terminal.show(o.preserveFocus);
    return terminal;
  }

  private forget(runId: string): void {
    this.open.delete(runId);
    // On shutdown (a reload) the list stays: those terminals are to come back.
    if (!this.disposing) void this.memento.update(OPEN_TERMINALS_KEY, [...this.open.keys()]);
  }

  dispose(): void {
    this.disposing = true;
    this.subscription.dispose();
    for (const t of this.open.values()) t.dispose();
    this.open.clear();
  }
}

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
