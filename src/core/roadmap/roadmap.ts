/**
 * Roadmap: the priorities an agent can be spawned for, read from the roadmap markdown.
 *
 * Pure Node (no `vscode`) so the extension, the CLI and plain unit tests share it.
 * Real roadmaps are big and untidy (the replaced system's was 1.1 MB with ~140 priorities
 * and >500 code-fence lines), so this is one linear pass over the lines with anchored or
 * bounded patterns: no markdown library, and no regex that can backtrack badly on a long line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../model/userError';

export type PriorityStatus = 'planned' | 'in-progress' | 'complete' | 'blocked' | 'unknown';

/**
 * Where a priority's status came from: its section's first `**Status**:` line (which wins),
 * a status prefix of the heading (`## ✅ COMPLETE: US-010 - …`), the heading's status emoji
 * or marked status word, or nowhere ('unknown').
 */
export type StatusSource = 'status-line' | 'prefix' | 'heading' | 'none';

export interface RoadmapPriority {
  /** Canonical id: 'US-036', 'PRIORITY-20', 'PRIORITY-2.5'. Always matches PRIORITY_ID_RE. */
  id: string;
  /**
   * Further ids the heading gives the same priority: ['US-104'] for 'PRIORITY 20: US-104 - …'.
   * Each reaches this priority, whose runs are all recorded under `id` (one slot).
   */
  aliases: string[];
  /** What a person would call it: the heading without ids, emojis, bold, status and trailing tags. */
  title: string;
  status: PriorityStatus;
  statusFrom: StatusSource;
  /** 1-based line of the heading. */
  line: number;
  /** 1-based line of the Status line, when that gave the status. */
  statusLine?: number;
}

/** Something the author probably did not mean; the parser still reads the rest. */
export interface RoadmapWarning {
  /**
   * duplicate: an id (or alias) defined again, the later heading ignored; alias-taken: an
   * alias that is already another priority's id or alias, dropped; not-taken: a heading
   * that starts like a priority but is not one; status-unknown: a Status line whose value
   * is not a status (the heading's status stays).
   */
  kind: 'duplicate' | 'alias-taken' | 'not-taken' | 'status-unknown';
  /** 1-based line the warning is about. */
  line: number;
  /** duplicate / alias-taken: the line of the definition that is used. */
  keptLine?: number;
  id?: string;
  message: string;
}

export interface Roadmap {
  priorities: RoadmapPriority[];
  warnings: RoadmapWarning[];
}

/** A problem the user has to fix (missing, unreadable or empty roadmap, bad path setting). */
export class RoadmapError extends UserError {
  constructor(message: string) {
    super(message, 'ROADMAP');
    this.name = 'RoadmapError';
  }
}

/**
 * Every id the parser produces matches this. Ids end up in branch names and worktree
 * directory names, so they must not be able to carry '..', '/', spaces, control characters
 * or a leading '-' (which git would read as an option).
 */
export const PRIORITY_ID_RE = /^[A-Z]{2,16}-[0-9]{1,9}(?:\.[0-9]{1,9})?$/;

const DEFAULT_PATHS = ['docs/roadmap/ROADMAP.md', 'ROADMAP.md'];
/** Far above any real roadmap; refusing beats freezing the extension host on a huge file. */
const MAX_BYTES = 64 * 1024 * 1024;

// --- Status words and emojis -------------------------------------------------------------

const STATUS_EMOJI = '✅|✔|☑|🔄|🚧|⏸|⛔|🚫|📝|📋';
/** Leftmost match decides, so '📝 Planned - blocked by US-12' is planned. */
const STATUS_RE = new RegExp(
  [
    '(✅|✔|☑|\\bcompleted?\\b|\\bdone\\b|\\bfinished\\b)',
    '(🔄|🚧|\\bin[ -]?progress\\b|\\bwip\\b|\\bongoing\\b)',
    '(⏸|⛔|🚫|\\bblocked\\b|\\bon[ -]hold\\b|\\bpaused\\b)',
    '(📝|📋|\\bplanned\\b|\\bbacklog\\b|\\btodo\\b|\\bnot[ -]started\\b)',
  ].join('|'),
  'iu',
);
const STATUS_BY_GROUP: PriorityStatus[] = ['complete', 'in-progress', 'blocked', 'planned'];

