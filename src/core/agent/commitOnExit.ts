import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { CommitAllResult, hasUncommittedChanges } from '../git/git';
// Commit on exit (setting worktreeOrchestrator.commitOnExit, CLI --no-commit-on-exit): what an
// agent leaves uncommitted in its worktree when it ends is committed on the run's branch, so
// Diff, Merge and the no-loss rules see it.
//
// It is the supervisor's last act before the database hears of the exit, for two reasons.
// The supervisor is the one process sure to be there when the agent ends (no window or leader
// need be open). And until it records the exit the run is still active in the database, so
// the one-active-run index refuses a follow-up or a new attempt, and removal (of ended runs
// only) cannot see the worktree clean-but-uncommitted and race the commit. exit.json is
// written before it, so a hook that hangs or a supervisor killed meanwhile loses no exit code:
// the leader then records the end from exit.json, and the changes stay uncommitted, where the
// no-loss rules still keep them.

/** What the leader tells a run's supervisor, on its command line, when commitOnExit is on. */
export interface CommitOnExitPlan {
  repo: string;
  branch: string;
  priority: string;
  attempt: number;
  runId: string;
  /**
   * The bundled CLI (dist/cli.js): the commit runs in a child process of it, through git.ts's
   * queue and lock retry. That keeps GitRepo and execa out of the supervisor's own bundle,
   * which starts on every spawn's path (with them, supervisor.json came 40 ms later, 89 → 129
   * ms); only the clean check (one `git status`) is bundled, so a clean run starts no CLI.
   */
  cli: string;
}

/** The CLI's hidden command that carries out a commit on exit: one JSON argument (CommitRequest), one JSON line printed (CommitAllResult). */
export const COMMIT_ON_EXIT_COMMAND = '__commit-on-exit';

export interface CommitRequest {
  repo: string;
  worktree: string;
  branch: string;
  message: string;
  timeoutMs: number;
}

/** How the agent ended (agents.ts ExitRecord, of which only this is read). */
type ExitRecord = { code: number | null; signal: string | null; error: string | null };

/** A hook that runs longer than this is stopped, and the commit reported as failed. */
const COMMIT_TIMEOUT_MS = 5 * 60_000;

/** The event a commit on exit leaves in the run's history (kind, detail). */
export interface CommitOnExitEvent {
  kind: 'committed-on-exit' | 'commit-on-exit-failed' | 'commit-on-exit-refused';
  detail: string;
}

export function commitMessage(plan: CommitOnExitPlan, exit: ExitRecord): string {
  const how = exit.signal ? `was ended by ${exit.signal}` : `exited with code ${exit.code}`;
  return [
    `wto: changes left by ${plan.priority} run #${plan.attempt} (${plan.runId})`,
    '',
    `The agent ${how} and left these changes uncommitted in its worktree;`,
    'worktree-orchestrator committed them on the run\'s branch (commitOnExit) so that',
    'Diff, Merge and the no-loss rules see them.',
  ].join('\n');
}

/** Reads --commit-on-exit's JSON; undefined when absent or not a plan (then nothing is committed). */
export function parseCommitPlan(json: string | undefined): CommitOnExitPlan | undefined {
  if (!json) return undefined;
  try {
    const p = JSON.parse(json) as Partial<CommitOnExitPlan>;
    const ok = typeof p.repo === 'string' && typeof p.branch === 'string' && typeof p.priority === 'string' && typeof p.runId === 'string' && typeof p.cli === 'string' && Number.isInteger(p.attempt);
    return ok ? (p as CommitOnExitPlan) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Commits what the agent left in `worktree`, writing what happened to the run's log; returns
 * the event to record, or undefined when there was nothing to commit (or the agent never
 * started: nothing it left). Never throws.
 */
export async function commitLeftChanges(plan: CommitOnExitPlan, worktree: string, exit: ExitRecord, log: (text: string) => void): Promise<CommitOnExitEvent | undefined> {
  if (exit.error) return undefined;
  const line = (text: string) => log(`[orchestrator] ${new Date().toISOString()} ${text}\n`);
  let event: CommitOnExitEvent | undefined;
  try {
    if (!(await hasUncommittedChanges(worktree))) return undefined;
    const r = await commitInCli(plan.cli, { repo: plan.repo, worktree, branch: plan.branch, message: commitMessage(plan, exit), timeoutMs: COMMIT_TIMEOUT_MS });
    if (r.outcome === 'clean') return undefined;
    if (r.outcome === 'committed') {
      event = { kind: 'committed-on-exit', detail: `${r.commit?.slice(0, 12)}: ${r.files} file${r.files === 1 ? '' : 's'} the agent left uncommitted` };
      line(`commit on exit: committed ${event.detail}, on ${plan.branch}`);
    } else if (r.outcome === 'refused') {
      event = { kind: 'commit-on-exit-refused', detail: r.output };
      line(`commit on exit refused: ${r.output}`);
    } else {
      event = { kind: 'commit-on-exit-failed', detail: firstLines(r.output) };
      line(`commit on exit failed, the changes stay (staged, not committed) in ${worktree}; git said:\n${r.output}`);
    }
  } catch (e) {
    event = { kind: 'commit-on-exit-failed', detail: firstLines((e as Error).message) };
    line(`commit on exit failed, the changes stay in ${worktree}: ${(e as Error).message}`);
  }
  return event;
}

/** git.ts commitAll, in a child process of the CLI (see CommitOnExitPlan.cli). */
function commitInCli(cli: string, req: CommitRequest): Promise<CommitAllResult> {
  return new Promise((resolve, reject) => {
    // process.execPath with the supervisor's environment: Node, or Electron run as Node.
    execFile(process.execPath, [cli, COMMIT_ON_EXIT_COMMAND, JSON.stringify(req)], { cwd: path.dirname(cli), timeout: req.timeoutMs + 30_000, maxBuffer: 16 * 1024 * 1024, windowsHide: true }, (e, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as CommitAllResult);
      } catch {
        reject(new Error(`the commit process ${e ? `failed (${e.message.split('\n')[0]})` : 'gave no answer'}${stderr.trim() ? `: ${stderr.trim().slice(0, 2000)}` : ''}`));
      }
    });
  });
}

/** Records the event in the run's history, best effort: the log line is already written. */
export function recordCommitEvent(stateDir: string, runId: string, event: CommitOnExitEvent): void {
  try {
    const { Store } = require('../db/store') as typeof import('../db/store');
    const store = Store.open(stateDir);
    try {
      store.addEvent(runId, event.kind, null, null, null, event.detail);
    } finally {
      store.close();
    }
  } catch {
    // a full or locked state folder: the run's log has it
  }
}

function firstLines(text: string): string {
  return text.split('\n').filter((l) => l.trim()).slice(0, 5).join(' / ').slice(0, 600);
}
