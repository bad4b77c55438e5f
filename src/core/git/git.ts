import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Acts } from '../leader/leaderLease';
import { UserError } from '../model/userError';
import { loadExeca } from './loadExeca';
import { prepareWorktreeTarget } from './worktreePaths';

export interface AddOptions {
  /** The run's log: what git and its hooks print while adding goes there. */
  logPath?: string;
}

export interface WorktreeInfo {
  path: string;
  head: string | null;
  /** Short branch name, null when detached or bare. */
  branch: string | null;
  bare: boolean;
  detached: boolean;
  locked: string | null;
  prunable: boolean;
}

/** What removing a worktree would lose. Empty lists: nothing. */
export interface WorktreeHoldings {
  changed: string[];
  untracked: string[];
  /** Commits reachable from the worktree's HEAD but not from the base. */
  unmerged: string[];
}

export const holdsNothing = (h: WorktreeHoldings): boolean => !h.changed.length && !h.untracked.length && !h.unmerged.length;

/** What commitAll did: committed (the new commit), nothing to commit, refused (not a run's worktree), or git failed (a hook). */
export interface CommitAllResult {
  outcome: 'committed' | 'clean' | 'refused' | 'failed';
  commit?: string;
  /** Entries of `git status` that went into the commit. */
  files?: number;
  /** What git (and its hooks) printed, or why it was refused. */
  output: string;
}

const LOCK_RETRIES = 6;
/** What git says when another git process holds a lock it needs (worth a retry). */
const LOCK_HELD = /\.lock'?: File exists|Unable to create .*\.lock|index\.lock|failed to read .*commondir/;
const serialByRoot = new Map<string, Promise<unknown>>();

/**
 * Git in one repository: argument arrays only (no shell), refs and paths after `--` where
 * git accepts it, and a retry when another git process holds an index/ref lock.
 */
export class GitRepo {
  private constructor(
    readonly root: string,
    /** When set, every command that changes the repository is an act of this leader (see fencedBy). */
    private readonly acts?: Acts,
  ) {}

  /**
   * This repository as a leader's: each command that changes worktrees or refs confirms the
   * leader's epoch right before git starts (after waiting its turn in the queue), so a
   * leader deposed while it waited never runs it.
   */
  fencedBy(acts: Acts): GitRepo {
    return new GitRepo(this.root, acts);
  }

  /** Throws FencedError when this is a leader's repository and the leader was deposed. */
  private confirm(what: string): void {
    this.acts?.act(what, () => undefined);
  }

  /** Opens the repository containing `dir`, with a clear message for each way that can fail. */
  static async open(dir: string): Promise<GitRepo> {
    if (!fs.existsSync(dir)) throw new UserError(`${dir} does not exist.`, 'NOT_A_REPO');
    const answer = await askGit(dir, ['rev-parse', '--show-toplevel']);
    if (answer.exitCode !== 0) throw explainGitError(new Error(answer.stderr), dir);
    const top = answer.stdout.trim();
    if (!top) throw new UserError(`${dir} is not inside a git working tree (is it a bare repository?).`, 'NOT_A_REPO');
    const root = fs.realpathSync(top);
    return new GitRepo(root);
  }

  async raw(args: string[]): Promise<string> {
    try {
      return await gitOutput(this.root, args);
    } catch (e) {
      throw explainGitError(e, this.root);
    }
  }

  /** The configured base branch, or the branch checked out in the main checkout. */
  async baseBranch(configured?: string): Promise<string> {
    if (configured) {
      assertBranchName(configured);
      if (!(await this.branchExists(configured))) throw new UserError(`The base branch "${configured}" does not exist in ${this.root}.`, 'NO_BASE');
      return configured;
    }
    const head = await this.run(['symbolic-ref', '--quiet', '--short', 'HEAD']);
    if (head.exitCode === 0 && head.stdout.trim()) return head.stdout.trim();
    {
      throw new UserError(`HEAD is detached in ${this.root}: check out a branch, or set worktreeOrchestrator.baseBranch (CLI: --base).`, 'DETACHED_HEAD');
    }
  }

