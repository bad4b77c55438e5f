import * as fs from 'node:fs';
import * as path from 'node:path';
import { expandCommand, runDir } from './agent/agents';
import { agentTemplate, runValues, specOf, usesPlaceholder, writeSpecFile } from './agent/agentPresets';
import { GitRepo } from './git/git';
import { DEFAULT_PORTS_PER_RUN } from './db/ports';
import { branchName, validatePriorityId, worktreeDirName } from './roadmap/priorityId';
import { findPriority, loadRoadmap } from './roadmap/roadmap';
import { AlreadyActiveError, Store } from './db/store';
import { UserError } from './model/userError';
import { resolveWorktreeRoot, worktreePath } from './git/worktreePaths';
import { ACTIVE_STATUSES, isActive } from './model/runStatus';
import type { ActionKind } from './model/action';
import { ChangeWatcher } from './db/changeWatcher';
import type { GcItem } from './leader/gc';
import type { ReconcileReport } from './leader/reconcile';
import { Run } from './model/run';

/** What the requester brings: its own (user/machine-scoped) settings, never workspace ones. */
export interface SpawnSettings {
  agentCommand: readonly string[] | undefined;
  /** A preset (claude, codex, gemini, aider) or custom (agentCommand); see agentPresets.ts. */
  agent?: string;
  /** The `${prompt}` template. */
  prompt?: string;
  baseBranch?: string;
  worktreeRoot?: string;
  roadmapPath?: string;
  /** Ports leased to each run (WTO_PORT, ${port}); 0: none. Default DEFAULT_PORTS_PER_RUN. */
  portsPerRun?: number;
  /** Runs in each new worktree before the agent (machine scope), e.g. ["npm", "ci"]. */
  setupCommand?: readonly string[];
}

export interface SpawnOptions {
  newAttempt?: boolean;
  /** Who asked: shown in the tree, used by that window to open the worktree. */
  requestedBy?: string;
}

/**
 * Records a spawn request after checking everything a user can get wrong, in order, so
 * that bad input is refused before anything is written. The leader carries it out.
 */
export async function requestSpawn(store: Store, stateDir: string, repoDir: string, typed: string, settings: SpawnSettings, options: SpawnOptions = {}): Promise<Run> {
  validatePriorityId(typed.replace(/^PRIORITY\s+(?=\d)/i, 'PRIORITY-'));
  const repo = await GitRepo.open(repoDir);
  const { id, title, plan } = await checkRequest(store, stateDir, repo, typed, settings, options);
  return store.claimRun({ repo: repo.root, priority: id, title, newAttempt: options.newAttempt, requestedBy: options.requestedBy, plan });
}

type ClaimPlan = Parameters<Store['claimRun']>[0]['plan'];

/** Everything requestSpawn checks once it knows the repository. */
async function checkRequest(store: Store, stateDir: string, repo: GitRepo, typed: string, settings: SpawnSettings, options: SpawnOptions): Promise<{ id: string; title: string; plan: ClaimPlan }> {
  const roadmap = loadRoadmap(repo.root, settings.roadmapPath);
  const priority = findPriority(roadmap.priorities, typed);
  if (!priority) {
    const known = roadmap.priorities.slice(0, 8).map((p) => p.id).join(', ');
    throw new UserError(`${typed} is not a priority in ${path.relative(repo.root, roadmap.path)} (it has: ${known}${roadmap.priorities.length > 8 ? ', …' : ''}).`, 'UNKNOWN_PRIORITY');
  }
  // The canonical id, whichever of the priority's ids was typed: the unique index then sees
  // one priority for 'PRIORITY 20' and 'US-104'.
  const id = validatePriorityId(priority.id);
  // A run recorded under an alias before the roadmap combined the headings still holds the slot.
  const underAlias = priority.aliases.length ? store.listRuns({ repo: repo.root, statuses: ACTIVE_STATUSES }).find((r) => priority.aliases.includes(r.priority)) : undefined;
  if (underAlias) throw new AlreadyActiveError(underAlias);
  const root = resolveWorktreeRoot(repo.root, settings.worktreeRoot);
  const agent = agentTemplate(settings);
  const spec = specOf(agent, roadmap.path, priority.line);
  const usesSession = usesPlaceholder(agent, 'sessionId');
  const plan = (attempt: number, runId: string, baseRef: string, preview = false) => {
    const worktree = worktreePath(root, worktreeDirName(id, attempt));
    const branch = branchName(id, attempt);
    const ports = settings.portsPerRun ?? DEFAULT_PORTS_PER_RUN;
    const port = preview || !ports ? '' : String(store.leasePorts(runId, ports)); // inside the claim: leased with the run
    const values = runValues(agent, { priority: id, title: priority.title, worktree, branch, runId, repo: repo.root, port }, stateDir);
    const command = expandCommand(agent.template, values);
    const setupCommand = settings.setupCommand?.length ? expandCommand(settings.setupCommand, values) : null;
    if (spec !== undefined && !preview) writeSpecFile(values.specFile, spec, roadmap.path);
    if (!preview && usesSession) store.recordSessionId(runId, values.sessionId); // what a follow-up resumes (followUp.ts)
    return { worktree, branch, baseRef, command, setupCommand, logPath: logPathFor(stateDir, runId) };
  };
  // Validate the command and check that the next attempt's branch and folder are free,
  // before claiming: a refusal here changes nothing. The two git questions are
  // independent, so they are asked at once.
  const last = store.latestRun(repo.root, id);
  const preview = plan((last?.attempt ?? 0) + 1, 'preview', '', true);
  const checkFree = !last || options.newAttempt;
  const [baseRef, branchTaken] = await Promise.all([repo.baseBranch(settings.baseBranch), checkFree ? repo.branchExists(preview.branch) : false]);
  if (checkFree) {
    const taken = branchTaken
      ? new UserError(`The branch ${preview.branch} already exists in ${repo.root}; delete or rename it first.`, 'BRANCH_EXISTS')
      : fs.existsSync(preview.worktree)
        ? new UserError(`${preview.worktree} already exists; move it away first.`, 'PATH_EXISTS')
        : undefined;
    // A racing request may have claimed this priority since `last` was read, and its leader
    // made that branch and folder: then the claim gives the true answer (already active).
    if (taken && store.latestRun(repo.root, id)?.id === last?.id) throw taken;
  }
  return { id, title: priority.title, plan: (attempt, runId) => plan(attempt, runId, baseRef) };
}

