import * as vscode from 'vscode';
import type { Services } from '../host/services';

/**
 * Registers a command whose failures reach the user: a UserError's message as is, anything
 * else as "… failed" with the stack in the output channel. The handler's result is returned
 * to the caller (tests read the spawned Run this way).
 */
export function registerCommand(s: Services, id: string, title: string, handler: (...args: unknown[]) => unknown): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try {
      return await handler(...args);
    } catch (e) {
      s.notifier.failure(e, title);
      return undefined;
    }
  });
}