function classify(text: string): PriorityStatus | undefined {
  const m = STATUS_RE.exec(text);
  if (!m) return undefined;
  const group = m.slice(1).findIndex((g) => g !== undefined);
  return STATUS_BY_GROUP[group];
}

// --- Lines --------------------------------------------------------------------------------

/** ATX heading of any level: every level ends the sections at or below it. */
const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t]|$)/;
/**
 * Code fence. Any indentation is accepted (not CommonMark's 0-3) because roadmaps nest
 * fences in list items, and a missed fence would turn its example headings into priorities.
 */
const FENCE_RE = /^[ \t]*(`{3,}|~{3,})(.*)$/s;
const COMMENT_OPEN_RE = /^ {0,3}<!--/;
/** '**Status**: …', '**Status:** …', '- Status: …', '> **Status**: …' in any case. */
const STATUS_LINE_RE = /^[\s>*+_-]*status[\s*_]*:(.*)$/is;

interface Fence {
  char: string;
  len: number;
}

function openFence(line: string): Fence | undefined {
  const m = FENCE_RE.exec(line);
  // '```js```' is inline code, not a fence: a backtick fence's info string has no backtick.
  if (!m || (m[1][0] === '`' && m[2].includes('`'))) return undefined;
  return { char: m[1][0], len: m[1].length };
}

/** Only the same character, at least as long, and nothing after it closes a fence. */
function closesFence(line: string, fence: Fence): boolean {
  const m = FENCE_RE.exec(line);
  return !!m && m[1][0] === fence.char && m[1].length >= fence.len && m[2].trim() === '';
}

// --- Priority headings --------------------------------------------------------------------

/** Emojis, bold/italic markers and spaces allowed before the id: '🟢 **PRIORITY 8: …'. */
const LEAD_RE = /^(?:[\s*_]|\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\u200D|\uFE0F)+/u;
const NUMBER = '([0-9]{1,9}(?:\\.[0-9]{1,9})?)';
const PRIORITY_WORD_RE = new RegExp(`^(priority)[ -]${NUMBER}`, 'i');
/** Uppercase only, so prose such as 'Step-2' or 'covid-19' is not an id. */
const LETTERS_ID_RE = new RegExp(`^([A-Z]{2,16})-${NUMBER}`);
/**
 * What may follow the id: ':', a spaced dash, the end, or straight a status emoji. This is
 * what rejects 'PRIORITY 4)', 'PRIORITY 1 of 3', 'US-036-2' and over-long numbers.
 */
const AFTER_ID_RE = new RegExp(`^(?: ?:| [-–—]|[ *_]*$| ?(?:${STATUS_EMOJI}))`, 'u');
const STATUS_EMOJI_RE = new RegExp(STATUS_EMOJI, 'u');
/**
 * A status word at the end of a heading: 'Title - COMPLETE', 'Title (Planned)',
 * 'Title **Done** (2025-10-19)'. Accepted only when marked (bold, brackets, dash) or in
 * capitals, so titles such as 'Fix blocked spawns' keep their meaning.
 */
const WORD_TRAILER_RE =
  / ?(\*\*|__|\(|\[| [-–—|] ?)? ?\b(in[ -]progress|completed?|done|planned|backlog|blocked|on hold|paused|wip)\b ?(?:\*\*|__|\)|\])? ?(?:\([^()]*\))? ?$/i;
const DECORATION_RE = /\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|[\u200D\uFE0F\u20E3]|\*\*|__/gu;
/** 'PLANNED:', '**RECENTLY COMPLETED**:' before the id: one to five words, then a colon. */
const PREFIX_RE = /^((?:[A-Za-z]{1,20} ){0,4}[A-Za-z]{1,20})(?:\*\*|__)? ?:(?:\*\*|__)? ?/;
/** 'READY TO IMPLEMENT', 'NEXT' are planned; the other prefixes use the status words. */
const READY_RE = /^(?:ready|next|up next)\b/i;
/** '[US-001]': the bracketed form. */
const BRACKET_RE = /^\[ ?/;
/** 'US-073 through US-077', 'US-1 & US-2': several priorities in one heading, not one. */
const RANGE_WORD_RE = /^ ?(?:through|thru|to|until|and|&|,|\/|\.\.|…) ?(?:\*\*|__)?(?:priority[ -][0-9]|[A-Z]{2,16}-[0-9])/i;
const RANGE_DASH_RE = /^ ?[-–—] ?(?:\*\*|__)?([A-Za-z]{2,16})[ -][0-9]/;
/**
 * Tags people append to a title ('… 🔴 NEW FOUNDATION', '… P0 CRITICAL - DO THIS FIRST!'):
 * a trailing run of capitals, digits, punctuation and parentheses that starts with an emoji
 * or one of these words. Plain capitals ('the REST API') are title.
 */
const TAG_WORD_RE =
  /^(?:P[0-4]|CRITICAL|URGENT|BLOCKER|ASAP|IMPORTANT|BREAKING|HOTFIX|(?:HIGH|MEDIUM|LOW|TOP)[ -]?PRIORITY|DO THIS FIRST|START HERE|MUST[ -]HAVE|NEW)\b/;
const PICTOGRAPH_RE = /^(?:\p{Extended_Pictographic}|\p{Regional_Indicator})/u;
const LOWERCASE_RE = /\p{Ll}/u;

type HeadingResult =
  | { kind: 'priority'; id: string; alias?: string; title: string; status?: PriorityStatus; statusFrom: StatusSource }
  | { kind: 'not-taken'; reason: string };

/** Trims characters in `chars` from both ends; a loop, because /[…]+$/ is quadratic on long runs. */
function trimChars(s: string, chars: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && chars.includes(s[a])) a++;
  while (b > a && chars.includes(s[b - 1])) b--;
  return s.slice(a, b);
}

const stripLead = (s: string) => s.slice(LEAD_RE.exec(s)?.[0].length ?? 0);
const idOf = (m: RegExpExecArray) => `${m[1].toUpperCase()}-${m[2]}`;
const matchId = (s: string) => PRIORITY_WORD_RE.exec(s) ?? LETTERS_ID_RE.exec(s);
const shown = (s: string) => (s.length > 30 ? `${s.slice(0, 30)}…` : s);

function classifyPrefix(prefix: string): PriorityStatus | undefined {
  return READY_RE.test(prefix) ? 'planned' : classify(prefix);
}

/** Where the trailing tags start in `title` (its length when there are none). */
function tagStart(title: string): number {
  // Tokens with their offsets, and whether each has a lowercase letter outside brackets.
  const starts: number[] = [];
  const lower: boolean[] = [];
  let depth = 0;
  for (let i = 0; i < title.length; i++) {
    const c = title[i];
    if (c === ' ') continue;
    if (i === 0 || title[i - 1] === ' ') {
      starts.push(i);
      lower.push(false);
    }
    if (c === '(' || c === '[') depth++;
    else if ((c === ')' || c === ']') && depth > 0) depth--;
    else if (depth === 0 && ((c >= 'a' && c <= 'z') || (c > '\u007f' && LOWERCASE_RE.test(c)))) lower[lower.length - 1] = true;
  }
  let cut = title.length;
  // Backwards while the suffix has no lowercase: the earliest tag trigger in it is the cut.
  for (let t = starts.length - 1; t > 0 && !lower[t]; t--) {
    const token = trimChars(title.slice(starts[t], starts[t] + 40), '([*_-–—|:');
    if (PICTOGRAPH_RE.test(token) || TAG_WORD_RE.test(token)) cut = starts[t];
  }
  return cut; // separators before the cut ('Title - P0') are trimmed by the caller
}

type NotTaken = Extract<HeadingResult, { kind: 'not-taken' }>;
const notTaken = (reason: string): NotTaken => ({ kind: 'not-taken', reason }) as NotTaken;

function parsePriorityHeading(raw: string): HeadingResult | undefined {
  // Whitespace collapsed first so no later pattern meets a long run of spaces.
  const text = raw.replace(/\s+/g, ' ').trim().replace(/ #+$/, ''); // closing '##' sequence
  const prefixed = statusPrefix(stripLead(text));
  if (!prefixed || 'kind' in prefixed) return prefixed;
  const named = idOfHeading(prefixed.body);
  if (!named || 'kind' in named) return named;
  const { id } = named;
  // 'PRIORITY 20: US-104 - Title': the second id is an alias of the first.
  let alias: string | undefined;
  let rest = named.rest;
  const restBody = stripLead(rest);
  const a = matchId(restBody);
  if (a && AFTER_ID_RE.test(restBody.slice(a[0].length))) {
    alias = idOf(a) === id ? undefined : idOf(a);
    rest = restBody.slice(a[0].length).replace(/^ ?(?::|[-–—])/, '');
  }
  const { title, headingStatus } = titleAndStatus(text, rest);
  const status = prefixed.status ?? headingStatus;
  return { kind: 'priority', id, alias, title, status, statusFrom: prefixed.status ? 'prefix' : headingStatus ? 'heading' : 'none' };
}

/** '📝 PLANNED: US-023 - Title': the prefix gives the status (a Status line still wins). */
function statusPrefix(body: string): { body: string; status?: PriorityStatus } | NotTaken | undefined {
  const pm = PREFIX_RE.exec(body);
  if (!pm) return { body };
  const after = stripLead(body.slice(pm[0].length));
  const bracketed = BRACKET_RE.exec(after);
  const m = matchId(bracketed ? after.slice(bracketed[0].length) : after);
  if (!m) return undefined; // '## Notes: …' and the like
  const status = classifyPrefix(pm[1]);
  if (!status) return notTaken(`'${shown(pm[1])}:' before ${idOf(m)} is not a status (such as PLANNED: or COMPLETE:)`);
  return { body: after, status };
}

/** The heading's id and what follows it: '🎯 [US-001] Title', 'US-001: Title', '**PRIORITY 8**: …'. */
function idOfHeading(body: string): { id: string; rest: string } | NotTaken | undefined {
  const bracket = BRACKET_RE.exec(body);
  if (bracket) {
    const inner = body.slice(bracket[0].length);
    const m = matchId(inner);
    if (!m) return undefined;
    const close = /^ ?\]/.exec(inner.slice(m[0].length));
    if (!close) return notTaken(`[${idOf(m)} is not closed by ']' right after the id`);
    return { id: idOf(m), rest: inner.slice(m[0].length + close[0].length).replace(/^(?:\*\*|__)/, '').replace(/^ ?(?::|[-–—])/, '') };
  }
  const m = matchId(body);
  if (!m) return undefined;
  const id = idOf(m);
  const rest = body.slice(m[0].length).replace(/^(?:\*\*|__)/, ''); // '**PRIORITY 8**: …'
  if (/^[0-9]/.test(rest)) return notTaken(`the number of ${m[1]}-${m[2]}${rest[0]}… is too long for an id (at most 9 digits each side of a '.')`);
  if (RANGE_WORD_RE.test(rest)) return notTaken(`it names several priorities (${shown(m[0] + rest)}), not one`);
  const dash = RANGE_DASH_RE.exec(rest);
  if (dash && dash[1].toUpperCase() === m[1].toUpperCase()) return notTaken(`it names a range of priorities (${shown(m[0] + rest)}), not one`);
  if (!AFTER_ID_RE.test(rest)) return notTaken(`${id} is followed by '${shown(rest)}', not by ':', ' - ' or the end of the heading`);
  return { id, rest: rest.replace(/^ ?(?::|[-–—])/, '') };
}

/** The title, and the status the heading shows (an emoji anywhere, or a marked status word after the title). */
function titleAndStatus(text: string, rest: string): { title: string; headingStatus: PriorityStatus | undefined } {
  // The status trailer starts at the first status emoji, or at a marked status word just before it.
  const emojiAt = rest.search(STATUS_EMOJI_RE);
  const beforeEmoji = emojiAt < 0 ? rest : rest.slice(0, emojiAt);
  const w = WORD_TRAILER_RE.exec(beforeEmoji);
  const word = w && (w[1] !== undefined || w[2] === w[2].toUpperCase()) ? w : undefined;
  const titled = trimChars(beforeEmoji.slice(0, word ? word.index : beforeEmoji.length), ' ');
  const title = trimChars(titled.slice(0, tagStart(titled)).replace(DECORATION_RE, '').replace(/\s+/g, ' '), ' :|-–—');
  const emoji = STATUS_EMOJI_RE.exec(text); // anywhere, also before the id: '### ✅ US-1: …'
  return { title, headingStatus: (emoji && classify(emoji[0])) ?? (word && classify(word[2])) ?? undefined };
}

// --- Public API ---------------------------------------------------------------------------

/** The priorities of a roadmap text, in document order (see readRoadmap). */
export function parseRoadmap(text: string): RoadmapPriority[] {
  return readRoadmap(text).priorities;
}

/**
 * Priorities in document order, and warnings. Never throws. Headings (## to ####) inside
 * code fences and HTML comments are ignored. Status comes from the first '**Status**:' line
 * of the section (before the next heading of the same or a higher level), else from the
 * heading's status prefix, else its emoji or marked status word, else 'unknown'.
 *
 * Duplicates: the FIRST definition of an id wins, whether it was an id or an alias; a later
 * heading with that id is ignored, a later alias dropped, each with a warning naming both
 * lines. (The first is what a reader meets first; later ones are mostly copies in
 * archives and appendices.)
 */
export function readRoadmap(text: string): Roadmap {
  const reader = new RoadmapReader();
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[0].startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  lines.forEach((line, i) => reader.read(line, i + 1));
  return { priorities: reader.priorities, warnings: reader.warnings };
}

type Heading = Exclude<ReturnType<typeof parsePriorityHeading>, undefined | { kind: 'not-taken' }>;

/** readRoadmap's state, one line at a time. */
class RoadmapReader {
  readonly priorities: RoadmapPriority[] = [];
  readonly warnings: RoadmapWarning[] = [];
  /** Every id and alias taken so far, with the priority that has it. */
  private readonly owner = new Map<string, RoadmapPriority>();
  // Open priority sections, innermost last: a Status line belongs to the innermost one, so an
  // epic does not take the status of the first story under it. A duplicate still opens a
  // section (without an item) so its Status line does not leak to the enclosing priority.
  private readonly open: { level: number; item?: RoadmapPriority; decided: boolean }[] = [];
  private fence: Fence | undefined;
  private inComment = false;

  read(line: string, n: number): void {
    if (this.skipped(line)) return;
    const h = HEADING_RE.exec(line);
    if (h) return this.heading(h[1].length, line.slice(h[0].length), n);
    const top = this.open[this.open.length - 1];
    const s = top && !top.decided ? STATUS_LINE_RE.exec(line) : null;
    if (s) this.statusLine(top, s[1], n);
  }

  /** Whether the line is inside (or opens) a code fence or an HTML comment, where headings do not count. */
  private skipped(line: string): boolean {
    if (this.fence) {
      if (closesFence(line, this.fence)) this.fence = undefined;
      return true;
    }
    if (this.inComment) {
      this.inComment = !line.includes('-->');
      return true;
    }
    this.fence = openFence(line);
    if (this.fence) return true;
    const c = COMMENT_OPEN_RE.exec(line);
    // Like CommonMark's HTML block: ends on the line that contains '-->' (maybe this one).
    if (c) this.inComment = !line.includes('-->', c[0].length);
    return !!c;
  }

  private heading(level: number, text: string, n: number): void {
    while (this.open.length > 0 && this.open[this.open.length - 1].level >= level) this.open.pop();
    const info = level >= 2 && level <= 4 ? parsePriorityHeading(text) : undefined;
    if (info?.kind === 'not-taken') {
      this.warnings.push({ kind: 'not-taken', line: n, message: `line ${n}: not read as a priority: ${info.reason}` });
    } else if (info) {
      this.open.push({ level, item: this.define(info, n), decided: false });
    }
  }

  /** The priority a heading defines, or undefined (with a warning) when its id was taken first. */
  private define(info: Heading, n: number): RoadmapPriority | undefined {
    const first = this.owner.get(info.id);
    if (first) {
      const as = first.id === info.id ? '' : ` (as an alias of ${first.id})`;
      this.warnings.push({ kind: 'duplicate', line: n, keptLine: first.line, id: info.id, message: `${info.id} is defined on line ${first.line}${as} and again on line ${n}: line ${first.line} is used, line ${n} is ignored` });
      return undefined;
    }
    const item: RoadmapPriority = { id: info.id, aliases: [], title: info.title, status: info.status ?? 'unknown', statusFrom: info.statusFrom, line: n };
    this.owner.set(info.id, item);
    this.priorities.push(item);
    if (info.alias) this.addAlias(item, info.alias, n);
    return item;
  }

  private addAlias(item: RoadmapPriority, alias: string, n: number): void {
    const taken = this.owner.get(alias);
    if (!taken) {
      this.owner.set(alias, item);
      item.aliases.push(alias);
      return;
    }
    const what = taken.id === alias ? 'defined' : `an alias of ${taken.id}`;
    this.warnings.push({ kind: 'alias-taken', line: n, keptLine: taken.line, id: alias, message: `${alias} is ${what} on line ${taken.line}, so line ${n} (${item.id}) does not get it as an alias: line ${taken.line} is used` });
  }

  /** Only the first Status line of a section counts; if its value is unrecognised the heading's stays. */
  private statusLine(top: { item?: RoadmapPriority; decided: boolean }, value: string, n: number): void {
    top.decided = true;
    const status = classify(value);
    if (!top.item) return;
    if (status) {
      top.item.status = status;
      top.item.statusFrom = 'status-line';
      top.item.statusLine = n;
      return;
    }
    const stays = top.item.status === 'unknown' ? 'it stays unknown' : `the heading's ${top.item.status} stays`;
    this.warnings.push({ kind: 'status-unknown', line: n, id: top.item.id, message: `line ${n}: the Status line of ${top.item.id} ('${shown(value.trim())}') names no known status (planned, in progress, blocked, complete); ${stays}` });
  }
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel);
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The roadmap file: `configured` (relative to the repository, or absolute inside it) when
 * set, else docs/roadmap/ROADMAP.md, else ROADMAP.md; undefined when none exists.
 * Throws RoadmapError when the path (or a symlink it goes through) leads outside the
 * repository: the setting may come from an untrusted workspace.
 */
