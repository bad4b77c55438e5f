/** Where a run is in its life. The named sets below are the only lists of them. */
export type RunStatus =
  | 'requested'
  | 'provisioning'
  | 'running'
  | 'stopping'
  | 'succeeded'
  | 'failed'
  | 'stopped'
  | 'lost';

/** Holds the priority's one active slot (the unique partial index in SQLite says the same). */
export const ACTIVE_STATUSES = ['requested', 'provisioning', 'running', 'stopping'] as const satisfies readonly RunStatus[];
/** Taken by the leader: counts against maxParallel. */
export const BUSY_STATUSES = ['provisioning', 'running', 'stopping'] as const satisfies readonly RunStatus[];
/** An agent process was started and may be alive. */
export const LIVE_STATUSES = ['running', 'stopping'] as const satisfies readonly RunStatus[];
/** Over: its worktree and branch are results to diff, merge or remove. */
export const ENDED_STATUSES = ['succeeded', 'failed', 'stopped', 'lost'] as const satisfies readonly RunStatus[];

export const isActive = (s: RunStatus): boolean => (ACTIVE_STATUSES as readonly RunStatus[]).includes(s);

/** A set as an SQL list, `('a','b')`, for queries (the values are the constants above, never input). */
export const sqlList = (statuses: readonly RunStatus[]): string => `(${statuses.map((x) => `'${x}'`).join(',')})`;
