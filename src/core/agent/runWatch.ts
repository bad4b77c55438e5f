import { AgentEventReader } from './agentEvents';
import type { RunFacts, RunFactsPatch } from '../db/runFacts';

/**
 * The supervisor's view of what its agent is doing (issue 15, 16): it reads the agent's
 * output (JSON events into facts), times its silences, and marks the run — needs-input (from
 * events; or silent for needsInputSeconds after printing, while it waits at its terminal),
 * stalled (silent for stallSeconds while alive) — and clears a mark when output comes again.
 * Facts go to the database at most once per tick (about a second), coalesced, through a
 * `write` that must not wait long (a busy database is retried on the next tick): the
 * agent's output is never held up by it.
 */
export interface AttentionTimes {
  needsInputSeconds: number;
  stallSeconds: number;
}

export const DEFAULT_ATTENTION: AttentionTimes = { needsInputSeconds: 30, stallSeconds: 300 };
/** How the leader passes the settings to the supervisors it starts (they inherit its environment). */
export const ATTENTION_ENV = { needsInputSeconds: 'WTO_NEEDS_INPUT_SECONDS', stallSeconds: 'WTO_STALL_SECONDS' } as const;
/** Output this soon after a mark (a hook's, say, as the agent draws its prompt) does not clear it. */
const CLEAR_GRACE_MS = 2000;
const LAST_LINE_CHARS = 120;

export function attentionEnv(t: AttentionTimes): Record<string, string> {
  return { [ATTENTION_ENV.needsInputSeconds]: String(t.needsInputSeconds), [ATTENTION_ENV.stallSeconds]: String(t.stallSeconds) };
}

/** The times from the environment, each falling back to its default when absent or not a positive number. */
export function attentionFromEnv(env: NodeJS.ProcessEnv = process.env): AttentionTimes {
  const pick = (name: string, fallback: number) => {
    const n = Number(env[name]);
    return env[name] !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
  };
  return { needsInputSeconds: pick(ATTENTION_ENV.needsInputSeconds, DEFAULT_ATTENTION.needsInputSeconds), stallSeconds: pick(ATTENTION_ENV.stallSeconds, DEFAULT_ATTENTION.stallSeconds) };
}

/** Writes a patch; `guard` (run inside the write's transaction) says whether its attention part applies. */
export type FactsWriter = (patch: RunFactsPatch, guard?: (current: RunFacts | undefined) => boolean) => void;

export class RunWatch {
  private readonly events: AgentEventReader;
  private pending: RunFactsPatch = {};
  private lastOutputAt: number;
  private printed = false;
  private lastLine = '';
  private partialLine = '';
  /** The mark this watch set from silence, if any, and the reason it wrote. */
  private silenceMark: { attention: 'needs-input' | 'stalled'; reason: string } | undefined;
  /** The events' needs-input already marked (a new denial or question marks again). */
  private eventMarkKey = '';
  private outputSinceTick = false;

  constructor(
    private readonly times: AttentionTimes,
    private readonly write: FactsWriter,
    /** Whether the agent waits at its terminal (terminalWait.ts); undefined: cannot tell. */
    private readonly waitsForInput: () => boolean | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.events = new AgentEventReader(now);
    this.lastOutputAt = now();
  }

  /** The agent's output, as plain text (what agent.log gets). Cheap: no I/O here. */
  output(text: string): void {
    if (!text) return;
    this.lastOutputAt = this.now();
    this.printed = true;
    this.outputSinceTick = true;
    this.rememberLastLine(text);
    if (!this.events.push(text)) return;
    const f = this.events.facts;
    Object.assign(this.pending, {
      sessionId: f.sessionId,
      lastActivity: f.lastActivity,
      lastActivityAt: f.lastActivityAt,
      tokensIn: f.tokensIn,
      tokensOut: f.tokensOut,
      costUsd: f.costUsd,
      denials: f.denials,
      deniedTool: f.deniedTool,
    });
  }