export function findRoadmapPath(repoDir: string, configured?: string): string | undefined {
  const repo = path.resolve(repoDir);
  const wanted = configured?.trim() ? [configured.trim()] : DEFAULT_PATHS;
  for (const rel of wanted) {
    const file = path.resolve(repo, rel);
    if (!isInside(repo, file)) {
      throw new RoadmapError(`Roadmap path '${rel}' is outside the repository ${repo}; use a path inside it`);
    }
    if (!isFile(file)) continue;
    let realRepo: string;
    let realFile: string;
    try {
      realRepo = fs.realpathSync(repo);
      realFile = fs.realpathSync(file);
    } catch {
      continue; // vanished in between: treat as missing
    }
    if (!isInside(realRepo, realFile)) {
      throw new RoadmapError(`Roadmap ${file} leads outside the repository ${repo} (symlink to ${realFile})`);
    }
    return file;
  }
  return undefined;
}

/** Finds, reads and parses the roadmap; every failure is a RoadmapError with a clear message. */
export function loadRoadmap(repoDir: string, configured?: string): Roadmap & { path: string } {
  const repo = path.resolve(repoDir);
  const file = findRoadmapPath(repo, configured);
  if (!file) {
    throw new RoadmapError(
      configured?.trim()
        ? `No roadmap found: looked for ${configured.trim()} (setting worktreeOrchestrator.roadmapPath) in ${repo}`
        : `No roadmap found: looked for ${DEFAULT_PATHS.join(' and ')} in ${repo}`,
    );
  }
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_BYTES) throw new RoadmapError(`${file} is too large to be a roadmap (${size} bytes)`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof RoadmapError) throw e;
    throw new RoadmapError(`Cannot read roadmap ${file}: ${(e as Error).message}`);
  }
  const { priorities, warnings } = readRoadmap(text);
  if (priorities.length === 0) {
    const near = warnings.filter((w) => w.kind === 'not-taken').slice(0, 3).map((w) => w.message);
    throw new RoadmapError(`${file} has no priorities (headings such as '## US-036: Title' or '### PRIORITY 20: Title')${near.length ? `; ${near.join('; ')}` : ''}`);
  }
  return { path: file, priorities, warnings };
}

