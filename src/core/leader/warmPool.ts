import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitRepo, readGit, samePath, WorktreeInfo } from '../git/git';
import type { Acts } from './leaderLease';
import { Store } from '../db/store';
import { prepareWorktreeTarget } from '../git/worktreePaths';

/**
 * Worktrees checked out at the base ahead of time, so that a spawn only renames one and
 * creates its branch instead of checking out the whole tree. Git is the record: a pool
 * worktree is `<root>/.pool-<id>`, locked with a reason that says whether it is ready and
 * at which commit. Pool worktrees never hold user work: one that does is left alone.
 */
const PREFIX = '.pool-';
const READY = 'worktree-orchestrator pool ready';
const CREATING = 'worktree-orchestrator pool creating';

export const isPoolPath = (p: string): boolean => path.basename(p).startsWith(PREFIX);

export class WarmPool {
  private refilling: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    /** The leader's: every pool change is one of its acts. */
    private readonly acts: Acts,
    private readonly size: number,
    private readonly log: (level: 'info' | 'warn', m: string) => void,
  ) {}

  get enabled(): boolean {
    return this.size > 0;
  }

  /** Ready pool worktrees of a root, with the commit each is at. */
  static ready(worktrees: WorktreeInfo[], root: string): WorktreeInfo[] {
    return worktrees.filter((w) => path.dirname(w.path) === root && isPoolPath(w.path) && w.locked?.startsWith(READY) && w.detached);
  }

  /**
   * Turns a ready pool worktree into the run's worktree: move it into place, then create
   * the run's branch at the base commit (a no-op checkout when the pool is current).
   * False when no pool worktree is ready; the caller then adds one the usual way. `repo`
   * is the leader's (fenced) repository.
   */
  async take(runId: string, repo: GitRepo, worktree: string, branch: string, baseCommit: string): Promise<boolean> {
    if (!this.enabled) return false;
    // Checked before a pool worktree is unlocked: a path planted since the request is refused
    // (a link) or left to the plain add (an empty folder), with the pool worktree untouched.
    if (prepareWorktreeTarget(worktree) !== 'absent') return false;
    const root = path.dirname(worktree);
    const candidates = WarmPool.ready(await repo.worktrees(), root).sort((a, b) => Number(b.head === baseCommit) - Number(a.head === baseCommit));
    for (const pool of candidates) {
      if (await holdsChanges(pool.path)) {
        this.log('warn', `warm pool: ${pool.path} has changes; leaving it alone.`);
        continue;
      }
      this.acts.act('take a pool worktree', (fence) => this.store.fencedEvent(fence, runId, 'take-pool-worktree', `${pool.path} -> ${worktree}`));
      await repo.unlockWorktree(pool.path);
      await repo.worktreeCommand(['worktree', 'move', '--', pool.path, worktree]);
      await switchToNewBranch(repo, worktree, branch, baseCommit);
      return true;
    }
    return false;
  }

  /** Finishes a take interrupted by a crash: the worktree was moved but has no branch yet. */
  static async resume(repo: GitRepo, worktree: string, branch: string, baseCommit: string): Promise<boolean> {
    const info = (await repo.worktrees()).find((w) => samePath(w.path, worktree));
    if (!info || !info.detached) return false;
    await switchToNewBranch(repo, worktree, branch, baseCommit);
    return true;
  }

  /** Tops the pool of one root up to its size, in the background; one refill at a time. */
  refill(repoRoot: string, root: string, baseRef: string): void {
    if (!this.enabled || this.refilling) return;
    this.refilling = this.doRefill(repoRoot, root, baseRef)
      .catch((e) => this.log('warn', `warm pool: ${(e as Error).message}`))
      .finally(() => {
        this.refilling = undefined;
      });
  }

  /** Resolves when a background refill (if any) has finished: for tests and shutdown. */
  idle(): Promise<void> {
    return this.refilling ?? Promise.resolve();
  }

  private async doRefill(repoRoot: string, root: string, baseRef: string): Promise<void> {
    const repo = (await GitRepo.open(repoRoot)).fencedBy(this.acts);
    const record = (kind: string, detail: string) => this.acts.act(kind, (fence) => this.store.fencedEvent(fence, null, kind, detail));
    const base = await repo.commitOf(baseRef);
    await repo.discardAbandonedAdds(CREATING); // an add killed early can leave the repo's worktree list unreadable
    const all = await repo.worktrees();
    const mine = all.filter((w) => path.dirname(w.path) === root && isPoolPath(w.path));
    // Half-made pool worktrees of a leader that died: ours, never user work.
    for (const w of mine.filter((m) => m.locked?.startsWith(CREATING))) {
      record('pool-discard', w.path);
      await repo.unlockWorktree(w.path);
      await repo.worktreeCommand(['worktree', 'remove', '--force', '--', w.path]);
    }
    const ready = WarmPool.ready(all, root);
    // The base moved: bring ready ones forward (only the changed files are written).
    for (const w of ready.filter((r) => r.head !== base)) {
      if (await holdsChanges(w.path)) continue;
      record('pool-refresh', `${w.path} -> ${base.slice(0, 12)}`);
      await repo.commandIn(w.path, ['checkout', '--quiet', '--detach', base]);
      await repo.unlockWorktree(w.path);
      await repo.lockWorktree(w.path, `${READY} ${base}`);
    }
    for (let n = ready.length; n < this.size; n++) {
      const p = path.join(root, `${PREFIX}${crypto.randomBytes(4).toString('hex')}`);
      record('pool-add', p);
      fs.mkdirSync(root, { recursive: true });
      await repo.worktreeCommand(['worktree', 'add', '--detach', '--lock', '--reason', CREATING, '--', p, base]);
      await repo.unlockWorktree(p);
      await repo.lockWorktree(p, `${READY} ${base}`);
      this.log('info', `warm pool: ${p} ready at ${base.slice(0, 12)}.`);
    }
  }
}

/** Changes or untracked files, or a status git cannot read: either way not a pool worktree to hand out. */
async function holdsChanges(worktree: string): Promise<boolean> {
  return readGit(worktree, ['status', '--porcelain', '--untracked-files=normal']).then(
    (out) => out.trim() !== '',
    () => true,
  );
}

/** In the queue of the repository's changing commands, and fenced when `repo` is the leader's. */
async function switchToNewBranch(repo: GitRepo, worktree: string, branch: string, baseCommit: string): Promise<void> {
  await repo.commandIn(worktree, ['switch', '--quiet', '--create', branch, baseCommit]);
}