  async commitOf(ref: string): Promise<string> {
    const r = await this.run(['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`]); // on the spawn's path
    if (r.exitCode !== 0) throw explainGitError(new Error(r.stderr || `${ref} is not a commit`), this.root);
    return r.stdout.trim();
  }

  async branchExists(branch: string): Promise<boolean> {
    return (await this.run(['show-ref', '--verify', '--quiet', `refs/heads/${branch}`])).exitCode === 0;
  }

  private run(args: string[]): Promise<GitAnswer> {
    return askGit(this.root, args);
  }

  /** A question to git in the main checkout, answered with its exit code (changes nothing). */
  ask(args: string[]): Promise<GitAnswer> {
    return askGit(this.root, args);
  }

  /**
   * A changing command in the main checkout whose failure is an answer, not an error (a
   * merge that conflicts): in the queue of changing commands, fenced like them.
   */
  change(args: string[]): Promise<GitAnswer> {
    return this.serially(async () => {
      this.confirm(`git ${args.join(' ')}`);
      return askGit(this.root, args);
    });
  }

  async worktrees(): Promise<WorktreeInfo[]> {
    return parseWorktreeList(await this.raw(['worktree', 'list', '--porcelain']));
  }

  /** A repository whose root is already known (a run's), without asking git again. */
  static at(root: string): GitRepo {
    return new GitRepo(root);
  }

  /**
   * `git worktree add --lock -b <branch> <path> <commit>` — one git call on the happy path;
   * on failure, adopts an identical worktree left by a crash or explains what is in the way.
   */
  async addWorktree(worktree: string, branch: string, commit: string, lockReason: string, options: AddOptions = {}): Promise<'added' | 'existing'> {
    // The last point before git runs: a link or someone's folder planted at the path since
    // the request is refused here, before git makes a branch or follows the link.
    if (prepareWorktreeTarget(worktree) === 'non-empty' && !(await this.isOwnHalfMadeWorktree(worktree))) {
      throw new UserError(`${worktree} already exists and is not a worktree of this run; move it away or remove it.`, 'PATH_EXISTS');
    }
    const add = (args: string[]) => this.addCommand(['worktree', 'add', '--lock', '--reason', lockReason, ...args], options.logPath);
    try {
      await add(['-b', branch, '--', worktree, commit]);
      return 'added';
    } catch (e) {
      // What an add killed half-way leaves (it creates the branch, registers the worktree
      // locked with our reason, sets HEAD, checks out) is completed or cleared here: nothing
      // can be in it yet, since this is the step before any agent starts.
      const cleared = await this.discardAbandonedAdds(lockReason, worktree, branch);
      const all = await this.worktrees();
      const existing = all.find((w) => samePath(w.path, worktree));
      if (existing?.branch === branch) {
        // Locked with this run's reason: made by this run's own add, so ours to complete.
        if (existing.locked === lockReason) await finishCheckout(worktree, (what) => this.confirm(what));
        else if (existing.locked === null) await this.lockWorktree(worktree, lockReason);
        return 'existing';
      }
      if (existing) throw new UserError(`${worktree} is already a worktree on ${existing.branch ?? 'a detached HEAD'}.`, 'PATH_EXISTS');
      // An empty folder is fine: git checks out into it.
      if (fs.existsSync(worktree) && fs.readdirSync(worktree).length) throw new UserError(`${worktree} already exists and is not a worktree of this run; move it away or remove it.`, 'PATH_EXISTS');
      if (await this.branchExists(branch)) {
        // Killed after creating the branch: at the base, nothing of its own, checked out
        // nowhere — using it loses nothing and shares nothing.
        if (!all.some((w) => w.branch === branch) && (await this.commitOf(`refs/heads/${branch}`)) === commit) {
          await add(['--', worktree, branch]);
          return 'existing';
        }
        throw new UserError(`The branch ${branch} already exists; delete or rename it, or start a new attempt.`, 'BRANCH_EXISTS');
      }
      if (cleared) {
        await add(['-b', branch, '--', worktree, commit]);
        return 'added';
      }
      throw e;
    }
  }

  /**
   * Whether a folder with something in it is a worktree of this repository, registered or
   * left half made by a killed add (its `.git` file points into this repository's
   * `worktrees` folder, or is the lone, still empty file git was writing): the failure path
   * below completes or explains those. Anything else is someone else's folder.
   */
  private async isOwnHalfMadeWorktree(worktree: string): Promise<boolean> {
    let gitFile: string;
    try {
      gitFile = fs.readFileSync(path.join(worktree, '.git'), 'utf8').trim();
    } catch {
      return false;
    }
    if (gitFile === '') return fs.readdirSync(worktree).length === 1;
    const gitDir = linkedGitDir(worktree);
    const common = await this.run(['rev-parse', '--git-common-dir']);
    if (!gitDir || common.exitCode !== 0) return false;
    return samePath(path.dirname(gitDir), path.join(path.resolve(this.root, common.stdout.trim()), 'worktrees'));
  }

  /**
   * `git worktree add` in worktreeCommand's queue, fenced and retried like it, with what git printed
   * kept: a post-checkout hook's output (and its failure, which git reports as the add's
   * exit code though the worktree is complete) goes to the run's log, not nowhere.
   */
  private addCommand(args: string[], logPath?: string): Promise<void> {
    return this.serially(async () => {
      for (let attempt = 1; ; attempt++) {
        this.confirm(`git ${args.join(' ')}`);
        const r = await this.run(args);
        if (r.exitCode !== 0 && attempt < LOCK_RETRIES && LOCK_HELD.test(r.stderr)) {
          await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
          continue;
        }
        if (logPath) logGitOutput(logPath, 'git worktree add', r);
        if (r.exitCode !== 0) throw explainGitError(new Error(r.stderr.trim() || `git exited with code ${r.exitCode}`), this.root);
        return;
      }
    });
  }

  /**
   * Clears what a `git worktree add` killed before it set HEAD leaves behind, when it is
   * locked with `lockReason` (ours, and nothing was checked out yet): an admin folder git does
   * not list (no gitdir) or cannot read at all (an empty commondir fails every `git worktree`
   * command in the repository), the worktree's lone `.git` file, and — given the run's
   * `worktree` and `branch` — an empty admin folder of that name and a stale lock on the
   * branch's ref. Returns whether it cleared anything.
   */
  async discardAbandonedAdds(lockReason: string, worktree?: string, branch?: string): Promise<boolean> {
    const common = await this.run(['rev-parse', '--git-common-dir']);
    if (common.exitCode !== 0) return false;
    const commonDir = path.resolve(this.root, common.stdout.trim());
    const adminRoot = path.join(commonDir, 'worktrees');
    const read = (f: string): string | null => {
      try {
        return fs.readFileSync(f, 'utf8').trim();
      } catch {
        return null;
      }
    };
    let cleared = false;
    // git names the admin folder after the worktree's folder, with a number if taken.
    const ownName = worktree ? new RegExp(`^${path.basename(worktree).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d*$`) : null;
    for (const name of fs.existsSync(adminRoot) ? fs.readdirSync(adminRoot) : []) {
      const admin = path.join(adminRoot, name);
      if (!fs.statSync(admin, { throwIfNoEntry: false })?.isDirectory()) continue;
      const locked = read(path.join(admin, 'locked'));
      const head = read(path.join(admin, 'HEAD'));
      const dotGit = read(path.join(admin, 'gitdir'));
      if (dotGit && read(path.join(admin, 'commondir')) && head && !/^0+$/.test(head)) continue; // registered: git lists it
      // Ours: locked with our reason, or killed before the reason was written, under our name.
      const ours = locked === lockReason || (!locked && !!ownName?.test(name) && (!dotGit || samePath(path.dirname(dotGit), worktree!)));
      if (!ours) continue;
      this.confirm(`clear the interrupted worktree add ${admin}`);
      fs.rmSync(admin, { recursive: true, force: true });
      cleared = true;
      // The worktree's folder then holds at most git's `.git` file pointing here.
      const folder = dotGit ? path.dirname(dotGit) : worktree;
      if (folder && fs.existsSync(folder)) {
        const inside = fs.readdirSync(folder);
        const gitFile = inside.length === 1 && inside[0] === '.git' ? read(path.join(folder, '.git')) : null; // '' if killed mid-write
        if (gitFile !== null && (gitFile === '' || gitFile.startsWith('gitdir:'))) fs.rmSync(path.join(folder, '.git'));
      }
    }
    if (branch) {
      // A live git holds a ref lock for milliseconds; one older than that is a killed add's.
      const refLock = path.join(commonDir, 'refs', 'heads', `${branch}.lock`);
      const age = (): number => Date.now() - (fs.statSync(refLock, { throwIfNoEntry: false })?.mtimeMs ?? -Infinity);
      for (const until = Date.now() + 2000; age() < 2000 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
      if (age() !== Infinity) {
        this.confirm(`remove the stale ref lock ${refLock}`);
        fs.rmSync(refLock, { force: true });
        cleared = true;
      }
    }
    return cleared;
  }

  async lockWorktree(worktree: string, reason: string): Promise<void> {
    try {
      await this.worktreeCommand(['worktree', 'lock', '--reason', reason, '--', worktree]);
    } catch (e) {
      if (!/already locked/.test(String((e as Error).message))) throw e;
    }
  }

  async unlockWorktree(worktree: string): Promise<void> {
    try {
      await this.worktreeCommand(['worktree', 'unlock', '--', worktree]);
    } catch (e) {
      if (!/not locked|is not a working tree/.test(String((e as Error).message))) throw e;
    }
  }

  /** What a worktree holds that removing it would lose. */
  async holdings(worktree: string, base: string): Promise<WorktreeHoldings> {
    const status = await gitOutput(worktree, ['status', '--porcelain=v1', '-z', '--untracked-files=all']).catch((e) => {
      throw explainGitError(e, worktree);
    });
    const changed: string[] = [];
    const untracked: string[] = [];
    for (const entry of status.split('\0')) {
      if (!entry) continue;
      (entry.startsWith('??') ? untracked : changed).push(entry.slice(3));
    }
    const log = await gitOutput(worktree, ['rev-list', '--oneline', 'HEAD', '--not', `refs/heads/${base}`, '--']).catch(() => '');
    return { changed, untracked, unmerged: log.split('\n').filter(Boolean) };
  }

  /**
   * Removes a worktree only when it holds nothing (or `force`, after the user confirmed),
   * and its branch only when merged into the base. Returns what it did.
   */
  async removeWorktree(worktree: string, base: string, options: { force?: boolean } = {}): Promise<{ removed: boolean; branchDeleted: string | null; holdings: WorktreeHoldings }> {
    const info = (await this.worktrees()).find((w) => samePath(w.path, worktree));
    if (!info) throw new UserError(`${worktree} is not a worktree of ${this.root}.`, 'NO_WORKTREE');
    if (samePath(info.path, this.root)) throw new UserError('The main checkout is never removed.', 'MAIN_CHECKOUT');
    const holdings = fs.existsSync(worktree) ? await this.holdings(worktree, base) : { changed: [], untracked: [], unmerged: [] };
    if (!holdsNothing(holdings) && !options.force) return { removed: false, branchDeleted: null, holdings };
    if (info.locked !== null) await this.unlockWorktree(worktree);
    await this.worktreeCommand(['worktree', 'remove', ...(options.force ? ['--force', '--force'] : []), '--', worktree]);
    let branchDeleted: string | null = null;
    if (info.branch && info.branch !== base && (await this.isMerged(info.branch, base))) {
      await this.worktreeCommand(['branch', '-D', '--', info.branch]);
      branchDeleted = info.branch;
    }
    return { removed: true, branchDeleted, holdings };
  }

  async isMerged(branch: string, base: string): Promise<boolean> {
    return (await this.run(['merge-base', '--is-ancestor', `refs/heads/${branch}`, `refs/heads/${base}`])).exitCode === 0;
  }

  /**
   * Commands that change the repository's worktrees or refs, one at a time per repository
   * in this process (a background pool refill must not race a spawn's add: git then fails
   * reading the other's half-made .git/worktrees entry), retried when another process
   * holds a lock.
   */
  worktreeCommand(args: string[]): Promise<string> {
    if (args[0] === 'worktree' && args[1] === 'move') {
      // git moves a worktree *into* a folder that exists (through a link, too): the
      // destination must not exist at all.
      const to = args[args.length - 1];
      if (fs.lstatSync(to, { throwIfNoEntry: false })) return Promise.reject(new UserError(`${to} already exists${fs.lstatSync(to).isSymbolicLink() ? ` as a symlink (to ${fs.readlinkSync(to)})` : ''}; a worktree is not moved there. Nothing was changed.`, 'PATH_EXISTS'));
      prepareWorktreeTarget(to);
    }
    return this.serially(() => this.withLockRetry(this.root, args));
  }

  /**
   * A changing command run inside one of the repository's worktrees (`git switch`, a
   * checkout): in the same queue, with the same lock retry and fencing as worktreeCommand.
   */
  commandIn(worktree: string, args: string[]): Promise<string> {
    return this.serially(() => this.withLockRetry(worktree, args));
  }

  private serially<T>(command: () => Promise<T>): Promise<T> {
    return inQueue(this.root, command);
  }

  private async withLockRetry(cwd: string, args: string[]): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      this.confirm(`git ${args.join(' ')}`);
      try {
        return await gitOutput(cwd, args);
      } catch (e) {
        const msg = String((e as Error).message);
        if (attempt < LOCK_RETRIES && LOCK_HELD.test(msg)) {
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
          continue;
        }
        throw explainGitError(e, this.root);
      }
    }
  }
}

/** Runs `command` after every changing git command queued before it for the repository `root` (in this process). */
function inQueue<T>(root: string, command: () => Promise<T>): Promise<T> {
  const previous = serialByRoot.get(root) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(command);
  serialByRoot.set(root, next);
  void next.catch(() => undefined).finally(() => {
    if (serialByRoot.get(root) === next) serialByRoot.delete(root);
  });
  return next;
}

/**
 * Commits everything a worktree of the repository `root` holds (modified, staged, untracked
 * and not ignored) on `branch`, with the repository's hooks: no `--no-verify`, so a failing
 * pre-commit hook is an answer ('failed', with what it printed), and the changes stay where
 * they are (staged). Refused, changing nothing, unless git itself says that `worktree` is a
 * linked worktree of this repository (not its main checkout, not a folder inside it) with
 * `branch` checked out. In the repository's queue of changing commands, with their lock
 * retry. Not fenced: the caller is a run's supervisor, not a leader, committing on its own
 * run's branch in its own worktree as the agent itself would.
 */
export function commitAll(root: string, worktree: string, branch: string, message: string, o: { timeoutMs?: number } = {}): Promise<CommitAllResult> {
  return inQueue(root, async () => {
    const refusal = await notALinkedWorktreeOn(root, worktree, branch);
    if (refusal) return { outcome: 'refused', output: refusal };
    const status = await askGit(worktree, ['status', '--porcelain=v1', '-z', '--untracked-files=all']);
    if (status.exitCode !== 0) return { outcome: 'failed', output: status.stderr.trim() };
    // A rename's old path is an entry of its own, without a status.
    const files = status.stdout.split('\0').filter((e) => /^.. ./s.test(e)).length;
    if (!files) return { outcome: 'clean', output: '' };
    const inWorktree = (args: string[]) => retryingLocks(() => askGit(worktree, args, { timeoutMs: o.timeoutMs }));
    const add = await inWorktree(['add', '--all', '--', '.']);
    if (add.exitCode !== 0) return { outcome: 'failed', output: `git add: ${`${add.stdout}${add.stderr}`.trim()}` };
    const commit = await inWorktree(['commit', '--quiet', '-m', message]);
    const output = `${commit.stdout}${commit.stderr}`.trim();
    if (commit.exitCode !== 0) return { outcome: 'failed', output: output || `git commit exited with code ${commit.exitCode}` };
    const head = await askGit(worktree, ['rev-parse', 'HEAD']);
    return { outcome: 'committed', commit: head.stdout.trim(), files, output };
  });
}

/**
 * Whether commitAll would find anything to commit in `worktree` (modified, staged, untracked
 * and not ignored); true when git cannot tell, so that commitAll gives the answer. Changes
 * nothing (no optional locks): a run's supervisor asks it first, so a run that left its
 * worktree clean (the usual end) starts no commit process (bench: throughput).
 */
export async function hasUncommittedChanges(worktree: string): Promise<boolean> {
  try {
    return (await readGit(worktree, ['status', '--porcelain=v1', '-z', '--untracked-files=all'])) !== '';
  } catch {
    return true;
  }
}

/** Why `worktree` is not a linked worktree of the repository `root` on `branch`, by git's own answers; undefined when it is. */
async function notALinkedWorktreeOn(root: string, worktree: string, branch: string): Promise<string | undefined> {
  if (!fs.existsSync(worktree)) return `${worktree} does not exist.`;
  const where = await askGit(worktree, ['rev-parse', '--path-format=absolute', '--show-toplevel', '--git-dir', '--git-common-dir']);
  if (where.exitCode !== 0) return `${worktree} is not a git worktree: ${where.stderr.trim().split('\n')[0]}`;
  const [top, gitDir, commonDir] = where.stdout.trim().split('\n').map((p) => realpathOr(p));
  if (gitDir === commonDir) return `${worktree} is in the main checkout of ${top}, not a run's worktree; nothing is committed there.`;
  if (top !== realpathOr(worktree)) return `${worktree} is not the top of a worktree (git says ${top}).`;
  const own = await askGit(root, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
  if (own.exitCode !== 0 || realpathOr(own.stdout.trim()) !== commonDir) return `${worktree} is a worktree of another repository than ${root}.`;
  const head = await askGit(worktree, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  const current = head.exitCode === 0 ? head.stdout.trim() : null;
  if (current !== branch) return `${worktree} has ${current ? `branch ${current}` : 'a detached HEAD'} checked out, not the run's branch ${branch}.`;
  return undefined;
}

/** A git command retried while another git process holds a lock it needs. */
async function retryingLocks(command: () => Promise<GitAnswer>): Promise<GitAnswer> {
  for (let attempt = 1; ; attempt++) {
    const r = await command();
    if (r.exitCode === 0 || attempt >= LOCK_RETRIES || !LOCK_HELD.test(r.stderr)) return r;
    await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
  }
}

/**
 * Completes a worktree that `git worktree add` left half made: killed together with its
 * orchestrator (Ctrl-C, a stopped container, a killed process tree), it leaves the worktree
 * registered, locked and on its branch, but only partly checked out, with the checkout's
 * index.lock behind. An agent started there would see most files missing (and commit them
 * as deleted). Only called while provisioning, before any agent has worked in it, so the
 * rest is simply checked out: a checkout that is still running (its git outlived a plain
 * kill) gets a few seconds to finish, then a lock still there is stale.
 */
async function finishCheckout(worktree: string, confirm: (what: string) => void): Promise<void> {
  const execa = await loadExeca();
  const gitDir = await execa('git', ['rev-parse', '--absolute-git-dir'], { cwd: worktree, reject: false, stdin: 'ignore' });
  if (gitDir.exitCode !== 0 || !gitDir.stdout.trim()) {
    throw new UserError(`${worktree} is a half-made worktree (interrupted git worktree add); remove it with "git worktree remove --force" and try again.`, 'PATH_EXISTS');
  }
  const lock = path.join(gitDir.stdout.trim(), 'index.lock');
  for (let waited = 0; fs.existsSync(lock) && waited < 5000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  // The add's own checkout moves HEAD too: killed then, it leaves HEAD.lock, which a live git
  // holds for milliseconds; one older than 2 s is the killed add's (and would fail the reset).
  const headLock = path.join(gitDir.stdout.trim(), 'HEAD.lock');
  const age = (): number => Date.now() - (fs.statSync(headLock, { throwIfNoEntry: false })?.mtimeMs ?? -Infinity);
  for (const until = Date.now() + 2500; age() < 2000 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
  confirm(`complete the half-made worktree ${worktree}`);
  fs.rmSync(lock, { force: true });
  if (age() !== Infinity) fs.rmSync(headLock, { force: true });
  const reset = await execa('git', ['reset', '--hard', '--quiet'], { cwd: worktree, reject: false, stdin: 'ignore' });
  if (reset.exitCode !== 0) throw new UserError(`Could not complete the half-made worktree ${worktree}: ${reset.stderr.trim().split('\n')[0]}`, 'GIT_FAILED');
}

/** git's own progress lines, not worth a line in a run's log. */
const GIT_CHATTER = /^(Preparing worktree|HEAD is now at |Updating files:|branch '.*' set up to track)/;

/** Appends what a git command printed to a run's log, unless it was only git's progress. */
function logGitOutput(logPath: string, what: string, r: GitAnswer): void {
  const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() && !GIT_CHATTER.test(l));
  if (!lines.length && r.exitCode === 0) return;
  fs.mkdirSync(path.dirname(logPath), { recursive: true, mode: 0o700 });
  const status = r.exitCode === 0 ? '' : ` exited with code ${r.exitCode}`;
  fs.appendFileSync(logPath, `[orchestrator] ${new Date().toISOString()} ${what}${status}:\n${lines.map((l) => `${l}\n`).join('')}`, { mode: 0o600 });
}

export function parseWorktreeList(porcelain: string): WorktreeInfo[] {
  const out: WorktreeInfo[] = [];
  for (const block of porcelain.split(/\n\n+/)) {
    const lines = block.split('\n').filter(Boolean);
    if (!lines.length || !lines[0].startsWith('worktree ')) continue;
    const info: WorktreeInfo = { path: lines[0].slice(9), head: null, branch: null, bare: false, detached: false, locked: null, prunable: false };
    for (const line of lines.slice(1)) {
      if (line.startsWith('HEAD ')) info.head = line.slice(5);
      else if (line.startsWith('branch ')) info.branch = line.slice(7).replace(/^refs\/heads\//, '');
      else if (line === 'bare') info.bare = true;
      else if (line === 'detached') info.detached = true;
      else if (line === 'locked' || line.startsWith('locked ')) info.locked = line.slice(7);
      else if (line.startsWith('prunable')) info.prunable = true;
    }
    out.push(info);
  }
  return out;
}

export function assertBranchName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(name) || /\.\.|\/\/|\.lock$|\/$|\.$|@\{/.test(name)) {
    throw new UserError(`"${name}" is not a valid branch name.`, 'BAD_BRANCH');
  }
}

/** The real path, or the path as given when it cannot be resolved. */
function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}

interface GitAnswer {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The git folder a linked worktree's `.git` file points at (resolved), read from the file
 * itself without starting git; undefined when `dir/.git` is not such a file.
 */
export function linkedGitDir(dir: string): string | undefined {
  try {
    const m = /^gitdir:\s*(.+?)\s*$/m.exec(fs.readFileSync(path.join(dir, '.git'), 'utf8'));
    return m ? path.resolve(dir, m[1]) : undefined;
  } catch {
    return undefined; // none, or a folder (a main checkout)
  }
}

/** Niceness of background readers (the Worktrees view's counts): the view's own list goes first. */
const BACKGROUND_PRIORITY = 10;

/**
 * A git question that changes nothing, for readers outside a GitRepo (the views):
 * GIT_OPTIONAL_LOCKS=0 so `status` never writes the index (it would contend with the agent
 * working there, and wake file watchers); `background` lowers its CPU priority.
 */
export function readGit(cwd: string, args: string[], o: { background?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', args, { cwd, encoding: 'utf8', windowsHide: true, maxBuffer: 64 * 1024 * 1024, env: gitEnv({ GIT_OPTIONAL_LOCKS: '0' }) }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    if (!o.background) return;
    try {
      if (child.pid) os.setPriority(child.pid, BACKGROUND_PRIORITY);
    } catch {
      // not permitted or already gone: it runs at normal priority
    }
  });
}

/** `git worktree list --porcelain` of a repository root, without the bare entry. */
export async function listWorktrees(root: string): Promise<WorktreeInfo[]> {
  return parseWorktreeList(await readGit(root, ['worktree', 'list', '--porcelain'])).filter((w) => !w.bare);
}

/**
 * The environment of every git process: the caller's without the variables that point git
 * at another repository, work tree or index (set, say, when VS Code was started from a git
 * hook), so a command always acts on the repository it was given.
 */
function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_COMMON_DIR', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_NAMESPACE', 'GIT_PREFIX']) delete env[name];
  return env;
}

