import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GitRepo, readGit, samePath, WorktreeInfo } from '../git/git';
import type { Acts } from './leaderLease';
import { Store } from '../db/store';
import { prepareWorktreeTarget } from '../git/worktreePaths';
import { runSetupCommand } from '../agent/worktreeSetup';
import { UserError } from '../model/userError';
import { Run } from '../model/run';

/**
 * Worktrees checked out at the base ahead of time, with the setup command already run there,
 * so that a spawn only renames one and creates its branch instead of checking out the whole
 * tree and installing its dependencies. Git is the record: a pool worktree is
 * `<root>/.pool-<id>`, locked with a reason that says what state it is in (see PoolState).
 * Pool worktrees never hold user work: one that does is left alone.
 */
const PREFIX = '.pool-';
const READY = 'worktree-orchestrator pool ready';
const CREATING = 'worktree-orchestrator pool creating';
const SETTING_UP = 'worktree-orchestrator pool setting-up';
const SETUP_FAILED = 'worktree-orchestrator pool setup-failed';
/** The lockfiles whose change means the dependencies must be installed again. */
const LOCKFILES = ['package-lock.json', 'yarn.lock', 'pnpm-lock.yaml'];

export const isPoolPath = (p: string): boolean => path.basename(p).startsWith(PREFIX);

/**
 * What a pool worktree's lock reason says. ready: can be handed out (`setup`: the key of the
 * setup that ran there; `status`: the hash of `git status` that setup left, so its output is
 * not taken for user work). failed: its setup failed for that key, never handed out, set up
 * again when the base or the key changes. creating / setting-up: a leader died mid-way.
 */
interface PoolState {
  kind: 'ready' | 'failed' | 'creating' | 'setting-up' | 'other';
  base?: string;
  setup?: string;
  status?: string;
}

function parseState(reason: string | null): PoolState {
  if (!reason) return { kind: 'other' };
  if (reason.startsWith(CREATING)) return { kind: 'creating' };
  if (reason.startsWith(SETTING_UP)) return { kind: 'setting-up' };
  const kind = reason.startsWith(`${READY} `) ? 'ready' : reason.startsWith(`${SETUP_FAILED} `) ? 'failed' : 'other';
  const words = reason.split(' ').slice(3);
  const after = (w: string) => (words.includes(w) ? words[words.indexOf(w) + 1] : undefined);
  return { kind, base: words[0], setup: after('setup'), status: after('status') };
}

function reasonOf(state: PoolState): string {
  const head = state.kind === 'ready' ? READY : SETUP_FAILED;
  return [head, state.base, ...(state.setup ? ['setup', state.setup] : []), ...(state.status ? ['status', state.status] : [])].join(' ');
}

/**
 * The setup command a pool worktree can run ahead of time for runs like `run`: the run's own,
 * unless it names the run (its worktree, branch, id or priority, through a placeholder) —
 * then only the run itself can run it, and the pool runs none.
 */
export function poolSetupCommand(run: Pick<Run, 'setupCommand' | 'worktree' | 'branch' | 'id' | 'priority'>): string[] | null {
  const own = [run.worktree, path.basename(run.worktree), run.branch, run.id, run.priority];
  return run.setupCommand && !run.setupCommand.some((arg) => own.some((v) => arg.includes(v))) ? run.setupCommand : null;
}

export interface TakenPoolWorktree {
  /** The run's setup command already ran there, at this base and with these lockfiles. */
  setUp: boolean;
}

export class WarmPool {
  private refilling: Promise<void> | undefined;
  /** A refill asked for while one ran: done right after it, with the latest arguments. */
  private refillAgain: Parameters<WarmPool['refill']> | undefined;
  /** Pool worktrees a take or the refill is working on (runs provision in parallel). */
  private readonly working = new Set<string>();

  constructor(
    private readonly store: Store,
    /** The leader's: every pool change is one of its acts. */
    private readonly acts: Acts,
    private readonly size: number,
    private readonly log: (level: 'info' | 'warn', m: string) => void,
    /** The state folder: setup commands run in pool worktrees log to `pool-setup/<name>.log` there. */
    private readonly stateDir?: string,
  ) {}