/** Strips leading zeros so 'US-36' finds 'US-036' and '20' finds 'PRIORITY-020'. */
function numberKey(n: string): string {
  return n.replace(/^0+(?=[0-9])/, '');
}

/**
 * The priority a user typed, by its id or one of its aliases: exact id in any case
 * ('us-036', 'PRIORITY 20', 'priority-20', 'US-104' for 'PRIORITY 20: US-104 - …'), else
 * same prefix and number ('US-36'), else a bare number ('20') — the last two only when
 * exactly one priority matches, so a guess never picks the wrong one. What it returns
 * carries the canonical id: the one every run of that priority is recorded under.
 */
export function findPriority(priorities: RoadmapPriority[], typed: string): RoadmapPriority | undefined {
  const want = typed.trim().replace(/\s+/g, '-').toUpperCase();
  if (!want) return undefined;
  const exact = priorities.find((p) => p.id === want) ?? priorities.find((p) => p.aliases.includes(want));
  if (exact) return exact;
  const only = (list: RoadmapPriority[]) => (list.length === 1 ? list[0] : undefined);
  const split = (id: string) => /^([A-Z]+)-([0-9.]+)$/.exec(id);
  const ids = (p: RoadmapPriority) => [p.id, ...p.aliases];
  const t = split(want);
  if (t) {
    return only(priorities.filter((p) => ids(p).some((id) => {
      const s = split(id);
      return !!s && s[1] === t[1] && numberKey(s[2]) === numberKey(t[2]);
    })));
  }
  if (/^[0-9]+(?:\.[0-9]+)?$/.test(want)) {
    return only(priorities.filter((p) => ids(p).some((id) => numberKey(id.slice(id.indexOf('-') + 1)) === numberKey(want))));
  }
  return undefined;
}

