import * as vscode from 'vscode';
import type { Services } from '../host/services';

export interface WaitWithProgress<T> {
  title: string;
  timeoutMs: number;
  /** Reads the current value (a run, an action) from the database. */
  read(): T;
  done(value: T): boolean;
  /** The progress message for a value; repeated messages are not re-reported. */
  message(value: T): string;
}

/**
 * Waits, with a cancellable progress notification, until `done` holds for what `read`
 * returns. It re-reads only when the ChangeWatcher reports a change of the runs or of the
 * leader (no polling), so it works whichever process leads. Resolves with the last value,
 * also on timeout or cancellation.
 */
export function waitWithProgress<T>(s: Services, o: WaitWithProgress<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: o.title, cancellable: true }, (progress, token) =>
    new Promise<T>((resolve) => {
      let lastMessage: string | undefined;
      const subscriptions: vscode.Disposable[] = [];
      const finish = () => {
        clearTimeout(timer);
        subscriptions.forEach((d) => d.dispose());
        resolve(o.read());
      };
      const check = () => {
        const value = o.read();
        if (o.done(value)) return finish();
        const message = o.message(value);
        if (message !== lastMessage) progress.report({ message: (lastMessage = message) });
      };
      const timer = setTimeout(finish, o.timeoutMs);
      subscriptions.push(s.host.onDidChangeRuns(check), s.host.onDidChangeLeader(check), token.onCancellationRequested(finish));
      check();
    }),
  );
}
