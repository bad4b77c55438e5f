import type { AgentTemplate } from './agentPresets';

/**
 * The command template of a follow-up: the agent's own session resumed where its CLI can do
 * that headless and the earlier run's session id is known, else the same command started
 * fresh. Either way `${prompt}` is the follow-up's message and `${sessionId}` the session
 * the command names.
 *   claude  Claude Code 2.1 (docs.anthropic.com/en/docs/claude-code/cli-reference): `-p` with
 *           `--resume <id>` continues that session (same id; `--session-id` is refused with
 *           --resume unless --fork-session), so the preset's --session-id becomes --resume.
 *   codex   Codex 0.171 (openai/codex codex-rs/exec/src/cli.rs): `exec [OPTIONS] resume
 *           [SESSION_ID] [PROMPT]`; --sandbox and --add-dir are options of `exec`, not global,
 *           so they stay before `resume`; `--` keeps a prompt starting with '-' a prompt.
 *   gemini  Gemini CLI (geminicli.com/docs/cli/session-management): `--resume <session UUID>`
 *           loads that session; like claude, the preset's --session-id becomes --resume.
 *   aider, custom: started fresh with the message (aider keeps no session we could name).
 */
export interface FollowUpTemplate {
  template: readonly string[];
  /** Whether the template resumes the earlier session (else: a fresh start). */
  resumed: boolean;
}

export function followUpTemplate(t: AgentTemplate, sessionId: string | undefined): FollowUpTemplate {
  if (!sessionId) return { template: t.template, resumed: false };
  if ((t.agent === 'claude' || t.agent === 'gemini') && t.template.includes('--session-id')) {
    return { template: t.template.map((arg) => (arg === '--session-id' ? '--resume' : arg)), resumed: true };
  }
  if (t.agent === 'codex') {
    const end = t.template.lastIndexOf('--');
    if (end > 1 && t.template[1] === 'exec' && t.template[end + 1] === '${prompt}') {
      return { template: [...t.template.slice(0, end), 'resume', '--', '${sessionId}', ...t.template.slice(end + 1)], resumed: true };
    }
  }
  return { template: t.template, resumed: false };
}
