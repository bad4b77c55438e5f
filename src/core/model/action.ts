/** A merge or remove asked of the leader by any window or the CLI, answered in the same row. */
export type ActionKind = 'merge' | 'remove';
export interface Action {
  id: number;
  kind: ActionKind;
  runId: string;
  force: boolean;
  status: 'pending' | 'done' | 'failed';
  requestedBy: string | null;
  result: string | null;
  createdAt: number;
  doneAt: number | null;
}

/** A request for the leader to act on a whole repository (gc) or to reconcile, from any window or the CLI. */
export interface RepoRequest {
  id: number;
  kind: 'gc' | 'reconcile';
  /** gc: the repository; reconcile (which covers every repository): the one it was asked from. */
  repo: string;
  status: 'pending' | 'done' | 'failed';
  requestedBy: string | null;
  /** done: the gc or reconcile report as JSON; failed: why. */
  result: string | null;
  createdAt: number;
  doneAt: number | null;
}
