import * as vscode from 'vscode';
import { UserError } from '../../core/model/userError';
import { Disposable } from './disposable';

export interface MessageAction {
  title: string;
  run(): unknown;
}

export interface ShownMessage {
  severity: 'info' | 'warning' | 'error';
  message: string;
  actions: string[];
  /** A modal dialog (see Notifier.ask), with its detail text. */
  modal?: boolean;
  detail?: string;
}

/** Answers modal dialogs instead of the user (extension-host tests): a button, or undefined for Cancel. */
export type ModalAnswerer = (shown: ShownMessage) => string | undefined;

/**
 * Every message the user sees goes through here, so it is also recorded in the output
 * channel and observable by the extension-host tests (onDidShow).
 *
 * Buttons are callbacks rather than awaited choices: a notification's promise only settles
 * when the user acts on it or it is hidden, and a command that awaited it would hang its
 * caller (a test, another command) for as long as the notification stays up.
 */
export class Notifier extends Disposable {
  private readonly shown = this.register(new vscode.EventEmitter<ShownMessage>());
  readonly onDidShow = this.shown.event;
  /** When set, modal dialogs are answered by it rather than shown (a modal blocks a test run). */
  modalAnswerer: ModalAnswerer | undefined;

  constructor(private readonly log: vscode.LogOutputChannel) {
    super();
  }

  info(message: string, ...actions: MessageAction[]): void {
    this.log.info(message);
    this.show('info', vscode.window.showInformationMessage, message, actions);
  }

  warn(message: string, ...actions: MessageAction[]): void {
    this.log.warn(message);
    this.show('warning', vscode.window.showWarningMessage, message, actions);
  }

  error(message: string, ...actions: MessageAction[]): void {
    this.log.error(message);
    this.show('error', vscode.window.showErrorMessage, message, actions);
  }

  /**
   * A modal question: resolves to the button chosen, or undefined (Cancel, Escape). Unlike
   * the notifications above it is awaited: the dialog blocks until the user answers.
   */
  async ask(severity: 'info' | 'warning', message: string, detail: string, ...buttons: string[]): Promise<string | undefined> {
    const shown: ShownMessage = { severity, message, actions: buttons, modal: true, detail };
    this.shown.fire(shown);
    if (this.modalAnswerer) return this.modalAnswerer(shown);
    const show = severity === 'info' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
    return show(message, { modal: true, detail }, ...buttons);
  }

  /** A caught error: a UserError's message is shown as is; anything else is a bug, logged with its stack. */
  failure(e: unknown, doing: string, ...actions: MessageAction[]): void {
    if (e instanceof UserError) return this.error(e.message, ...actions);
    this.log.error(`${doing} failed: ${(e as Error)?.stack ?? String(e)}`);
    this.error(`${doing} failed: ${(e as Error)?.message ?? String(e)}`, { title: 'Show Log', run: () => this.log.show() }, ...actions);
  }

  private show(
    severity: ShownMessage['severity'],
    showFn: (message: string, ...items: string[]) => Thenable<string | undefined>,
    message: string,
    actions: MessageAction[],
  ): void {
    this.shown.fire({ severity, message, actions: actions.map((a) => a.title) });
    void Promise.resolve(showFn(message, ...actions.map((a) => a.title))).then((choice) => actions.find((a) => a.title === choice)?.run());
  }
}
