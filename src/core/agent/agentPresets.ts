import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandValues, expandCommand, runDir } from './agents';
import { GitRepo, linkedGitDir } from '../git/git';
import { branchName, validatePriorityId, worktreeDirName } from '../roadmap/priorityId';
import { findPriority, loadRoadmap } from '../roadmap/roadmap';
import type { Store } from '../db/store';
import { resolveWorktreeRoot, worktreePath } from '../git/worktreePaths';
import { UserError } from '../model/userError';

/**
 * Agent presets: the argument arrays that run today's coding-agent CLIs headless in a run's
 * worktree, so that they can edit files and commit on the run's branch, and nothing more.
 * Each element is one argument (no shell); placeholders are expanded by expandCommand.
 * `custom` is the user's own command array (the codeDeveloper.command setting, read by ui/settings.ts).
 */
export const AGENT_NAMES = ['claude', 'codex', 'gemini', 'aider', 'custom'] as const;
export type AgentName = (typeof AGENT_NAMES)[number];
export type PresetName = Exclude<AgentName, 'custom'>;

export const DEFAULT_PROMPT =
  'Implement ${priority}: ${title}. What to build is its section of the roadmap, in ${specFile}: read it first. ' +
  'Work in this folder (a git worktree on branch ${branch}) and commit your work with git add and git commit before you finish.';

export interface AgentPreset {
  argv: readonly string[];
  /** Where each flag was checked. */
  source: string;
}

export const PRESETS: Record<PresetName, AgentPreset> = {
  // Claude Code 2.1, https://docs.anthropic.com/en/docs/claude-code/cli-reference:
  // -p (print: headless, exits when done); acceptEdits lets it write files without asking,
  // and --allowedTools adds just the two git commands it needs to commit (under -p any
  // other tool that would ask is refused). Read(//abs) lets it read the spec outside the
  // worktree. stream-json needs --verbose under -p; --session-id takes a UUID.
  // --allowedTools is variadic, so each of its values is followed by another flag.
  claude: {
    argv: [
      'claude', '-p', '${prompt}',
      '--permission-mode', 'acceptEdits',
      '--allowedTools', 'Bash(git add:*)', 'Bash(git commit:*)', 'Bash(git status:*)', 'Bash(git diff:*)', 'Read(/${specFile})',
      '--output-format', 'stream-json', '--verbose',
      '--session-id', '${sessionId}',
    ],
    source: 'docs.anthropic.com/en/docs/claude-code/cli-reference',
  },
  // Codex 0.171, openai/codex codex-rs/exec/src/cli.rs and codex-rs/utils/cli/src/shared_options.rs:
  // `exec` is the headless mode; --full-auto was removed (a hidden trap now). workspace-write
  // makes only the worktree writable, but a linked worktree's index, HEAD and reflog live in
  // its git dir under the main repository, and its commits go into the common dir's objects,
  // refs and logs: each is one --add-dir (one value per flag). `--` ends the options, so a
  // prompt starting with '-' stays the prompt.
  codex: {
    argv: [
      'codex', 'exec', '--json',
      '--sandbox', 'workspace-write',
      '--add-dir', '${gitDir}',
      '--add-dir', '${gitCommonDir}/objects',
      '--add-dir', '${gitCommonDir}/refs',
      '--add-dir', '${gitCommonDir}/logs',
      '--', '${prompt}',
    ],
    source: 'github.com/openai/codex codex-rs/exec/src/cli.rs, codex-rs/utils/cli/src/shared_options.rs',
  },
  // Gemini CLI 0.61, google-gemini/gemini-cli docs/cli/cli-reference.md, headless.md,
  // trusted-folders.md, and its --help: --prompt forces non-interactive mode; auto_edit
  // approves file edits, but in a folder it does not trust it falls back to "default" (asks,
  // which headless means no): --skip-trust trusts the run's worktree for the session (the
  // orchestrator spawns nothing in an untrusted VS Code workspace). --allowed-tools (one
  // value per flag; deprecated for --policy files, still honoured before 1.0) adds the two
  // git commands; --include-directories adds the run folder (the spec) to its workspace;
  // stream-json is its JSON event output; --session-id takes a UUID.
  gemini: {
    argv: [
      'gemini', '--prompt', '${prompt}',
      '--skip-trust',
      '--approval-mode', 'auto_edit',
      '--allowed-tools', 'run_shell_command(git add)',
      '--allowed-tools', 'run_shell_command(git commit)',
      '--include-directories', '${runDir}',
      '--output-format', 'stream-json',
      '--session-id', '${sessionId}',
    ],
    source: 'github.com/google-gemini/gemini-cli docs/cli/cli-reference.md, docs/cli/headless.md, docs/cli/trusted-folders.md',
  },
  // Aider, Aider-AI/aider aider/args.py: --message sends one message and exits; it commits
  // its own edits (--auto-commits, the default, made explicit); --read adds the spec as a
  // read-only file; --no-gitignore keeps it from editing .gitignore; no update checks,
  // release notes, analytics or terminal styling in a log file.
  aider: {
    argv: [
      'aider', '--yes-always', '--auto-commits', '--no-gitignore',
      '--no-check-update', '--no-show-release-notes', '--no-analytics', '--no-pretty', '--no-fancy-input',
      '--read', '${specFile}',
      '--message', '${prompt}',
    ],
    source: 'github.com/Aider-AI/aider aider/args.py',
  },
};