  get enabled(): boolean {
    return this.size > 0;
  }

  /** Ready pool worktrees of a root, with the commit each is at. */
  static ready(worktrees: WorktreeInfo[], root: string): WorktreeInfo[] {
    return worktrees.filter((w) => path.dirname(w.path) === root && isPoolPath(w.path) && parseState(w.locked).kind === 'ready' && w.detached);
  }

  /**
   * Turns a ready pool worktree into the run's worktree: move it into place, then create
   * the run's branch at the base commit (a no-op checkout when the pool is current).
   * False when no pool worktree is ready; the caller then adds one the usual way. `repo`
   * is the leader's (fenced) repository.
   */
  async take(runId: string, repo: GitRepo, worktree: string, branch: string, baseCommit: string, setupCommand: string[] | null = null): Promise<TakenPoolWorktree | false> {
    if (!this.enabled) return false;
    // Checked before a pool worktree is unlocked: a path planted since the request is refused
    // (a link) or left to the plain add (an empty folder), with the pool worktree untouched.
    if (prepareWorktreeTarget(worktree) !== 'absent') return false;
    const root = path.dirname(worktree);
    const setUp = (w: WorktreeInfo) => !!setupCommand && w.head === baseCommit && parseState(w.locked).setup === setupKey(w.path, setupCommand);
    const rank = (w: WorktreeInfo) => (setUp(w) ? 2 : 0) + (w.head === baseCommit ? 1 : 0);
    const candidates = WarmPool.ready(await repo.worktrees(), root).sort((a, b) => rank(b) - rank(a));
    for (const pool of candidates) {
      if (this.working.has(pool.path)) continue;
      this.working.add(pool.path); // before any await: a take beside this one skips it
      try {
        if (await holdsChanges(pool.path, parseState(pool.locked).status)) {
          this.log('warn', `warm pool: ${pool.path} has changes; leaving it alone.`);
          continue;
        }
        const ready = setUp(pool);
        this.acts.act('take a pool worktree', (fence) => this.store.fencedEvent(fence, runId, 'take-pool-worktree', `${pool.path} -> ${worktree}${ready ? ' (set up)' : ''}`));
        await repo.unlockWorktree(pool.path);
        await repo.worktreeCommand(['worktree', 'move', '--', pool.path, worktree]);
        await switchToNewBranch(repo, worktree, branch, baseCommit);
        return { setUp: ready };
      } finally {
        this.working.delete(pool.path);
      }
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

  /**
   * Tops the pool of one root up to its size and brings it to the base (and its setup up to
   * date), in the background; one refill at a time, one asked for meanwhile runs after it.
   * `setupCommand`: run in each pool worktree ahead of time (null: none).
   */
  refill(repoRoot: string, root: string, baseRef: string, setupCommand: string[] | null = null): void {
    if (!this.enabled) return;
    if (this.refilling) {
      this.refillAgain = [repoRoot, root, baseRef, setupCommand];
      return;
    }
    this.refilling = this.doRefill(repoRoot, root, baseRef, setupCommand)
      .catch((e) => this.log('warn', `warm pool: ${(e as Error).message}`))
      .finally(() => {
        this.refilling = undefined;
        const again = this.refillAgain;
        this.refillAgain = undefined;
        if (again) this.refill(...again);
      });
  }

  /** Resolves when background refills (if any) have finished: for tests and shutdown. */
  async idle(): Promise<void> {
    while (this.refilling) await this.refilling;
  }

  private record(kind: string, detail: string): void {
    this.acts.act(kind, (fence) => this.store.fencedEvent(fence, null, kind, detail));
  }

  private async doRefill(repoRoot: string, root: string, baseRef: string, setupCommand: string[] | null): Promise<void> {
    const repo = (await GitRepo.open(repoRoot)).fencedBy(this.acts);
    const base = await repo.commitOf(baseRef);
    await repo.discardAbandonedAdds(CREATING); // an add killed early can leave the repo's worktree list unreadable
    const mine = (await repo.worktrees()).filter((w) => path.dirname(w.path) === root && isPoolPath(w.path));
    let kept = 0;
    for (const w of mine) {
      if (this.working.has(w.path)) continue; // being taken: leaving the pool
      this.working.add(w.path);
      try {
        if (await this.keepCurrent(repo, w, base, setupCommand)) kept++;
      } finally {
        this.working.delete(w.path);
      }
    }
    for (let n = kept; n < this.size; n++) await this.addOne(repo, root, base, setupCommand);
  }

  /**
   * Brings one pool worktree to the base and its setup up to date. False when it is gone
   * (half made by a leader that died, or it could not be brought forward: ours, discarded).
   */
  private async keepCurrent(repo: GitRepo, w: WorktreeInfo, base: string, setupCommand: string[] | null): Promise<boolean> {
    const state = parseState(w.locked);
    if (state.kind === 'creating' || state.kind === 'setting-up') {
      await this.discard(repo, w.path); // half made by a leader that died: ours, never user work
      return false;
    }
    if (state.kind === 'other' || !w.detached) return true; // not in a state of ours: left alone
    const key = setupCommand ? setupKey(w.path, setupCommand) : undefined;
    if (w.head === base && state.setup === key) return true; // current (ready, or failed for this base and key: not retried)
    if (await holdsChanges(w.path, state.status)) return true;
    let checkedOutAt: number | undefined;
    if (w.head !== base) {
      this.record('pool-refresh', `${w.path} -> ${base.slice(0, 12)}`);
      try {
        await repo.commandIn(w.path, ['checkout', '--quiet', '--detach', base]);
        checkedOutAt = Date.now();
      } catch (e) {
        this.log('warn', `warm pool: could not bring ${w.path} to ${base.slice(0, 12)} (${(e as Error).message.split('\n')[0]}); discarding it.`);
        await this.discard(repo, w.path);
        return false;
      }
    }
    await repo.unlockWorktree(w.path);
    await this.setUp(repo, w.path, base, setupCommand, checkedOutAt);
    return true;
  }

  private async addOne(repo: GitRepo, root: string, base: string, setupCommand: string[] | null): Promise<void> {
    const p = path.join(root, `${PREFIX}${crypto.randomBytes(4).toString('hex')}`);
    this.working.add(p);
    try {
      this.record('pool-add', p);
      fs.mkdirSync(root, { recursive: true });
      await repo.worktreeCommand(['worktree', 'add', '--detach', '--lock', '--reason', CREATING, '--', p, base]);
      const checkedOutAt = Date.now();
      await repo.unlockWorktree(p);
      await this.setUp(repo, p, base, setupCommand, checkedOutAt);
    } finally {
      this.working.delete(p);
    }
  }

  /**
   * Runs the setup command in an unlocked pool worktree at `base` (none: nothing to run),
   * then locks it ready — or, when the setup failed, locked so that it is never handed out.
   */
  private async setUp(repo: GitRepo, p: string, base: string, setupCommand: string[] | null, checkedOutAt?: number): Promise<void> {
    if (!setupCommand) {
      await refreshIndex(repo, p, checkedOutAt);
      await repo.lockWorktree(p, reasonOf({ kind: 'ready', base }));
      this.log('info', `warm pool: ${p} ready at ${base.slice(0, 12)}.`);
      return;
    }
    const key = setupKey(p, setupCommand);
    await repo.lockWorktree(p, SETTING_UP);
    this.record('pool-setup', `${p}: ${JSON.stringify(setupCommand)} at ${base.slice(0, 12)}`);
    const logPath = path.join(this.stateDir ?? path.dirname(p), 'pool-setup', `${path.basename(p)}.log`);
    let failure: string | undefined;
    try {
      await this.acts.act(`setup command in the pool worktree ${p}`, () => runSetupCommand(setupCommand, p, logPath, { WTO_WORKTREE: p, WTO_POOL: '1', ...(this.stateDir ? { WTO_STATE_DIR: this.stateDir } : {}) }));
    } catch (e) {
      if (!(e instanceof UserError)) throw e; // fenced, or the log cannot be written: the next refill finds it setting-up
      failure = e.message.replace(/; see the run's log\.$/, '');
    }
    await repo.unlockWorktree(p);
    await refreshIndex(repo, p, checkedOutAt);
    const status = await statusHash(p);
    if (failure) {
      await repo.lockWorktree(p, reasonOf({ kind: 'failed', base, setup: key, status }));
      this.log('warn', `warm pool: setup failed in ${p}: ${failure}; see ${logPath}. It is not handed out; it is set up again when the base or the lockfile changes.`);
      return;
    }
    await repo.lockWorktree(p, reasonOf({ kind: 'ready', base, setup: key, status }));
    this.log('info', `warm pool: ${p} ready and set up at ${base.slice(0, 12)}.`);
  }

  /** Removes a pool worktree of ours that holds no user work (half made, or one that could not be refreshed). */
  private async discard(repo: GitRepo, p: string): Promise<void> {
    this.record('pool-discard', p);
    await repo.unlockWorktree(p);
    await repo.worktreeCommand(['worktree', 'remove', '--force', '--', p]);
  }
}

/**
 * What a pool worktree's setup depends on besides the base: the command and the lockfiles
 * checked out there. Equal keys at the same commit: running it again would do the same.
 */
export function setupKey(worktree: string, setupCommand: readonly string[]): string {
  const h = crypto.createHash('sha256').update(JSON.stringify(setupCommand));
  for (const name of LOCKFILES) {
    let text: Buffer | null = null;
    try {
      text = fs.readFileSync(path.join(worktree, name));
    } catch {
      // absent
    }
    h.update(`\0${name}\0${text ? crypto.createHash('sha256').update(text).digest('hex') : '-'}`);
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Writes a fresh checkout's file stats into its index once git can trust them. Until then
 * every `git status` there (the take's own, the agent's) re-reads every file: git's index
 * times are whole seconds here, so files written in the second the index was written are
 * "racily clean". Measured at 20k files: status 70 -> 10 ms, the take's switch 40 -> 20 ms.
 * Waits, in the background refill, for the next second after the checkout. Best effort.
 */
async function refreshIndex(repo: GitRepo, worktree: string, checkedOutAt: number | undefined): Promise<void> {
  if (checkedOutAt !== undefined) {
    const trusted = (Math.floor(checkedOutAt / 1000) + 1) * 1000 + 20;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, trusted - Date.now())));
  }
  try {
    await repo.commandIn(worktree, ['update-index', '-q', '--refresh']);
  } catch (e) {
    if (e instanceof UserError) return; // only slower: the take's status re-reads the files
    throw e; // fenced
  }
}

/** A short hash of `git status` (undefined: clean; 'unreadable' when git cannot read it). */
async function statusHash(worktree: string): Promise<string | undefined> {
  const out = await readGit(worktree, ['status', '--porcelain', '--untracked-files=normal']).catch(() => null);
  if (out === null) return 'unreadable';
  return out.trim() === '' ? undefined : crypto.createHash('sha256').update(out).digest('hex').slice(0, 12);
}

/**
 * Changes or untracked files beyond what the pool's own setup left (`recorded`), or a status
 * git cannot read: either way not a pool worktree to hand out.
 */
async function holdsChanges(worktree: string, recorded?: string): Promise<boolean> {
  const now = await statusHash(worktree);
  return now === 'unreadable' || now !== recorded;
}

/** In the queue of the repository's changing commands, and fenced when `repo` is the leader's. */
async function switchToNewBranch(repo: GitRepo, worktree: string, branch: string, baseCommit: string): Promise<void> {
  await repo.commandIn(worktree, ['switch', '--quiet', '--create', branch, baseCommit]);
}
