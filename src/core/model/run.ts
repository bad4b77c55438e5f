import type { RunStatus } from './runStatus';

/** One attempt of one priority: its row in `runs`, as the rest of the code sees it. */
export interface Run {
  id: string;
  repoId: number;
  repo: string;
  agentType: string;
  priority: string;
  title: string | null;
  attempt: number;
  status: RunStatus;
  /** Last provisioning intent: claimed, worktree, spawn. */
  step: string | null;
  requestedBy: string | null;
  pid: number | null;
  pidStart: string | null;
  supervisorPid: number | null;
  command: string[];
  worktree: string;
  branch: string;
  baseRef: string;
  baseCommit: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  error: string | null;
  logPath: string;
  epoch: number | null;
  stopRequested: boolean;
  worktreeLocked: boolean;
  /** Runs in the new worktree before the agent starts (machine-scoped setting). */
  setupCommand: string[] | null;
}

/** One line of a run's history (`events`): transitions, steps, leader acts. */
export interface RunEvent {
  id: number;
  runId: string | null;
  at: number;
  kind: string;
  fromStatus: string | null;
  toStatus: string | null;
  epoch: number | null;
  detail: string | null;
}