  /** Once a second: what changed goes to the database, and the silence is judged. */
  tick(alive: boolean): void {
    const patch = this.pending;
    this.pending = {};
    let guard: ((current: RunFacts | undefined) => boolean) | undefined;
    const f = this.events.facts;
    const eventKey = f.needsInput ? `${f.denials}:${f.needsInput}` : '';
    const silent = this.now() - this.lastOutputAt;
    if (eventKey && eventKey !== this.eventMarkKey) {
      this.eventMarkKey = eventKey;
      this.silenceMark = undefined;
      Object.assign(patch, { attention: 'needs-input', attentionReason: f.needsInput });
    } else if (this.outputSinceTick) {
      // Back to work: a mark from before this output is cleared — not the events' own, nor one set just now.
      // Its own silence mark goes in any case: output came after it.
      const since = this.lastOutputAt - CLEAR_GRACE_MS;
      const eventReason = f.needsInput;
      const mine = this.silenceMark;
      this.silenceMark = undefined;
      Object.assign(patch, { attention: null });
      guard = (c) =>
        !!c?.attention &&
        ((mine !== undefined && c.attention === mine.attention && c.attentionReason === mine.reason) ||
          ((c.attentionAt ?? 0) < since && !(c.attention === 'needs-input' && c.attentionReason === eventReason)));
    } else if (alive) {
      const mark = this.judgeSilence(silent);
      if (mark && (mark.attention !== this.silenceMark?.attention || mark.reason !== this.silenceMark.reason)) {
        const mine = this.silenceMark;
        this.silenceMark = mark;
        Object.assign(patch, { attention: mark.attention, attentionReason: mark.reason });
        // Never over someone else's needs-input (an event's, a hook's); stalled never over needs-input.
        guard = (c) => !c?.attention || (mine !== undefined && c.attention === mine.attention && c.attentionReason === mine.reason) || (c.attention === 'stalled' && mark.attention === 'needs-input');
      }
    }
    this.outputSinceTick = false;
    if (Object.keys(patch).length) this.flush(patch, guard);
  }

  /** The agent ended: the facts and event marks so far, and its silence marks cleared (they no longer hold). */
  finish(): void {
    this.tick(false);
    const mine = this.silenceMark;
    this.silenceMark = undefined;
    if (mine) this.flush({ attention: null }, (c) => c?.attention === mine.attention && c.attentionReason === mine.reason);
  }

  private judgeSilence(silentMs: number): { attention: 'needs-input' | 'stalled'; reason: string } | undefined {
    if (this.printed && silentMs >= this.times.needsInputSeconds * 1000 && this.waitsForInput()) {
      return { attention: 'needs-input', reason: `waiting at its terminal${this.lastLine ? ` after: ${this.lastLine}` : ''}` };
    }
    if (silentMs >= this.times.stallSeconds * 1000) return { attention: 'stalled', reason: `no output for ${this.times.stallSeconds}s` };
    return undefined;
  }

  private flush(patch: RunFactsPatch, guard?: (current: RunFacts | undefined) => boolean): void {
    try {
      this.write(patch, guard);
    } catch {
      // Busy or full: the facts go again with the next tick (newer values win), the mark is judged again.
      const { attention, attentionReason: _reason, ...facts } = patch;
      this.pending = { ...facts, ...this.pending };
      if (attention === null) this.outputSinceTick = true;
      else if (attention && this.silenceMark) this.silenceMark = undefined;
      else if (attention) this.eventMarkKey = '';
    }
  }

  /** The last non-empty line printed (for the needs-input reason: usually the question). */
  private rememberLastLine(text: string): void {
    const joined = (this.partialLine + text).slice(-4096);
    const lines = joined.split(/\r?\n/);
    this.partialLine = lines[lines.length - 1];
    const last = lines.map((l) => l.trim()).filter(Boolean).pop();
    if (last) this.lastLine = last.length > LAST_LINE_CHARS ? `${last.slice(0, LAST_LINE_CHARS - 1)}…` : last;
  }
}
