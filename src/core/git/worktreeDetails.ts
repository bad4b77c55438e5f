import * as os from 'node:os';
import { readGit } from './git';

/** What the Worktrees view shows beyond `git worktree list`: each costs a git process. */
export interface Details {
  ahead?: number;
  behind?: number;
  /** Changed plus untracked entries. */
  dirty?: number;
}

/** A worktree as the details are asked for. */
export interface DetailsTarget {
  repo: string;
  path: string;
  /** Commit checked out there (from `git worktree list`). */
  head: string | null;
  branch: string | null;
  /** Base branch to count ahead/behind against; undefined: no counts. */
  base: string | undefined;
  /** The folder is gone: no status. */
  missing: boolean;
}

interface Entry extends Details {
  /** `<head>...<base commit>` the counts were taken at. */
  countsKey?: string;
  /** HEAD at the last status. */
  statusHead?: string | null;
  statusAt?: number;
  /** A file changed in the worktree since the last status. */
  statusStale?: boolean;
}

/**
 * A dirty count older than this is checked again on the next reload of the view (edits show
 * in neither HEAD nor the worktree list). Sooner when HEAD moved, on "Refresh", and — for
 * worktrees open in this window — on their file events.
 */
const STATUS_TTL_MS = 15_000;
const FILL_DELAY_MS = 50;
const MAX_GIT = Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length));

/**
 * Ahead/behind counts and dirty counts of worktrees, fetched in the background with at most
 * MAX_GIT git processes at once and cached: counts by (HEAD, base commit) — exact, since
 * they depend on nothing else — and dirty counts by HEAD, with a time-to-live and explicit
 * invalidation. The tree shows the cached values at once (stale ones until fresher arrive,
 * rather than blanks) and is told (`changed`, with the worktree paths) when they change.
 */
export class WorktreeDetails {
  private readonly entries = new Map<string, Entry>();
  /** Which repository each entry belongs to, to drop the entries of removed worktrees. */
  private readonly entryRepo = new Map<string, string>();
  private readonly inFlight = new Set<string>();
  private readonly queue: Array<() => Promise<void>> = [];
  private running = 0;
  private idleWaiters: Array<() => void> = [];
  private changedPaths = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private fillTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, readonly DetailsTarget[]>();
  private disposed = false;

  /** `changed`: paths whose details changed, batched (a few per tick at most). */
  constructor(private readonly changed: (paths: string[]) => void) {}

  /** The last known details of a worktree (possibly stale, being refreshed). */
  get(worktree: string): Details {
    const e = this.entries.get(worktree);
    return e ? { ahead: e.ahead, behind: e.behind, dirty: e.dirty } : {};
  }

  /** Forgets freshness (not values): the next `update` checks every status again. */
  invalidateAll(): void {
    for (const e of this.entries.values()) e.statusStale = true;
  }

  /** A file in `worktree` changed: its status is checked on the next `update`. */
  invalidate(worktree: string): void {
    const e = this.entries.get(worktree);
    if (e) e.statusStale = true;
  }

  /**
   * Schedules what is missing or out of date for these worktrees of one repository. Returns
   * at once; results arrive through `changed`. The git processes start once the view has
   * had FILL_DELAY_MS to render, and a burst of reloads (runs changing in quick succession)
   * schedules only for the last one.
   */
  update(repo: string, targets: readonly DetailsTarget[]): void {
    if (this.disposed) return;
    this.pending.set(repo, targets);
    if (this.fillTimer) clearTimeout(this.fillTimer);
    this.fillTimer = setTimeout(() => {
      this.fillTimer = undefined;
      const pending = [...this.pending];
      this.pending.clear();
      for (const [r, t] of pending) this.schedule(r, t);
      this.settleIfIdle();
    }, FILL_DELAY_MS);
  }

