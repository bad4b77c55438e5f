import { loadRoadmap, Roadmap } from './roadmap';
import { requestSpawn, SpawnSettings } from '../requests';
import { Store } from '../db/store';
import { ACTIVE_STATUSES, isActive } from '../model/runStatus';
import { Run } from '../model/run';

/** What `start --loop` / "Start Continuous Work Loop" persists with the loop's on/off state. */
export interface LoopConfig extends SpawnSettings {
  /** New attempts after a failed or lost run, before the loop leaves the priority failed. */
  maxRetries?: number;
  /** Delay before the first retry; doubles with each further failure. */
  retryDelayMs?: number;
}

export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_RETRY_DELAY_MS = 60_000;

export interface LoopDecision {
  priority: string;
  action: 'request' | 'retry' | 'wait' | 'skip';
  reason: string;
}

/**
 * What the loop should do for each planned priority, in roadmap order: a pure function of
 * the roadmap and the runs, so it is the same in every leader and after any restart.
 */
export function planLoop(planned: string[], runs: Run[], capacity: number, config: Pick<LoopConfig, 'maxRetries' | 'retryDelayMs'>, now: number): LoopDecision[] {
  const maxRetries = config.maxRetries ?? DEFAULT_MAX_RETRIES;
  const delay = config.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  const decisions: LoopDecision[] = [];
  for (const priority of planned) {
    const history = runs.filter((r) => r.priority === priority).sort((a, b) => a.attempt - b.attempt);
    const last = history[history.length - 1];
    if (!last) {
      decisions.push(capacity > 0 ? { priority, action: 'request', reason: 'planned' } : { priority, action: 'wait', reason: 'at maxParallel' });
      if (capacity > 0) capacity--;
      continue;
    }
    if (isActive(last.status)) {
      decisions.push({ priority, action: 'skip', reason: `run #${last.attempt} is ${last.status}` });
      continue;
    }
    if (last.status === 'succeeded') {
      decisions.push({ priority, action: 'skip', reason: `succeeded in run #${last.attempt}` });
      continue;
    }
    if (last.status === 'stopped') {
      decisions.push({ priority, action: 'skip', reason: `stopped by the user in run #${last.attempt}` });
      continue;
    }
    // failed or lost: bounded retries, with a growing delay
    const failures = history.filter((r) => r.status === 'failed' || r.status === 'lost').length;
    if (failures > maxRetries) {
      decisions.push({ priority, action: 'skip', reason: `failed ${failures} times; retries exhausted` });
      continue;
    }
    const due = (last.endedAt ?? 0) + delay * 2 ** (failures - 1);
    if (now < due) {
      decisions.push({ priority, action: 'wait', reason: `retry ${failures} of ${maxRetries} at ${new Date(due).toISOString()}` });
      continue;
    }
    decisions.push(capacity > 0 ? { priority, action: 'retry', reason: `retry ${failures} of ${maxRetries}` } : { priority, action: 'wait', reason: 'at maxParallel' });
    if (capacity > 0) capacity--;
  }
  return decisions;
}

/**
 * One pass of the continuous loop for every repository whose loop is on. Requests go
 * through the same atomic claim as a user's spawn, so a loop that runs twice (two
 * leaders in a race, a restart) still cannot duplicate a run.
 */
export async function runLoopPass(store: Store, stateDir: string, maxParallel: number, log: (level: 'info' | 'warn', m: string) => void): Promise<{ nextDueAt: number | undefined }> {
  let nextDueAt: number | undefined;
  for (const loop of store.loops()) {
    if (!loop.enabled) continue;
    const config = loop.config as LoopConfig;
    let roadmap: Roadmap & { path: string };
    try {
      roadmap = loadRoadmap(loop.repo, config.roadmapPath);
    } catch (e) {
      log('warn', `loop ${loop.repo}: ${(e as Error).message}`);
      continue;
    }
    logWarningsOnce(loop.repo, roadmap, log);
    const planned = roadmap.priorities.filter((p) => p.status === 'planned').map((p) => p.id);
    const active = store.listRuns({ statuses: ACTIVE_STATUSES }).length;
    // Runs recorded under an alias (before the roadmap combined the headings) count as runs
    // of the canonical id, so the loop does not start the same story again.
    const canonical = new Map(roadmap.priorities.flatMap((p) => p.aliases.map((a) => [a, p.id] as const)));
    const runs = store.listRuns({ repo: loop.repo }).map((r) => (canonical.has(r.priority) ? { ...r, priority: canonical.get(r.priority)! } : r));
    const now = Date.now();
    for (const d of planLoop(planned, runs, maxParallel - active, config, now)) {
      if (d.action === 'wait' && d.reason.startsWith('retry')) {
        const at = Date.parse(d.reason.slice(d.reason.lastIndexOf(' at ') + 4));
        nextDueAt = Math.min(nextDueAt ?? Infinity, at);
      }
      if (d.action !== 'request' && d.action !== 'retry') continue;
      try {
        const run = await requestSpawn(store, stateDir, loop.repo, d.priority, config, { newAttempt: d.action === 'retry', requestedBy: 'loop' });
        log('info', `loop: requested ${run.priority} (attempt ${run.attempt}, ${d.reason}).`);
      } catch (e) {
        log('warn', `loop: could not request ${d.priority}: ${(e as Error).message}`);
      }
    }
  }
  return { nextDueAt };
}

/** The roadmap warnings last logged per repository: the loop runs often, a warning is logged once. */
const loggedWarnings = new Map<string, string>();

function logWarningsOnce(repo: string, roadmap: Roadmap & { path: string }, log: (level: 'info' | 'warn', m: string) => void): void {
  const key = roadmap.warnings.map((w) => w.message).join('\n');
  if (loggedWarnings.get(repo) === key) return;
  loggedWarnings.set(repo, key);
  for (const w of roadmap.warnings) log('warn', `roadmap ${roadmap.path}: ${w.message}`);
}
