import * as fs from 'node:fs';
import * as path from 'node:path';
import { AgentChoice, agentTemplate } from './agentPresets';

/**
 * Why the configured agent command cannot run here, or undefined when it looks runnable.
 * Checked before a spawn is requested so that a typo in the setting gets a clear message
 * with "Open Settings" instead of a run that fails in its log a moment later.
 * Given the spawn settings, it checks the chosen preset's program (or the custom command).
 */
export function agentCommandProblem(choice: readonly string[] | AgentChoice | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let command: readonly string[] | undefined;
  if (choice === undefined || Array.isArray(choice)) command = choice as readonly string[] | undefined;
  else {
    try {
      command = agentTemplate(choice as AgentChoice).template;
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (!command || command.length === 0) {
    return 'No code_developer command is configured. Choose an agent in worktreeOrchestrator.codeDeveloper.agent (claude, codex, gemini or aider), or set worktreeOrchestrator.codeDeveloper.command (user settings) to an argument array such as ["my-agent", "${prompt}"].';
  }
  const program = command[0];
  if (!program.trim()) return 'The code_developer command starts with an empty program name.';
  if (program.includes('${')) return `The program of the code_developer command ("${program}") must not contain a placeholder.`;
  if (path.isAbsolute(program)) {
    return isExecutable(program) ? undefined : `The code_developer program ${program} does not exist or is not executable.`;
  }
  // Relative paths are resolved in the run's worktree, which does not exist yet.
  if (program.includes('/') || program.includes('\\')) return undefined;
  return onPath(program, env) ? undefined : `The code_developer program "${program}" was not found on PATH (${env.PATH ?? 'PATH is empty'}). Use an absolute path in worktreeOrchestrator.codeDeveloper.command.`;
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  return dirs.some((dir) => exts.some((ext) => isExecutable(path.join(dir, program + ext))));
}

function isExecutable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
