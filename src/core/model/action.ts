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