export const isAgentName = (name: unknown): name is AgentName => typeof name === 'string' && (AGENT_NAMES as readonly string[]).includes(name);

/** Checks a preset name from a setting or the CLI's --agent. */
export function parseAgentName(name: string, where = '--agent'): AgentName {
  const trimmed = name.trim().toLowerCase();
  if (!isAgentName(trimmed)) throw new UserError(`${where} must be one of ${AGENT_NAMES.join(', ')}; got "${name.slice(0, 40)}".`, 'BAD_AGENT');
  return trimmed;
}

export interface AgentChoice {
  /** The chosen preset, or undefined (custom): the setting's default keeps today's users on their command. */
  agent?: string;
  agentCommand?: readonly string[];
  prompt?: string;
}

export interface AgentTemplate {
  agent: AgentName;
  template: readonly string[];
  prompt: string;
}

/** The command template a spawn runs: the preset's, or the custom command array. */
export function agentTemplate(choice: AgentChoice): AgentTemplate {
  const agent = choice.agent === undefined || choice.agent === '' ? 'custom' : parseAgentName(choice.agent, 'worktreeOrchestrator.codeDeveloper.agent');
  const prompt = choice.prompt?.trim() ? choice.prompt : DEFAULT_PROMPT;
  if (agent === 'custom') return { agent, template: choice.agentCommand ?? [], prompt };
  return { agent, template: PRESETS[agent].argv, prompt };
}

/** Whether a template (or the prompt it may include) refers to `${name}`. */
export function usesPlaceholder(t: AgentTemplate, name: string): boolean {
  const token = `\${${name}}`;
  const inCommand = t.template.some((a) => a.includes(token));
  return inCommand || (t.template.some((a) => a.includes('${prompt}')) && t.prompt.includes(token));
}

/**
 * The git folders of a run's worktree, found from the files git keeps (no git process on the
 * spawn's path). A linked worktree's git dir is `<common>/worktrees/<basename>`, as
 * `git worktree add` names it; the common dir is the repository's `.git`.
 */
export function gitDirsFor(repoRoot: string, worktree: string): { gitDir: string; gitCommonDir: string } {
  let common = path.join(repoRoot, '.git');
  // The repository's root is itself a linked worktree: follow it to the common dir.
  const own = linkedGitDir(repoRoot);
  if (own) {
    try {
      common = path.resolve(own, fs.readFileSync(path.join(own, 'commondir'), 'utf8').trim());
    } catch {
      common = own; // no commondir: keep its own folder
    }
  }
  return { gitDir: path.join(common, 'worktrees', path.basename(worktree)), gitCommonDir: common };
}

/**
 * `argv` with `${gitDir}` as git really named it, once the worktree exists. It was expanded
 * at request time as gitDirsFor predicts, which git follows unless the name is taken; a pool
 * worktree moved into place keeps its `-pool-…` admin folder. Undefined when the prediction
 * holds or the argv does not use it.
 */
export function withRealGitDir(repoRoot: string, worktree: string, argv: readonly string[]): string[] | undefined {
  const predicted = gitDirsFor(repoRoot, worktree).gitDir;
  const real = linkedGitDir(worktree);
  if (!real || real === predicted || !argv.some((arg) => arg.includes(predicted))) return undefined;
  return argv.map((arg) => arg.split(predicted).join(real));
}

/** The values every template can use for one run. */
export function runValues(
  t: AgentTemplate,
  base: Pick<CommandValues, 'priority' | 'title' | 'worktree' | 'branch' | 'runId' | 'repo'> & { port?: string },
  stateDir: string,
): CommandValues {
  const dir = runDir(stateDir, base.runId);
  const values: CommandValues = {
    ...base,
    port: base.port ?? '',
    ...gitDirsFor(base.repo, base.worktree),
    sessionId: crypto.randomUUID(),
    specFile: path.join(dir, 'spec.md'),
    runDir: dir,
    prompt: '',
  };
  values.prompt = expandText(t.prompt, values);
  return values;
}