/** The `roadmap --json` shape (documented in the README): every field present, null when absent. */
export function roadmapJson(roadmap: Roadmap & { path: string }) {
  return {
    path: roadmap.path,
    priorities: roadmap.priorities.map((p) => ({ id: p.id, aliases: p.aliases, title: p.title, status: p.status, statusFrom: p.statusFrom, statusLine: p.statusLine ?? null, line: p.line })),
    warnings: roadmap.warnings.map((w) => ({ kind: w.kind, line: w.line, keptLine: w.keptLine ?? null, id: w.id ?? null, message: w.message })),
  };
}

/** `roadmap` without --json: one line a priority, then the warnings. */
export function roadmapText(roadmap: Roadmap, shownPath: string): string {
  const from = (p: RoadmapPriority) => (p.statusFrom === 'status-line' ? `status line ${p.statusLine}` : p.statusFrom === 'none' ? '-' : p.statusFrom);
  const rows = [['line', 'id', 'aliases', 'status', 'from', 'title'], ...roadmap.priorities.map((p) => [String(p.line), p.id, p.aliases.join(',') || '-', p.status, from(p), p.title])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  return [
    `${shownPath}: ${n(roadmap.priorities.length, 'priority', 'priorities')}, ${n(roadmap.warnings.length, 'warning', 'warnings')}`,
    ...rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')),
    ...(roadmap.warnings.length ? ['', 'Warnings:', ...roadmap.warnings.map((w) => `  ${w.message}`)] : []),
  ].join('\n');
}