/**
 * A git command's standard output; rejects with what git printed on stderr (its own words,
 * which explainGitError and the lock retry read). Node's execFile, not a git library: these
 * run on every spawn's path, and simple-git 4 waits 50 ms after each command that prints
 * nothing (its completion plugin) — `worktree lock`, `unlock`, `move`, `switch --quiet`:
 * 250 of a warm-pool spawn's 365 ms (bench: poolsetup).
 */
function gitOutput(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, encoding: 'utf8', windowsHide: true, maxBuffer: 64 * 1024 * 1024, env: gitEnv() }, (e, stdout, stderr) => {
      if (!e) return resolve(stdout);
      const code = (e as NodeJS.ErrnoException).code;
      reject(typeof code === 'number' ? new Error(stderr.trim() || stdout.trim() || e.message) : e);
    });
  });
}

/**
 * A short git question, answered by its exit code and output rather than an error. Node's
 * execFile for the same reason as gitOutput (bench: `git rev-parse` 2.9 ms, 3.4 through
 * simple-git, 4.0 through execa).
 */
function askGit(cwd: string, args: string[], o: { timeoutMs?: number } = {}): Promise<GitAnswer> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, windowsHide: true, maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 0, env: gitEnv() }, (e, stdout, stderr) => {
      const exitCode = (e as { code?: unknown } | null)?.code;
      // Killed at the timeout (a hook that hangs): an answer, not an error.
      if (e && (e as { killed?: boolean }).killed && o.timeoutMs) resolve({ exitCode: 124, stdout, stderr: `${stderr}\ngit ${args[0]} did not finish within ${Math.round(o.timeoutMs / 1000)} s and was stopped` });
      else if (e && typeof exitCode !== 'number') reject(explainGitError(e, cwd));
      else resolve({ exitCode: e ? (exitCode as number) : 0, stdout, stderr });
    });
  });
}

function explainGitError(e: unknown, where: string): Error {
  if (e instanceof UserError) return e;
  const msg = String((e as Error)?.message ?? e);
  if (/ENOENT/.test(msg) && /spawn/.test(msg)) return new UserError('git was not found on PATH. Install git and try again.', 'NO_GIT');
  if (/not a git repository/i.test(msg)) return new UserError(`${where} is not a git repository.`, 'NOT_A_REPO');
  return new UserError(`git failed in ${where}: ${msg.trim().split('\n').slice(0, 3).join(' ')}`, 'GIT_FAILED');
}
