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
import { UserError } from './userError';

export type PriorityStatus = 'planned' | 'in-progress' | 'complete' | 'blocked' | 'unknown';

export interface RoadmapPriority {
  /** Canonical id: 'US-036', 'PRIORITY-20', 'PRIORITY-2.5'. Always matches PRIORITY_ID_RE. */
  id: string;
  /** Heading text without the id, emojis, bold markers and status trailer ('' if none). */
  title: string;
  status: PriorityStatus;
  /** 1-based line of the heading. */
  line: number;
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

interface HeadingInfo {
  id: string;
  title: string;
  status: PriorityStatus | undefined;
}

/** Trims characters in `chars` from both ends; a loop, because /[…]+$/ is quadratic on long runs. */
function trimChars(s: string, chars: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && chars.includes(s[a])) a++;
  while (b > a && chars.includes(s[b - 1])) b--;
  return s.slice(a, b);
}

function parsePriorityHeading(raw: string): HeadingInfo | undefined {
  // Whitespace collapsed first so no later pattern meets a long run of spaces.
  const text = raw.replace(/\s+/g, ' ').trim().replace(/ #+$/, ''); // closing '##' sequence
  const body = text.slice(LEAD_RE.exec(text)?.[0].length ?? 0);
  const m = PRIORITY_WORD_RE.exec(body) ?? LETTERS_ID_RE.exec(body);
  if (!m) return undefined;
  let rest = body.slice(m[0].length).replace(/^(?:\*\*|__)/, ''); // '**PRIORITY 8**: …'
  if (!AFTER_ID_RE.test(rest)) return undefined;
  rest = rest.replace(/^ ?(?::|[-–—])/, '');

  // The status trailer starts at the first status emoji, or at a marked status word just before it.
  const emojiAt = rest.search(STATUS_EMOJI_RE);
  const beforeEmoji = emojiAt < 0 ? rest : rest.slice(0, emojiAt);
  const w = WORD_TRAILER_RE.exec(beforeEmoji);
  const word = w && (w[1] !== undefined || w[2] === w[2].toUpperCase()) ? w : undefined;
  const cut = word ? word.index : beforeEmoji.length;

  const emoji = STATUS_EMOJI_RE.exec(text); // anywhere, also before the id: '### ✅ US-1: …'
  return {
    id: `${m[1].toUpperCase()}-${m[2]}`,
    title: trimChars(rest.slice(0, cut).replace(DECORATION_RE, '').replace(/\s+/g, ' '), ' :|-–—'),
    status: (emoji && classify(emoji[0])) ?? (word && classify(word[2])),
  };
}

// --- Public API ---------------------------------------------------------------------------

/**
 * Priorities in document order. Never throws. Headings (## to ####) inside code fences and
 * HTML comments are ignored; the first of duplicate ids wins. Status comes from the first
 * '**Status**:' line of the section (before the next heading of the same or a higher level),
 * else from the heading's emoji or marked status word, else 'unknown'.
 */
export function parseRoadmap(text: string): RoadmapPriority[] {
  const out: RoadmapPriority[] = [];
  const seen = new Set<string>();
  // Open priority sections, innermost last: a Status line belongs to the innermost one, so an
  // epic does not take the status of the first story under it. A duplicate still opens a
  // section (without an item) so its Status line does not leak to the enclosing priority.
  const open: { level: number; item?: RoadmapPriority; decided: boolean }[] = [];
  let fence: Fence | undefined;
  let inComment = false;
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[0].startsWith('\uFEFF')) lines[0] = lines[0].slice(1);

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (fence) {
      if (closesFence(line, fence)) fence = undefined;
      continue;
    }
    if (inComment) {
      inComment = !line.includes('-->');
      continue;
    }
    fence = openFence(line);
    if (fence) continue;
    const c = COMMENT_OPEN_RE.exec(line);
    if (c) {
      // Like CommonMark's HTML block: ends on the line that contains '-->' (maybe this one).
      inComment = !line.includes('-->', c[0].length);
      continue;
    }

    const h = HEADING_RE.exec(line);
    if (h) {
      const level = h[1].length;
      while (open.length > 0 && open[open.length - 1].level >= level) open.pop();
      const info = level >= 2 && level <= 4 ? parsePriorityHeading(line.slice(h[0].length)) : undefined;
      if (info) {
        let item: RoadmapPriority | undefined;
        if (!seen.has(info.id)) {
          seen.add(info.id);
          item = { id: info.id, title: info.title, status: info.status ?? 'unknown', line: i + 1 };
          out.push(item);
        }
        open.push({ level, item, decided: false });
      }
      continue;
    }

    const top = open[open.length - 1];
    if (top && !top.decided) {
      const s = STATUS_LINE_RE.exec(line);
      if (s) {
        // Only the first Status line counts; if its value is unrecognised the heading's stays.
        top.decided = true;
        const status = classify(s[1]);
        if (top.item && status) top.item.status = status;
      }
    }
  }
  return out;
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
export function loadRoadmap(repoDir: string, configured?: string): { path: string; priorities: RoadmapPriority[] } {
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
  const priorities = parseRoadmap(text);
  if (priorities.length === 0) {
    throw new RoadmapError(`${file} has no priorities (headings such as '## US-036: Title' or '### PRIORITY 20: Title')`);
  }
  return { path: file, priorities };
}

/** Strips leading zeros so 'US-36' finds 'US-036' and '20' finds 'PRIORITY-020'. */
function numberKey(n: string): string {
  return n.replace(/^0+(?=[0-9])/, '');
}

/**
 * The priority a user typed: exact id in any case ('us-036', 'PRIORITY 20', 'priority-20'),
 * else same prefix and number ('US-36'), else a bare number ('20') — the last two only when
 * exactly one priority matches, so a guess never picks the wrong one.
 */
export function findPriority(priorities: RoadmapPriority[], typed: string): RoadmapPriority | undefined {
  const want = typed.trim().replace(/\s+/g, '-').toUpperCase();
  if (!want) return undefined;
  const exact = priorities.find((p) => p.id === want);
  if (exact) return exact;
  const only = (list: RoadmapPriority[]) => (list.length === 1 ? list[0] : undefined);
  const split = (id: string) => /^([A-Z]+)-([0-9.]+)$/.exec(id);
  const t = split(want);
  if (t) {
    return only(priorities.filter((p) => {
      const s = split(p.id);
      return !!s && s[1] === t[1] && numberKey(s[2]) === numberKey(t[2]);
    }));
  }
  if (/^[0-9]+(?:\.[0-9]+)?$/.test(want)) {
    return only(priorities.filter((p) => numberKey(p.id.slice(p.id.indexOf('-') + 1)) === numberKey(want)));
  }
  return undefined;
}