  private schedule(repo: string, targets: readonly DetailsTarget[]): void {
    if (this.disposed) return;
    const live = new Set(targets.map((t) => t.path));
    for (const [p, r] of this.entryRepo) {
      if (r === repo && !live.has(p)) {
        this.entries.delete(p);
        this.entryRepo.delete(p);
      }
    }
    for (const t of targets) this.entryRepo.set(t.path, repo);

    const counted = targets.filter((t) => t.base && t.branch && t.head && t.branch !== t.base);
    if (counted.length) {
      // A base branch checked out in one of the worktrees (usually the main checkout) has its
      // commit in the list already; only others cost a `git for-each-ref`.
      const listed = new Map(targets.filter((t) => t.branch && t.head).map((t) => [t.branch!, t.head!]));
      const count = (tips: ReadonlyMap<string, string>) => {
        for (const t of counted) {
          const baseCommit = tips.get(t.base!);
          if (!baseCommit) continue;
          const key = `${t.head}...${baseCommit}`;
          if (this.entries.get(t.path)?.countsKey === key) continue;
          this.enqueue(`counts:${t.path}`, async () => {
            const counts = await aheadBehind(t.path, baseCommit, t.head!);
            this.set(t.path, { countsKey: key, ...(counts ?? { ahead: undefined, behind: undefined }) });
          });
        }
      };
      if (counted.every((t) => listed.has(t.base!))) count(listed);
      else this.enqueue(`refs:${repo}`, async () => count(await branchTips(repo)));
    }
    const now = Date.now();
    for (const t of targets) {
      if (t.missing) continue;
      const e = this.entries.get(t.path);
      if (e && e.statusHead === t.head && !e.statusStale && now - (e.statusAt ?? 0) < STATUS_TTL_MS) continue;
      this.enqueue(`status:${t.path}`, async () => {
        const entry = this.entries.get(t.path);
        if (entry) entry.statusStale = false;
        const at = Date.now();
        const dirty = await dirtyCount(t.path);
        this.set(t.path, { statusHead: t.head, statusAt: at, dirty });
      });
    }
  }

  /** Resolves when nothing is queued or running (tests; the bench). */
  idle(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private get isIdle(): boolean {
    return this.disposed || (!this.running && !this.queue.length && !this.fillTimer);
  }

  private settleIfIdle(): void {
    if (!this.isIdle) return;
    if (this.changedPaths.size) this.flush();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    waiters.forEach((w) => w());
  }

  dispose(): void {
    this.disposed = true;
    this.queue.length = 0;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.fillTimer) clearTimeout(this.fillTimer);
    this.idleWaiters.forEach((w) => w());
    this.idleWaiters = [];
  }

  private set(worktree: string, patch: Entry): void {
    if (this.disposed) return;
    const before = this.entries.get(worktree) ?? {};
    const after = { ...before, ...patch };
    this.entries.set(worktree, after);
    if (before.ahead !== after.ahead || before.behind !== after.behind || before.dirty !== after.dirty) {
      this.changedPaths.add(worktree);
      // Coalesce: a burst of results becomes one change event.
      this.flushTimer ??= setTimeout(() => this.flush(), 30);
    }
  }

  private flush(): void {
    this.flushTimer = undefined;
    const paths = [...this.changedPaths];
    this.changedPaths.clear();
    if (paths.length && !this.disposed) this.changed(paths);
  }

  /** Runs `task` once per key at a time, at most MAX_GIT tasks at once. */
  private enqueue(key: string, task: () => Promise<void>): void {
    if (this.inFlight.has(key) || this.disposed) return;
    this.inFlight.add(key);
    this.queue.push(async () => {
      try {
        await task();
      } catch {
        // a worktree removed meanwhile, git gone: the view shows what it has
      } finally {
        this.inFlight.delete(key);
      }
    });
    this.pump();
  }

  private pump(): void {
    while (this.running < MAX_GIT && this.queue.length && !this.disposed) {
      const next = this.queue.shift()!;
      this.running++;
      void next().finally(() => {
        this.running--;
        this.pump();
        this.settleIfIdle();
      });
    }
  }
}

const git = (cwd: string, args: string[]): Promise<string> => readGit(cwd, args, { background: true });

/** Every local branch's commit, in one git call. */
async function branchTips(repo: string): Promise<Map<string, string>> {
  const out = await git(repo, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads/']);
  const tips = new Map<string, string>();
  for (const line of out.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) tips.set(line.slice(space + 1).replace(/^refs\/heads\//, ''), line.slice(0, space));
  }
  return tips;
}

async function aheadBehind(cwd: string, baseCommit: string, head: string): Promise<{ ahead: number; behind: number } | undefined> {
  const [behind, ahead] = (await git(cwd, ['rev-list', '--left-right', '--count', `${baseCommit}...${head}`, '--'])).trim().split(/\s+/).map(Number);
  return Number.isFinite(ahead) && Number.isFinite(behind) ? { ahead, behind } : undefined;
}

async function dirtyCount(worktree: string): Promise<number | undefined> {
  try {
    return (await git(worktree, ['status', '--porcelain=v1', '-z', '--untracked-files=normal'])).split('\0').filter(Boolean).length;
  } catch {
    return undefined;
  }
}
