/**
 * Run facts read from an agent's JSON-lines output (issue 15): which session it is, what it
 * did last (one short line), tokens in and out, the cost when the agent reports one, the
 * permission denials, and whether it needs the user (a denial, a question it cannot ask).
 * Pure: the supervisor feeds it the terminal's plain text (agent.log's text) chunk by chunk.
 *
 * Formats, as documented by each CLI:
 *  - Claude Code `-p --output-format stream-json --verbose`: `system`/`init` (session_id),
 *    `assistant` (message.content blocks, message.usage per message id), `user` (tool_result
 *    blocks; a denied tool's result is an error saying it "requested permissions"), `result`
 *    (total_cost_usd, usage, permission_denials[{tool_name}]).
 *  - Codex `exec --json`: `thread.started` (thread_id), `turn.completed` (usage: input_tokens,
 *    cached_input_tokens, output_tokens), `item.started`/`item.updated`/`item.completed`
 *    (item.type agent_message, reasoning, command_execution, file_change, mcp_tool_call,
 *    web_search, todo_list, error), `turn.failed`, `error`.
 *  - Gemini CLI `--output-format stream-json`: `init` (session_id), `message` (role, content,
 *    delta), `tool_use` (tool_name, parameters), `tool_result` (status, error), `error`,
 *    `result` (stats: input_tokens, output_tokens); `--output-format json`: one object with
 *    `response` and `stats.models.<model>.tokens` (prompt, candidates).
 * Anything else (plain text, garbage, other JSON) is ignored.
 */

export interface AgentFacts {
  sessionId?: string;
  /** One short line: what the agent did or said last. */
  lastActivity?: string;
  lastActivityAt?: number;
  tokensIn?: number;
  tokensOut?: number;
  costUsd?: number;
  denials: number;
  deniedTool?: string;
  /** Why the agent waits for the user, from its events (a denial, a question); undefined: it does not. */
  needsInput?: string;
}

/** A line longer than this is skipped whole (a file's content in a tool call): memory stays bounded. */
export const MAX_EVENT_LINE = 4 * 1024 * 1024;
const ACTIVITY_CHARS = 160;
const TOOL_NAMES_KEPT = 256;
/** Claude Code's answer to a tool use it may not run in print mode. */
const CLAUDE_DENIED = /requested permissions? to|haven't granted|permission.*(denied|rejected)|was blocked/i;
/** Tools whose use means the agent asks the user something it cannot get an answer to headless. */
const QUESTION_TOOLS = new Set(['AskUserQuestion', 'ask_user', 'AskUser']);

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The first non-empty line of a text, cut to one short line. */
export function oneLine(text: string, max = ACTIVITY_CHARS): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l) ?? '';
  const flat = line.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * Splits a stream into lines across chunks, never holding more than MAX_EVENT_LINE of one
 * line: the rest of a longer line is dropped until its end.
 */
export class LineSplitter {
  private partial = '';
  private skipping = false;

  constructor(private readonly maxLine = MAX_EVENT_LINE) {}

  push(chunk: string): string[] {
    const out: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      if (!this.skipping && this.partial.length + piece.length <= this.maxLine) out.push(this.partial + piece);
      this.partial = '';
      this.skipping = false;
      start = nl + 1;
    }
    const rest = chunk.slice(start);
    if (this.skipping) return out;
    if (this.partial.length + rest.length > this.maxLine) {
      this.partial = '';
      this.skipping = true;
    } else {
      this.partial += rest;
    }
    return out;
  }

  /** Bytes held for an unfinished line (for tests: it stays bounded). */
  get held(): number {
    return this.partial.length;
  }
}

/** Reads one agent's output into facts; `changed` says whether the last push changed them. */
export class AgentEventReader {
  readonly facts: AgentFacts = { denials: 0 };
  private readonly lines = new LineSplitter();
  /**
   * Claude repeats a message's usage on each of its content blocks (consecutive events with one
   * message id): counted once per message — the messages before the current one, summed, plus
   * the current one's latest usage. Constant memory however long the session.
   */
  private claudeDone = { in: 0, out: 0 };
  private claudeCurrent: { id: string; in: number; out: number } | undefined;
  private codexTurns = { in: 0, out: 0 };
  /** Tool names by tool use id, to name the tool a denial was for (the newest TOOL_NAMES_KEPT). */
  private readonly toolNames = new Map<string, string>();
  private geminiText = '';
  private dirty = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** Feeds a chunk of output; returns true when the facts changed. */
  push(chunk: string): boolean {
    this.dirty = false;
    for (const line of this.lines.push(chunk)) this.line(line);
    return this.dirty;
  }

  /** Bytes held for an unfinished line. */
  get held(): number {
    return this.lines.held;
  }

  private line(raw: string): void {
    const text = raw.trim();
    if (!text.startsWith('{') || !text.endsWith('}')) return;
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (!isObj(event)) return;
    if (typeof event.type !== 'string') return this.geminiJson(event);
    if (this.claude(event) || this.codex(event)) return;
    this.gemini(event);
  }

