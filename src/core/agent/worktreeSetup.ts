import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGit } from '../git/git';
import { UserError } from '../model/userError';
import { loadExeca } from '../git/loadExeca';

/**
 * Prepares a new worktree before its agent starts: copies the git-ignored files that
 * `.worktreeinclude` names (a `.env`, local config — things a checkout lacks), then runs
 * the optional setup command with its output in the run's log.
 */
export async function copyIncludedFiles(repoRoot: string, worktree: string, logPath?: string): Promise<string[]> {
  const includeFile = path.join(repoRoot, '.worktreeinclude');
  if (!fs.existsSync(includeFile)) return [];
  const list = async (args: string[]) =>
    new Set((await readGit(repoRoot, ['ls-files', '--others', '--ignored', '-z', ...args]).catch(() => '')).split('\0').filter(Boolean));
  const matching = await list([`--exclude-from=${includeFile}`]);
  const ignored = await list(['--exclude-standard']);
  const realWorktree = fs.realpathSync(worktree);
  const copied: string[] = [];
  const refused: string[] = [];
  for (const rel of matching) {
    if (!ignored.has(rel)) continue; // only what git ignores: tracked or plain untracked files are not ours to copy
    const from = path.join(repoRoot, rel);
    const to = path.join(worktree, rel);
    if (path.relative(worktree, to).startsWith('..') || !fs.lstatSync(from).isFile()) continue; // no symlinks, no escapes
    // A folder that is real in the main checkout may be a committed symlink in the new
    // worktree (or one the checkout made): every folder on the way must stay inside.
    const escape = makeFoldersInside(worktree, realWorktree, rel);
    if (escape) {
      refused.push(`not copied ${rel}: ${escape}`);
      continue;
    }
    try {
      fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL); // never through a link at `to` itself
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (!fs.lstatSync(to).isFile()) {
        refused.push(`not copied ${rel}: the worktree already has ${fs.lstatSync(to).isSymbolicLink() ? 'a symlink' : 'something else'} there`);
        continue;
      }
      // a file: copied before a crash
    }
    copied.push(rel);
  }
  if (refused.length && logPath) {
    fs.mkdirSync(path.dirname(logPath), { recursive: true, mode: 0o700 });
    fs.appendFileSync(logPath, refused.map((r) => `[orchestrator] ${new Date().toISOString()} .worktreeinclude: ${r}\n`).join(''), { mode: 0o600 });
  }
  return copied;
}

/**
 * Makes the folders of `rel`'s parent inside the worktree one at a time, following only
 * links that stay inside it. Returns why not, naming the folder, or null.
 */
function makeFoldersInside(worktree: string, realWorktree: string, rel: string): string | null {
  let at = worktree;
  for (const part of path.dirname(rel).split(/[\\/]/).filter((p) => p && p !== '.')) {
    at = path.join(at, part);
    const name = path.relative(worktree, at);
    const st = fs.lstatSync(at, { throwIfNoEntry: false });
    if (!st) {
      fs.mkdirSync(at);
      continue;
    }
    if (st.isDirectory()) continue; // a real folder (lstat: not a link)
    if (!st.isSymbolicLink()) return `${name} is a file in the worktree, not a folder`;
    let real: string;
    try {
      real = fs.realpathSync(at);
    } catch {
      return `${name} is a symlink to ${fs.readlinkSync(at)}, which does not exist`;
    }
    const inside = path.relative(realWorktree, real);
    if (inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) return `${name} is a symlink to ${real}, outside the worktree`;
    if (!fs.statSync(real).isDirectory()) return `${name} is a symlink to ${real}, not a folder`;
  }
  return null;
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
