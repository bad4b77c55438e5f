import * as vscode from 'vscode';

export const UNTRUSTED_SPAWN_MESSAGE =
  'This workspace is not trusted, so Worktree Orchestrator will not spawn agents from it: an agent runs code from the repository. Trust the workspace to spawn.';

/** Why spawning is refused, or undefined when it is allowed. Pure, so tests can check the guard itself. */
export function spawnRefusal(trusted: boolean): string | undefined {
  return trusted ? undefined : UNTRUSTED_SPAWN_MESSAGE;
}

/**
 * Workspace trust as the spawn flow sees it. `override` exists for the extension-host
 * tests: the code-server harness runs with workspace trust disabled (every workspace is
 * trusted), so the untrusted path can only be reached by overriding it.
 */
export class WorkspaceTrust {
  override: boolean | undefined;

  get trusted(): boolean {
    return this.override ?? vscode.workspace.isTrusted;
  }
}
