import { BUSY_STATUSES, LIVE_STATUSES } from '../model/runStatus';
import * as path from 'node:path';
import { GitRepo, samePath, WorktreeInfo } from '../git/git';
import type { LeaderLease } from './leaderLease';
import { processesWithRunIds } from '../agent/processInfo';
import { isPoolPath, poolSetupCommand, WarmPool } from './warmPool';
import { Store } from '../db/store';
import { Run } from '../model/run';

export interface ReconcileReport {
  adopted: string[];
  ended: string[];
  resumed: string[];
  orphanWorktrees: string[];
  orphanProcesses: Array<{ pid: number; runId: string }>;
}

export interface ReconcileDeps {
  store: Store;
  lease: LeaderLease;
  stateDir: string;
  pool: WarmPool;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Records the end of a run whose agent and supervisor are both gone. */
  checkAlive: (run: Run) => void;
  /** One pass of the leader's work (resumes interrupted provisioning). */
  tick: () => Promise<void>;
  /** Resolves once the processes ended runs left behind have been ended. */
  leftoversEnded: () => Promise<void>;
}

/**
 * After a restart or a change of leader: database rows × `git worktree list` × live
 * processes. Adopts what is alive, records what died, resumes interrupted provisioning,
 * reports orphans. Deletes nothing.
 */
export async function reconcile(d: ReconcileDeps): Promise<ReconcileReport> {
  const { store, lease } = d;
  const report: ReconcileReport = { adopted: [], ended: [], resumed: [], orphanWorktrees: [], orphanProcesses: [] };
  for (const run of store.listRuns({ statuses: LIVE_STATUSES })) {
    d.checkAlive(run);
    const now = store.getRun(run.id)!;
    (now.status === run.status ? report.adopted : report.ended).push(run.id);
  }
  for (const run of store.listRuns({ statuses: ['provisioning'] })) report.resumed.push(run.id);
  await d.tick();
  const runs = store.listRuns();
  for (const repoPath of new Set(runs.map((r) => r.repo))) {
    const mine = runs.filter((r) => r.repo === repoPath);
    report.orphanWorktrees.push(...(await orphanWorktrees(d, repoPath, mine, runs)));
  }
  await d.leftoversEnded();
  const active = new Set(store.listRuns({ statuses: BUSY_STATUSES }).map((r) => r.id));
  for (const p of processesWithRunIds(d.stateDir)) if (!active.has(p.runId)) report.orphanProcesses.push(p);
  for (const w of report.orphanWorktrees) d.log('warn', `reconcile: worktree ${w} belongs to no run (left as it is).`);
  for (const p of report.orphanProcesses) d.log('warn', `reconcile: process ${p.pid} says it is run ${p.runId}, which is not active.`);
  store.immediate(() => store.addEvent(null, 'reconcile', null, null, lease.isLeader ? lease.currentFence().epoch : null, JSON.stringify({ ...report, orphanProcesses: report.orphanProcesses.length })));
  return report;
}

/** Worktrees under the roots of a repository's runs that no run recorded (pool ones aside); refills the pool. */
async function orphanWorktrees(d: ReconcileDeps, repoPath: string, mine: Run[], runs: Run[]): Promise<string[]> {
  let worktrees: WorktreeInfo[];
  try {
    worktrees = await (await GitRepo.open(repoPath)).worktrees();
  } catch (e) {
    d.log('warn', `reconcile: ${repoPath}: ${(e as Error).message}`);
    return [];
  }
  const roots = new Set(mine.map((r) => path.dirname(r.worktree)));
  const orphans = worktrees.filter((wt) => roots.has(path.dirname(wt.path)) && !runs.some((r) => samePath(r.worktree, wt.path)) && !isPoolPath(wt.path)).map((wt) => wt.path);
  const latest = mine[mine.length - 1];
  if (d.lease.isLeader) d.pool.refill(repoPath, path.dirname(latest.worktree), latest.baseRef, poolSetupCommand(latest));
  return orphans;
}
