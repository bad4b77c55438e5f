import * as fs from 'node:fs';
import { expandCommand } from './agent/agents';
import { agentTemplate, runValues, specOf, writeSpecFile } from './agent/agentPresets';
import { followUpTemplate } from './agent/followUpArgv';
import { DEFAULT_PORTS_PER_RUN } from './db/ports';
import { AlreadyActiveError, Store } from './db/store';
import { GitRepo, samePath } from './git/git';
import { UserError } from './model/userError';
import { logPathFor, runArgument, SpawnSettings } from './requests';
import { findPriority, loadRoadmap } from './roadmap/roadmap';
import { isActive } from './model/runStatus';
import { Run } from './model/run';

/**
 * The session a follow-up of `run` resumes: the id the run's agent was started with
 * (`${sessionId}`, recorded at its claim). One place to decide it, so that an id learned from
 * the agent's own events (codex names its session itself) can be preferred here.
 */
export function sessionIdOf(store: Store, run: Pick<Run, 'id'>): string | undefined {
  // What the agent said its session is (its JSON events: Codex makes its own id) wins over the
  // ${sessionId} it was started with (Claude takes ours).
  return store.runFacts(run.id)?.sessionId ?? store.runSessionId(run.id);
}

/**
 * Requests the next run of a priority in the SAME worktree and branch as its previous run,
 * told `message`: the agent's session is resumed where its CLI can (followUpArgv.ts), else it
 * starts fresh with the message as its prompt. Claimed like any run, through the same unique
 * index: while a run of the priority is active the answer is "already active". Refuses, with
 * nothing changed, when the previous run's worktree is gone, on another branch, or has since
 * been taken over by a later run. The leader then reuses the worktree (followUpWorktree.ts).
 */
export async function requestFollowUp(store: Store, stateDir: string, repoDir: string, typed: string, message: string, settings: SpawnSettings, o: { requestedBy?: string } = {}): Promise<Run> {
  if (!message.trim()) throw new UserError('A follow-up needs a message: what the agent should do next.', 'NO_MESSAGE');
  const repo = await GitRepo.open(repoDir);
  const previous = store.findRun(runArgument(store, repo.root, typed, settings.roadmapPath), repo.root);
  if (!previous) throw new UserError(`No run matches "${typed}" in ${repo.root}.`, 'NO_RUN');
  const active = store.activeRun(repo.root, previous.priority, previous.agentType);
  if (active) throw new AlreadyActiveError(active);
  await assertWorktreeKept(store, repo, previous);
  const agent = agentTemplate(settings);
  const sessionId = sessionIdOf(store, previous);
  const { template, resumed } = followUpTemplate(agent, sessionId);
  const { title, spec, roadmapPath } = priorityOf(repo.root, previous, settings, agent);
  const plan = (attempt: number, runId: string) => {
    // Inside the claim: a run claimed since the checks above wins (the same answer as the index's).
    const now = store.activeRun(repo.root, previous.priority, previous.agentType);
    if (now) throw new AlreadyActiveError(now);
    assertLatestAt(store, previous);
    const ports = settings.portsPerRun ?? DEFAULT_PORTS_PER_RUN;
    const port = ports ? String(store.leasePorts(runId, ports)) : '';
    const values = runValues(agent, { priority: previous.priority, title, worktree: previous.worktree, branch: previous.branch, runId, repo: repo.root, port }, stateDir);
    values.prompt = message; // as typed: a follow-up's message is not a template
    if (resumed) values.sessionId = sessionId!;
    const command = expandCommand(template, values);
    if (spec !== undefined) writeSpecFile(values.specFile, spec, roadmapPath!);
    if (command.some((arg) => arg.includes(values.sessionId))) store.recordSessionId(runId, values.sessionId);
    // No setup command: it ran when the worktree was made, and the work is in it now.
    return { worktree: previous.worktree, branch: previous.branch, baseRef: previous.baseRef, command, setupCommand: null, logPath: logPathFor(stateDir, runId) };
  };
  return store.immediate(() => {
    const run = store.claimRun({ repo: repo.root, priority: previous.priority, title, agentType: previous.agentType, newAttempt: true, requestedBy: o.requestedBy, plan });
    store.recordFollowUp(run.id, previous.id, message);
    store.addEvent(run.id, 'follow-up', null, null, null, `of run ${previous.id} (#${previous.attempt}) in ${previous.worktree}${resumed ? `, resuming session ${sessionId}` : ', a fresh start'}`);
    return run;
  });
}

/** The previous run's worktree is still there, on its branch, and no later run took it over. */
async function assertWorktreeKept(store: Store, repo: GitRepo, previous: Run): Promise<void> {
  const what = `${previous.priority} #${previous.attempt}`;
  const listed = (await repo.worktrees()).find((w) => samePath(w.path, previous.worktree));
  if (!fs.existsSync(previous.worktree) || !listed) {
    throw new UserError(`The worktree of ${what} (${previous.worktree}) is gone: a follow-up works in the previous run's worktree and branch. Start a New Attempt instead; nothing was changed.`, 'NO_WORKTREE');
  }
  if (listed.branch !== previous.branch) {
    throw new UserError(`The worktree of ${what} (${previous.worktree}) has ${listed.branch ? `branch ${listed.branch}` : 'a detached HEAD'} checked out, not its branch ${previous.branch}; check the branch out there again, or start a New Attempt. Nothing was changed.`, 'WRONG_BRANCH');
  }
  assertLatestAt(store, previous);
}

/** No run has worked in the previous run's worktree since; one that is still active is answered as the index would (a racing follow-up). */
function assertLatestAt(store: Store, previous: Run): void {
  const later = store.runsAtWorktrees(previous.repo, [previous.worktree]).find((r) => r.id !== previous.id && r.createdAt >= previous.createdAt);
  if (later && isActive(later.status)) throw new AlreadyActiveError(later);
  if (later) throw new UserError(`${previous.worktree} has since been worked in by ${later.priority} #${later.attempt} (run ${later.id}); follow up that run instead. Nothing was changed.`, 'NOT_LATEST');
}

/** The priority's title and spec from the roadmap as it is now; the recorded title when it has gone from it. */
function priorityOf(root: string, previous: Run, settings: SpawnSettings, agent: ReturnType<typeof agentTemplate>): { title: string; spec?: string; roadmapPath?: string } {
  try {
    const roadmap = loadRoadmap(root, settings.roadmapPath);
    const found = findPriority(roadmap.priorities, previous.priority);
    if (found) return { title: found.title, spec: specOf(agent, roadmap.path, found.line), roadmapPath: roadmap.path };
  } catch {
    // no usable roadmap: the follow-up still goes on with what the run recorded
  }
  return { title: previous.title ?? previous.priority };
}
