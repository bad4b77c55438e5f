import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './userError';
import { loadExeca } from './loadExeca';

/**
 * Prepares a new worktree before its agent starts: copies the git-ignored files that
 * `.worktreeinclude` names (a `.env`, local config — things a checkout lacks), then runs
 * the optional setup command with its output in the run's log.
 */
export async function copyIncludedFiles(repoRoot: string, worktree: string): Promise<string[]> {
  const includeFile = path.join(repoRoot, '.worktreeinclude');
  if (!fs.existsSync(includeFile)) return [];
  const execa = await loadExeca();
  const list = async (args: string[]) =>
    new Set((await execa('git', ['ls-files', '--others', '--ignored', '-z', ...args], { cwd: repoRoot, reject: false })).stdout.split('\0').filter(Boolean));
  const matching = await list([`--exclude-from=${includeFile}`]);
  const ignored = await list(['--exclude-standard']);
  const copied: string[] = [];
  for (const rel of matching) {
    if (!ignored.has(rel)) continue; // only what git ignores: tracked or plain untracked files are not ours to copy
    const from = path.join(repoRoot, rel);
    const to = path.join(worktree, rel);
    if (path.relative(worktree, to).startsWith('..') || !fs.lstatSync(from).isFile()) continue; // no symlinks, no escapes
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
    copied.push(rel);
  }
  return copied;
}

export async function runSetupCommand(argv: string[], worktree: string, logPath: string, env: Record<string, string>): Promise<void> {
  fs.mkdirSync(path.dirname(logPath), { recursive: true, mode: 0o700 });
  const execa = await loadExeca();
  const log = fs.openSync(logPath, 'a', 0o600);
  try {
    fs.writeSync(log, `[orchestrator] ${new Date().toISOString()} setup: ${JSON.stringify(argv)}\n`);
    const r = await execa(argv[0], argv.slice(1), { cwd: worktree, stdin: 'ignore', stdout: log as 1, stderr: log as 2, reject: false, env, timeout: 15 * 60_000 });
    if (r.exitCode !== 0) {
      throw new UserError(`The setup command ${JSON.stringify(argv[0])} ${r.exitCode === undefined ? `could not run (${r.shortMessage})` : `failed with exit code ${r.exitCode}`}; see the run's log.`, 'SETUP_FAILED');
    }
  } finally {
    fs.closeSync(log);
  }
}