/**
 * What a user typed to name a run ('stop US-104'), as the run is recorded: the canonical id
 * when the roadmap knows what was typed and a run of that id exists ('US-104' and
 * 'priority 20' → 'PRIORITY-20'), else `typed` as it is (a run id, an id no longer in the
 * roadmap, a run recorded under an alias before the headings were combined).
 */
export function runArgument(store: Store, repoDir: string, typed: string, roadmapPath?: string): string {
  let id: string | undefined;
  try {
    id = findPriority(loadRoadmap(repoDir, roadmapPath).priorities, typed)?.id;
  } catch {
    return typed; // no usable roadmap: the run is looked up as typed
  }
  return id && id !== typed && store.findRun(id) ? id : typed;
}



export function logPathFor(stateDir: string, runId: string): string {
  return path.join(runDir(stateDir, runId), 'agent.log');
}

// --- Requests of the leader and waiting for its answer ---------------------------------
// A request is a row (a run's stop flag, an action, a repository request); whoever leads
// carries it out and answers in the same row. The CLI waits here and prints; the UI waits
// with progress (ui/commands/leaderRequest.ts) over the same rows.

/** Resolves once `done()` holds after a change to the database (or the timeout passes). */
export function waitForChange(store: Store, done: () => boolean, timeoutMs = 60_000): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise((resolve) => {
    const watcher = new ChangeWatcher(store, 250);
    const finish = () => {
      clearTimeout(timer);
      watcher.dispose();
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    watcher.on('runs', () => done() && finish());
    watcher.start();
  });
}

/** Acts now when nobody else leads (`lead` says whether it could), else waits for the leader's answer. */
type Lead = (act: () => Promise<unknown>) => Promise<boolean>;

/** Asks for a run to stop and waits until it has ended (or `timeoutMs`); returns the run as it is then. */
export async function stopAndWait(store: Store, run: Run, lead: Lead, stop: (run: Run) => Promise<void>, timeoutMs = 30_000): Promise<Run> {
  const requested = store.requestStop(run.id);
  if (isActive(requested.status)) {
    const led = await lead(() => stop(store.getRun(run.id)!));
    if (!led) await waitForChange(store, () => !isActive(store.getRun(run.id)!.status), timeoutMs);
  }
  return store.getRun(run.id)!;
}

/** Asks the leader to merge or remove a run's work and returns its answer; refusals are UserErrors. */
export async function actionAndWait(store: Store, kind: ActionKind, run: Run, o: { force?: boolean; requestedBy: string }, lead: Lead, pass: () => Promise<void>): Promise<string> {
  const action = store.requestAction(kind, run.id, o);
  if (!(await lead(pass))) await waitForChange(store, () => store.getAction(action.id)?.status !== 'pending');
  return answerOf(store, store.getAction(action.id)!);
}

/** Asks the leader to collect a repository's garbage and returns its report. */
export async function gcAndWait(store: Store, repo: string, requestedBy: string, lead: Lead, pass: () => Promise<void>): Promise<GcItem[]> {
  const request = store.requestForRepo('gc', repo, requestedBy);
  if (!(await lead(pass))) await waitForChange(store, () => store.getRepoRequest(request.id)?.status !== 'pending');
  return JSON.parse(answerOf(store, store.getRepoRequest(request.id)!)) as GcItem[];
}

/**
 * Reconciles: here when this process can lead (`reconcileHere`), else asks the leader through
 * a request row and returns its report. `repo`: where it was asked from (a reconcile covers
 * every repository of the state folder).
 */
export async function reconcileAndWait(store: Store, repo: string, requestedBy: string, lead: Lead, reconcileHere: () => Promise<ReconcileReport>): Promise<ReconcileReport> {
  let report: ReconcileReport | undefined;
  if (await lead(async () => (report = await reconcileHere()))) return report!;
  const request = store.requestForRepo('reconcile', repo, requestedBy);
  await waitForChange(store, () => store.getRepoRequest(request.id)?.status !== 'pending');
  return JSON.parse(answerOf(store, store.getRepoRequest(request.id)!)) as ReconcileReport;
}

function answerOf(store: Store, answer: { status: 'pending' | 'done' | 'failed'; result: string | null }): string {
  if (answer.status === 'pending') throw new UserError(`The leader (pid ${store.leader().pid}) has not answered yet; the request stays queued.`);
  if (answer.status === 'failed') throw new UserError(answer.result ?? 'The leader refused.');
  return answer.result ?? '';
}
