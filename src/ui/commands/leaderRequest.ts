import type { Services } from '../host/services';
import { waitWithProgress } from './waitWithProgress';
import type { Run } from '../../core/model/run';
import type { Action, ActionKind } from '../../core/model/action';

/** How long a window waits for the leader's answer before saying the request stays queued. */
const ANSWER_TIMEOUT_MS = 120_000;

/**
 * Asks the leader — this window, another one, or the CLI — to merge or remove for a run,
 * and waits for its answer in the same row (the ChangeWatcher wakes us; no polling). A
 * standby never acts itself: side effects are the leader's, after its fenced intent record.
 * Returns the action as answered, or still pending after the timeout / cancellation.
 */
export async function requestFromLeader(s: Services, kind: ActionKind, run: Run, o: { force?: boolean; title: string }): Promise<Action> {
  const action = s.host.store.requestAction(kind, run.id, { force: o.force, requestedBy: s.windowLabel });
  s.log.info(`Requested ${kind}${o.force ? ' (forced, confirmed by the user)' : ''} for ${run.priority} #${run.attempt} (action ${action.id}).`);
  return waitWithProgress(s, {
    title: o.title,
    timeoutMs: ANSWER_TIMEOUT_MS,
    read: () => s.host.store.getAction(action.id) ?? action,
    done: (a) => a.status !== 'pending',
    message: () => (s.host.isLeader ? '' : s.host.leaderAlive() ? 'waiting for the leading window…' : 'waiting for a leader to take over…'),
  });
}

/** Tells the user how the leader answered. */
export function reportAnswer(s: Services, action: Action, onDone?: { title: string; run(): unknown }): void {
  if (action.status === 'done') s.notifier.info(action.result ?? `${action.kind} done.`, ...(onDone ? [onDone] : []));
  else if (action.status === 'failed') s.notifier.error(action.result ?? `${action.kind} failed.`);
  else s.notifier.info(`The leader has not answered the ${action.kind} request yet; it stays queued and is carried out when a leader picks it up.`);
}
