/** Every reason a request is refused, so callers (the UI's "Open Settings", tests) can tell them apart. */
export type ErrorCode =
  // input
  | 'USER_ERROR' | 'BAD_VALUE' | 'BAD_PRIORITY' | 'UNKNOWN_PRIORITY' | 'ROADMAP' | 'BAD_PORTS' | 'BAD_BRANCH'
  | 'BAD_AGENT' | 'BAD_AGENT_COMMAND' | 'NO_AGENT_COMMAND' | 'BAD_WORKTREE_ROOT' | 'BAD_WORKTREE_PATH'
  // runs
  | 'ALREADY_ACTIVE' | 'PREVIOUS_RUN' | 'NO_RUN' | 'NOT_ACTIVE' | 'RUN_ACTIVE' | 'SPAWN_FAILED' | 'SETUP_FAILED'
  | 'NO_PORTS' | 'NO_TERMINAL' | 'NO_MESSAGE' | 'NOT_LATEST' | 'UNTRUSTED'
  // repositories and worktrees
  | 'NOT_A_REPO' | 'NO_GIT' | 'GIT_FAILED' | 'NO_BASE' | 'NO_BRANCH' | 'DETACHED_HEAD' | 'BRANCH_EXISTS'
  | 'PATH_EXISTS' | 'PATH_SYMLINK' | 'NOT_ISOLATED' | 'NO_WORKTREE' | 'IN_USE' | 'MAIN_CHECKOUT' | 'MAIN_DIRTY'
  | 'DIRTY_MAIN' | 'WRONG_BRANCH' | 'NO_MERGE_BASE' | 'MERGE_CONFLICT' | 'MERGE_IN_PROGRESS' | 'MERGE_INTERRUPTED'
  | 'UNMERGED_COMMITS' | 'WOULD_LOSE_WORK'
  // the state folder and its database
  | 'DB_CORRUPT' | 'DB_LOCKED' | 'DB_NEWER' | 'STATE_DIR_FULL' | 'STATE_DIR_READONLY';

/**
 * An error whose message is meant for the user as is: bad input, a refused action,
 * a missing tool. Anything else is a bug and is reported with its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode = 'USER_ERROR',
  ) {
    super(message);
    this.name = 'UserError';
  }
}
