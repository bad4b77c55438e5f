import { FencedError } from '../db/store';
import { UserError } from '../model/userError';

/** What the leader writes back into a request row (merge, remove, gc, reconcile). */
export interface RequestAnswer {
  status: 'done' | 'failed';
  /** done: what `work` returned; failed: the refusal's message, or the stack of anything else. */
  result: string;
}

/**
 * Carries out one request of another process and says how it went, for its row. A fenced
 * leader does not answer: FencedError goes on to the pass, and the next leader answers.
 */
export async function answerRequest(work: () => Promise<string>): Promise<RequestAnswer> {
  try {
    return { status: 'done', result: await work() };
  } catch (e) {
    if (e instanceof FencedError) throw e;
    return { status: 'failed', result: e instanceof UserError ? e.message : String((e as Error).stack ?? e) };
  }
}