/** `${name}` in one string, from the values (the prompt itself excluded). */
function expandText(text: string, values: CommandValues): string {
  return text.replace(/\$\{(\w+)\}/g, (whole, name: string) => (name !== 'prompt' && name in values ? values[name as keyof CommandValues] : whole));
}

// --- The spec: the priority's own section of the roadmap -------------------------------

const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t]|$)/;
const FENCE_RE = /^[ \t]*(`{3,}|~{3,})(.*)$/;

/**
 * The roadmap's lines from the priority's heading (1-based `line`) to the next heading of
 * the same or a higher level; headings inside code fences do not end it.
 */
export function prioritySection(text: string, line: number): string {
  const lines = text.split(/\r?\n/);
  const start = line - 1;
  const level = HEADING_RE.exec(lines[start] ?? '')?.[1].length;
  if (level === undefined) return lines[start] ?? '';
  let fence: { char: string; length: number } | undefined;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const f = FENCE_RE.exec(lines[i]);
    if (fence) {
      if (f && f[1][0] === fence.char && f[1].length >= fence.length && !f[2].trim()) fence = undefined;
      continue;
    }
    if (f) {
      fence = { char: f[1][0], length: f[1].length };
      continue;
    }
    const h = HEADING_RE.exec(lines[i]);
    if (h && h[1].length <= level) {
      end = i;
      break;
    }
  }
  while (end > start + 1 && !lines[end - 1].trim()) end--;
  return `${lines.slice(start, end).join('\n')}\n`;
}

/** Writes the run's spec where `${specFile}` points, before the run exists anywhere else. */
export function writeSpecFile(file: string, section: string, roadmapPath: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `<!-- From ${roadmapPath} -->\n${section}`, { mode: 0o600 });
}

/** The spec a run of this template needs (when it refers to `${specFile}`), read now, outside any transaction. */
export function specOf(t: AgentTemplate, roadmapPath: string, line: number): string | undefined {
  if (!usesPlaceholder(t, 'specFile')) return undefined;
  return prioritySection(fs.readFileSync(roadmapPath, 'utf8'), line);
}

export interface AgentPreview {
  name: AgentName;
  selected: boolean;
  source: string;
  template: string[];
  /** The argv a spawn of the priority would run now (run id and session id are new at each spawn). */
  argv?: string[];
  /** Why this one cannot run as configured (custom without a command). */
  problem?: string;
}

/**
 * Every preset (and the custom command), with the argv each would run for a priority's next
 * attempt — or only the templates when no priority is given. Reads; writes nothing.
 */
export async function previewAgents(store: Store, stateDir: string, repoDir: string, choice: AgentChoice & { roadmapPath?: string; worktreeRoot?: string }, typed?: string): Promise<{ priority: string | null; agents: AgentPreview[] }> {
  const selected = agentTemplate(choice).agent;
  let base: Parameters<typeof runValues>[1] | undefined;
  if (typed !== undefined) {
    const repo = await GitRepo.open(repoDir);
    const priority = findPriority(loadRoadmap(repo.root, choice.roadmapPath).priorities, typed);
    if (!priority) throw new UserError(`${typed} is not a priority in the roadmap of ${repo.root}.`, 'UNKNOWN_PRIORITY');
    const id = validatePriorityId(priority.id);
    const attempt = (store.latestRun(repo.root, id)?.attempt ?? 0) + 1;
    const worktree = worktreePath(resolveWorktreeRoot(repo.root, choice.worktreeRoot), worktreeDirName(id, attempt));
    base = { priority: id, title: priority.title, worktree, branch: branchName(id, attempt), runId: '<run-id>', repo: repo.root, port: '<port>' };
  }
  const agents = AGENT_NAMES.map((name): AgentPreview => {
    const t = agentTemplate({ ...choice, agent: name });
    const entry: AgentPreview = { name, selected: name === selected, source: name === 'custom' ? 'worktreeOrchestrator.codeDeveloper.command / --agent-command' : PRESETS[name].source, template: [...t.template] };
    try {
      if (base) entry.argv = expandCommand(t.template, runValues(t, base, stateDir));
      else if (!t.template.length) expandCommand(t.template, {} as CommandValues); // throws the no-command message
    } catch (e) {
      entry.problem = (e as Error).message;
    }
    return entry;
  });
  return { priority: base?.priority ?? null, agents };
}
