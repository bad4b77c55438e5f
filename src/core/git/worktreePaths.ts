import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../model/userError';

/**
 * The folder all of a repository's run worktrees live in: the configured one (absolute,
 * or relative to the repository), else `<repo>.worktrees` beside the repository. It must
 * be reachable without symlinks or '..', so a path recorded for a run cannot point
 * anywhere else (invariant 2).
 */
export function resolveWorktreeRoot(repoRoot: string, configured?: string): string {
  const raw = configured?.trim() ? configured.trim() : `${repoRoot}.worktrees`;
  if (raw.split(/[\\/]/).includes('..')) throw new UserError(`The worktree root "${raw}" contains '..': give a plain path.`, 'BAD_WORKTREE_ROOT');
  const root = path.resolve(repoRoot, raw);
  const fromRoot = path.relative(root, repoRoot);
  const outside = fromRoot === '..' || fromRoot.startsWith(`..${path.sep}`) || path.isAbsolute(fromRoot);
  if (fromRoot === '' || !outside) {
    // (relative(), not startsWith(root + sep): with root '/' that would be '//'.)
    throw new UserError(`The worktree root ${root} contains the repository itself; choose a separate folder.`, 'BAD_WORKTREE_ROOT');
  }
  // The deepest existing ancestor must be reached without a symlink.
  let probe = root;
  while (!fs.existsSync(probe)) probe = path.dirname(probe);
  const real = fs.realpathSync(probe);
  if (real !== probe) throw new UserError(`The worktree root ${root} goes through a symlink (${probe} -> ${real}); use the real path.`, 'BAD_WORKTREE_ROOT');
  return root;
}

/** A run's worktree: always a direct child of the root. */
export function worktreePath(root: string, dirName: string): string {
  const p = path.join(root, dirName);
  if (!dirName || dirName === '.' || dirName === '..' || /[\\/]/.test(dirName) || path.dirname(p) !== root) {
    throw new UserError(`"${dirName}" would leave the worktree root.`, 'BAD_WORKTREE_PATH');
  }
  return p;
}

/**
 * Checked right before git makes a run's worktree (the request may be old: a queue, the
 * loop): the root is still reached without symlinks, and the path itself is not a symlink
 * or a file — git follows a planted link and registers the worktree wherever it points.
 * Makes the root if missing. Says whether the path is absent, an empty folder, or a
 * folder with something in it (the caller decides whether that is its own half-made add).
 */
export function prepareWorktreeTarget(worktree: string): 'absent' | 'empty' | 'non-empty' {
  const root = path.dirname(worktree);
  let probe = root;
  while (!fs.lstatSync(probe, { throwIfNoEntry: false })) probe = path.dirname(probe);
  let real: string;
  try {
    real = fs.realpathSync(probe);
  } catch {
    real = `${fs.readlinkSync(probe)}, which does not exist`;
  }
  if (real !== probe) throw new UserError(`The worktree root ${root} goes through a symlink (${probe} -> ${real}); nothing was created.`, 'BAD_WORKTREE_ROOT');
  fs.mkdirSync(root, { recursive: true });
  const there = fs.lstatSync(worktree, { throwIfNoEntry: false });
  if (!there) return 'absent';
  if (there.isSymbolicLink()) {
    throw new UserError(`${worktree} is a symlink (to ${fs.readlinkSync(worktree)}); a run's worktree must be a real folder inside ${root}. Remove the link; nothing was created.`, 'PATH_SYMLINK');
  }
  if (!there.isDirectory()) throw new UserError(`${worktree} already exists and is not a folder; move it away or remove it.`, 'PATH_EXISTS');
  return fs.readdirSync(worktree).length ? 'non-empty' : 'empty';
}
