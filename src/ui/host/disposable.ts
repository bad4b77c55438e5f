import * as vscode from 'vscode';

/** Disposes every item, even when one of them throws: a half-torn-down window is worse than a logged error. */
export function disposeAll(disposables: Iterable<vscode.Disposable>): void {
  for (const d of disposables) {
    try {
      d.dispose();
    } catch (e) {
      console.error('[worktree-orchestrator] dispose failed', e);
    }
  }
}

/**
 * Owns its children and disposes them (in reverse order of registration, so that what was
 * built last — and may depend on the rest — goes first) when it is disposed itself.
 * After disposal, anything registered is disposed at once instead of leaking.
 */
export abstract class Disposable implements vscode.Disposable {
  private disposed = false;
  private children: vscode.Disposable[] = [];

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const children = this.children.reverse();
    this.children = [];
    disposeAll(children);
  }

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  protected register<T extends vscode.Disposable>(child: T): T {
    if (this.disposed) child.dispose();
    else this.children.push(child);
    return child;
  }
}

/** A node EventEmitter listener as a vscode.Disposable. */
export function onNodeEvent(emitter: NodeJS.EventEmitter, event: string, listener: (...args: never[]) => void): vscode.Disposable {
  emitter.on(event, listener as (...args: unknown[]) => void);
  return new vscode.Disposable(() => emitter.off(event, listener as (...args: unknown[]) => void));
}

/** A bag of disposables, disposed in reverse order of addition. */
export class DisposableScope extends Disposable {
  add<T extends vscode.Disposable>(child: T): T {
    return this.register(child);
  }
}
