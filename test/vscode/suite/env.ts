// What the runner (test/vscode/run-code-server.mjs) hands to the tests inside the host.
function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through test/vscode/run-code-server.mjs`);
  return v;
}

export const EXTENSION_ID = 'worktree-orchestrator.worktree-orchestrator';

/** The temp git repository (with docs/roadmap/ROADMAP.md) the window was opened on. */
export const testWorkspace = (): string => required('WTO_TEST_WORKSPACE');

/** code-server's --user-data-dir. */
export const userDataDir = (): string => required('WTO_TEST_USER_DATA_DIR');

/**
 * Where machine-scoped settings (e.g. worktreeOrchestrator.codeDeveloper.command) must be
 * written: <user-data-dir>/Machine/settings.json under code-server, whose windows are remote
 * and ignore machine-scoped values in User/settings.json; User/settings.json in desktop VS Code.
 */
export const machineSettingsFile = (): string => required('WTO_TEST_MACHINE_SETTINGS');