  private set<K extends keyof AgentFacts>(key: K, value: AgentFacts[K]): void {
    if (value === undefined || this.facts[key] === value) return;
    this.facts[key] = value;
    this.dirty = true;
  }

  private activity(text: string | undefined): void {
    const line = text && oneLine(text);
    if (!line) return;
    this.set('lastActivity', line);
    this.facts.lastActivityAt = this.now();
  }

  private rememberTool(id: string | undefined, name: string): void {
    if (!id) return;
    this.toolNames.set(id, name);
    if (this.toolNames.size > TOOL_NAMES_KEPT) this.toolNames.delete(this.toolNames.keys().next().value!);
  }

  private denied(tool: string | undefined, reason?: string): void {
    this.facts.denials++;
    this.dirty = true;
    if (tool) this.set('deniedTool', tool);
    this.set('needsInput', reason ?? `permission denied${tool ? `: ${tool}` : ''}`);
  }

  // --- Claude Code --------------------------------------------------------------------------

  private claude(e: Json): boolean {
    switch (e.type) {
      case 'system':
        if (e.subtype === 'init') this.set('sessionId', str(e.session_id));
        return true;
      case 'assistant':
        this.claudeAssistant(e);
        return true;
      case 'user':
        this.claudeToolResults(e);
        return true;
      case 'result':
        if (!('total_cost_usd' in e) && !('permission_denials' in e) && !('num_turns' in e)) return false; // Gemini's result
        this.claudeResult(e);
        return true;
      default:
        return false;
    }
  }

