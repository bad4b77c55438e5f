import type * as vscode from 'vscode';
import type { Store } from '../../core/db/store';
import type { AgentsTreeProvider } from '../views/agentsTreeProvider';
import type { ModalAnswerer, ShownMessage } from './notifier';
import type { Services } from './services';
import type { WindowRepository } from './windowRepositories';
import type { WorkspaceOpener } from './workspaceFolders';
import type { WorktreesTreeProvider } from '../views/worktreesTreeProvider';

/**
 * What `activate` returns: enough for extension-host tests (and other extensions) to check
 * the database, the trees and the status bar without scraping the workbench DOM.
 */
export interface ExtensionApi {
  store: Store;
  stateDir: string;
  isLeader(): boolean;
  statusBarText(): string;
  agentsTree: AgentsTreeProvider;
  worktreesTree: WorktreesTreeProvider;
  testing: {
    /** Every message shown to the user, as it is shown. */
    onDidShowMessage: vscode.Event<ShownMessage>;
    /**
     * Replaces how a written .code-workspace file is opened (undefined: the real
     * `vscode.openFolder`). Opening it reloads a single-folder window, which would end the
     * test run that asked.
     */
    setWorkspaceOpener(opener: WorkspaceOpener | undefined): void;
    /**
     * Answers modal dialogs (they are still reported through onDidShowMessage, with
     * `modal: true` and their detail) instead of showing them; undefined: show them again.
     */
    answerModals(answerer: ModalAnswerer | undefined): void;
    /** Pretends the workspace is (un)trusted; code-server's harness runs with trust disabled. */
    setTrustedOverride(trusted: boolean | undefined): void;
    repositories(): Promise<readonly WindowRepository[]>;
    /**
     * Starts another run-end notifier over the same global state, as the extension host of
     * a reloaded window would (fresh memory, same profile): it must not repeat what was shown.
     */
    startRunEndNotices(): vscode.Disposable;
    /** What activation deferred, and how long it took when it ran: for the activation bench. */
    startup?: StartupTimes;
  };
}

export interface StartupTimes {
  /** Loading the body (dist/extensionMain.js), opening the database, building the views and commands: right after activate() returned (ms). */
  bodyMs?: number;
  /** Then, on a later turn: joining the election, the first status and run-end reads, starting the folder scan (ms). */
  startMs?: number;
}

export function extensionApi(s: Services): ExtensionApi {
  const realOpener = s.folders.opener;
  return {
    // A getter: the database opens after activate() returns, or here on first use.
    get store() {
      return s.host.store;
    },
    stateDir: s.host.stateDir,
    isLeader: () => s.host.isLeader,
    statusBarText: () => s.statusBar.text,
    agentsTree: s.agentsTree,
    worktreesTree: s.worktreesTree,
    testing: {
      onDidShowMessage: s.notifier.onDidShow,
      setWorkspaceOpener: (opener) => {
        s.folders.opener = opener ?? realOpener;
      },
      answerModals: (answerer) => {
        s.notifier.modalAnswerer = answerer;
      },
      setTrustedOverride: (trusted) => {
        s.trust.override = trusted;
      },
      repositories: () => s.repos.ready(),
      startRunEndNotices: () => s.startRunEndNotices(),
    },
  };
}
