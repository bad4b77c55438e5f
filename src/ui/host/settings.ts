import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { agentLogMaxBytes as cappedLogBytes, DEFAULT_AGENT_LOG_MAX_MIB } from '../../core/agent/cappedLog';
import type { SpawnSettings } from '../../core/requests';
import { AttentionTimes, DEFAULT_ATTENTION } from '../../core/agent/runWatch';

export const SECTION = 'worktreeOrchestrator';
export const AGENT_COMMAND_SETTING = `${SECTION}.codeDeveloper.command`;

/**
 * The value a user (or the remote machine) set, or the default — never a workspace or
 * folder value. The settings that can start processes or move the database are declared
 * `machine`-scoped, so VS Code already ignores workspace values for them; reading only
 * these two layers keeps a cloned repository from choosing what runs even if the scope
 * were ever changed.
 */
function userValue<T>(key: string): T | undefined {
  const inspected = vscode.workspace.getConfiguration(SECTION).inspect<T>(key);
  return inspected?.globalValue ?? inspected?.defaultValue;
}

/** The code_developer command template (argument array), or undefined when not set. */
export function agentCommand(): string[] | undefined {
  const value = userValue<unknown>('codeDeveloper.command');
  if (!Array.isArray(value) || value.length === 0) return undefined;
  return value.map(String);
}

/** Ports leased to each run (WTO_PORT, ${port}); 0 is none. */
export function portsPerRun(): number {
  const n = Number(userValue<number>('portsPerRun') ?? 10);
  return Number.isInteger(n) && n >= 0 && n <= 1000 ? n : 10;
}

/** The agent preset (claude, codex, gemini, aider, custom), or undefined: custom. */
export function agentName(): string | undefined {
  const value = userValue<unknown>('codeDeveloper.agent');
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/** The `${prompt}` template, or undefined for the default one. */
export function promptTemplate(): string | undefined {
  const value = userValue<unknown>('codeDeveloper.prompt');
  return typeof value === 'string' && value.trim() ? value : undefined;
}

/** The command run in each new worktree before the agent (argument array), or undefined. */
export function setupCommand(): string[] | undefined {
  const value = userValue<unknown>('setupCommand');
  if (!Array.isArray(value) || value.length === 0) return undefined;
  return value.map(String);
}

/** The configured state directory, or undefined for the extension's global storage. */
export function configuredStateDir(): string | undefined {
  const value = userValue<string>('stateDir');
  if (typeof value !== 'string' || !value.trim()) return undefined;
  // '~' and relative paths mean the home folder: the extension host's cwd is no place to
  // look for them, and the CLI must be able to point --state-dir at the same folder.
  const raw = value.trim().replace(/^~(?=$|[\\/])/, os.homedir());
  return path.resolve(os.homedir(), raw);
}

export function maxParallel(): number {
  const n = Number(userValue<number>('maxParallel') ?? 1);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Worktrees the leader keeps checked out ahead of time so spawns start faster (0: off). */
export function warmPoolSize(): number {
  const n = Number(userValue<number>('warmPoolSize') ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export function stopGraceMs(): number {
  const s = Number(userValue<number>('stopGraceSeconds') ?? 10);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 10_000;
}

/** agent.log's cap in bytes (worktreeOrchestrator.agentLogMaxMiB; 0: none); a bad value means the default. */
export function agentLogMaxBytes(): number {
  try {
    return cappedLogBytes(userValue<number>('agentLogMaxMiB') ?? DEFAULT_AGENT_LOG_MAX_MIB);
  } catch {
    return cappedLogBytes(DEFAULT_AGENT_LOG_MAX_MIB);
  }
}

/** needsInputSeconds and stallSeconds (a bad value means its default). */
export function attentionTimes(): AttentionTimes {
  const positive = (key: keyof AttentionTimes) => {
    const n = Number(userValue<number>(key) ?? DEFAULT_ATTENTION[key]);
    return Number.isFinite(n) && n > 0 ? n : DEFAULT_ATTENTION[key];
  };
  return { needsInputSeconds: positive('needsInputSeconds'), stallSeconds: positive('stallSeconds') };
}

/** Whether what an agent leaves uncommitted is committed on its run's branch when it exits. */
export function commitOnExit(): boolean {
  return userValue<boolean>('commitOnExit') !== false;
}

/** Whether a spawned run's worktree is added to the window that asked for it. */
export function openWorktreeAsWorkspaceFolder(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>('openWorktreeAsWorkspaceFolder', true);
}

/**
 * What a spawn request carries. The repository-shaped settings (base branch, worktree
 * root, roadmap path) may come from the workspace — they are listed as restricted
 * configurations, and core confines the paths they name — but the commands never do.
 */
export function spawnSettings(scope?: vscode.Uri): SpawnSettings {
  const text = (key: string) => repositorySetting(key, scope);
  return {
    agentCommand: agentCommand(),
    agent: agentName(),
    prompt: promptTemplate(),
    portsPerRun: portsPerRun(),
    setupCommand: setupCommand(),
    baseBranch: text('baseBranch'),
    worktreeRoot: text('worktreeRoot'),
    roadmapPath: text('roadmapPath'),
  };
}

/** A repository-shaped setting (trimmed; undefined when empty), for the folder `scope` when given. */
function repositorySetting(key: string, scope?: vscode.Uri): string | undefined {
  const v = vscode.workspace.getConfiguration(SECTION, scope).get<string>(key);
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

/** The configured base branch (undefined: the branch checked out in the main checkout). */
export const baseBranch = (scope?: vscode.Uri): string | undefined => repositorySetting('baseBranch', scope);

/** The configured roadmap path (undefined: docs/roadmap/ROADMAP.md, else ROADMAP.md). */
export const roadmapPath = (scope?: vscode.Uri): string | undefined => repositorySetting('roadmapPath', scope);

export function openSettings(setting: string = AGENT_COMMAND_SETTING): Thenable<unknown> {
  return vscode.commands.executeCommand('workbench.action.openSettings', setting);
}

/** The state folder is read once per window: a change needs a reload, and the user is told so. */
export function onRestartSettingChanged(notifier: { info(message: string, ...actions: Array<{ title: string; run(): unknown }>): void }): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (!e.affectsConfiguration(`${SECTION}.stateDir`)) return;
    notifier.info('The orchestrator state folder changed: reload the window to use it.', {
      title: 'Reload Window',
      run: () => vscode.commands.executeCommand('workbench.action.reloadWindow'),
    });
  });
}