  private claudeAssistant(e: Json): void {
    this.set('sessionId', str(e.session_id));
    const message = isObj(e.message) ? e.message : {};
    const usage = isObj(message.usage) ? message.usage : undefined;
    if (usage) {
      const id = str(message.id) ?? '';
      const prev = this.claudeCurrent;
      if (prev && (prev.id !== id || !id)) this.claudeDone = { in: this.claudeDone.in + prev.in, out: this.claudeDone.out + prev.out };
      const cur = { id, in: num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens), out: num(usage.output_tokens) };
      this.claudeCurrent = cur;
      this.set('tokensIn', this.claudeDone.in + cur.in);
      this.set('tokensOut', this.claudeDone.out + cur.out);
    }
    for (const block of Array.isArray(message.content) ? message.content : []) {
      if (!isObj(block)) continue;
      if (block.type === 'text') this.activity(str(block.text));
      else if (block.type === 'tool_use') {
        const name = str(block.name) ?? 'tool';
        this.rememberTool(str(block.id), name);
        this.activity(`${name}: ${describeInput(block.input)}`);
        if (QUESTION_TOOLS.has(name)) this.set('needsInput', `asks: ${oneLine(questionOf(block.input) || 'a question')}`);
      }
    }
  }

  private claudeToolResults(e: Json): void {
    const message = isObj(e.message) ? e.message : {};
    for (const block of Array.isArray(message.content) ? message.content : []) {
      if (!isObj(block) || block.type !== 'tool_result' || block.is_error !== true) continue;
      const content = typeof block.content === 'string' ? block.content : Array.isArray(block.content) ? block.content.map((c) => (isObj(c) ? str(c.text) ?? '' : '')).join(' ') : '';
      if (!CLAUDE_DENIED.test(content)) continue;
      const tool = this.toolNames.get(str(block.tool_use_id) ?? '');
      this.denied(tool);
      this.activity(`denied: ${tool ?? oneLine(content)}`);
    }
  }

  private claudeResult(e: Json): void {
    this.set('sessionId', str(e.session_id));
    if (typeof e.total_cost_usd === 'number') this.set('costUsd', e.total_cost_usd);
    const usage = isObj(e.usage) ? e.usage : undefined;
    if (usage) {
      this.set('tokensIn', num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens));
      this.set('tokensOut', num(usage.output_tokens));
    }
    const denials = Array.isArray(e.permission_denials) ? e.permission_denials.filter(isObj) : [];
    // The final list is the whole truth: it also holds denials whose tool_result we did not recognise.
    if (denials.length > this.facts.denials) {
      const last = str(denials[denials.length - 1].tool_name);
      this.facts.denials = denials.length - 1;
      this.denied(last);
    }
    this.activity(str(e.result) ?? (e.is_error ? `ended with an error (${String(e.subtype ?? 'error')})` : 'finished'));
  }

  // --- Codex --------------------------------------------------------------------------------

  private codex(e: Json): boolean {
    const type = e.type as string;
    if (type === 'thread.started') this.set('sessionId', str(e.thread_id));
    else if (type === 'turn.completed' || type === 'turn.failed') {
      const usage = isObj(e.usage) ? e.usage : undefined;
      if (usage) {
        this.codexTurns = { in: this.codexTurns.in + num(usage.input_tokens), out: this.codexTurns.out + num(usage.output_tokens) };
        this.set('tokensIn', this.codexTurns.in);
        this.set('tokensOut', this.codexTurns.out);
      }
      if (type === 'turn.failed') this.activity(`turn failed: ${isObj(e.error) ? (str(e.error.message) ?? '') : ''}`);
    } else if (type.startsWith('item.')) this.codexItem(type, isObj(e.item) ? e.item : {});
    else if (type === 'error') this.activity(`error: ${str(e.message) ?? ''}`);
    else return type === 'turn.started';
    return true;
  }

  private codexItem(type: string, item: Json): void {
    const status = str(item.status);
    switch (item.type) {
      case 'agent_message':
        if (type === 'item.completed') this.activity(str(item.text));
        break;
      case 'reasoning':
        if (type === 'item.completed') this.activity(str(item.text));
        break;
      case 'command_execution':
        this.activity(`$ ${str(item.command) ?? ''}`);
        if (status === 'declined') this.denied('command_execution', `command declined: ${oneLine(str(item.command) ?? '', 80)}`);
        break;
      case 'file_change': {
        const changes = Array.isArray(item.changes) ? item.changes.filter(isObj) : [];
        this.activity(`changed ${changes.map((c) => str(c.path)).filter(Boolean).join(', ') || 'files'}`);
        if (status === 'declined') this.denied('file_change');
        break;
      }
      case 'mcp_tool_call':
        this.activity(`${str(item.server) ?? 'mcp'}: ${str(item.tool) ?? ''}`);
        break;
      case 'web_search':
        this.activity(`search: ${str(item.query) ?? ''}`);
        break;
      case 'error':
        this.activity(`error: ${str(item.message) ?? ''}`);
        break;
    }
  }

  // --- Gemini CLI ---------------------------------------------------------------------------

  private gemini(e: Json): void {
    switch (e.type) {
      case 'init':
        this.set('sessionId', str(e.session_id));
        break;
      case 'message':
        if (e.role !== 'assistant') break;
        // Streamed in deltas: the line so far is the activity.
        this.geminiText = e.delta ? (this.geminiText + (str(e.content) ?? '')).slice(-4096) : (str(e.content) ?? '');
        this.activity(this.geminiText.split('\n').filter((l) => l.trim()).pop());
        break;
      case 'tool_use':
        this.geminiText = '';
        this.rememberTool(str(e.tool_id), str(e.tool_name) ?? 'tool');
        this.activity(`${str(e.tool_name) ?? 'tool'}: ${describeInput(e.parameters)}`);
        break;
      case 'tool_result': {
        const error = isObj(e.error) ? e.error : undefined;
        if (e.status === 'error' && error && /permission|denied|not allowed|confirm|approval/i.test(`${str(error.type) ?? ''} ${str(error.message) ?? ''}`)) {
          this.denied(this.toolNames.get(str(e.tool_id) ?? ''));
        }
        break;
      }
      case 'error':
        this.activity(`${str(e.severity) ?? 'error'}: ${str(e.message) ?? ''}`);
        break;
      case 'result':
        this.geminiStats(isObj(e.stats) ? e.stats : {});
        this.activity(e.status === 'error' ? `ended with an error${isObj(e.error) ? `: ${str(e.error.message) ?? ''}` : ''}` : 'finished');
        break;
    }
  }

  private geminiStats(stats: Json): void {
    if ('input_tokens' in stats || 'output_tokens' in stats) {
      this.set('tokensIn', num(stats.input_tokens));
      this.set('tokensOut', num(stats.output_tokens));
    }
  }

  /** `--output-format json`: one object, the answer and per-model token counts. */
  private geminiJson(e: Json): void {
    if (!('response' in e) || !isObj(e.stats)) return;
    this.set('sessionId', str(e.session_id));
    const models = isObj(e.stats.models) ? Object.values(e.stats.models).filter(isObj) : [];
    let tin = 0;
    let tout = 0;
    for (const m of models) {
      const t = isObj(m.tokens) ? m.tokens : {};
      tin += num(t.prompt);
      tout += num(t.candidates);
    }
    if (models.length) {
      this.set('tokensIn', tin);
      this.set('tokensOut', tout);
    }
    this.activity(str(e.response) ?? (isObj(e.error) ? `error: ${str(e.error.message) ?? ''}` : undefined));
  }
}

/** "git status", "src/a.ts": the telling argument of a tool call, short. */
function describeInput(input: unknown): string {
  if (!isObj(input)) return '';
  for (const key of ['command', 'file_path', 'path', 'absolute_path', 'pattern', 'url', 'query', 'description', 'prompt']) {
    const v = str(input[key]);
    if (v) return oneLine(v, 100);
  }
  return '';
}

function questionOf(input: unknown): string {
  if (!isObj(input)) return '';
  if (str(input.question)) return input.question as string;
  const qs = Array.isArray(input.questions) ? input.questions.filter(isObj) : [];
  return qs.map((q) => str(q.question) ?? '').find(Boolean) ?? '';
}
