import * as assert from 'node:assert/strict';
import { expandCommand } from '../../src/core/agent/agents';
import { agentTemplate, runValues } from '../../src/core/agent/agentPresets';
import { followUpTemplate } from '../../src/core/agent/followUpArgv';

// What a follow-up runs, per preset: resume where the CLI takes a session id, else the same
// command started fresh; the message is always the prompt.
describe('follow-up argv per preset', () => {
  const base = { priority: 'US-036', title: 'Add login', worktree: '/r.worktrees/us-036', branch: 'code-developer/us-036', runId: 'r2', repo: '/r', port: '' };
  const SESSION = '5f0c9d3e-8a4b-4c1e-9f2a-0d6b7e3c1a99';
  const argvOf = (agent: string, sessionId: string | undefined) => {
    const t = agentTemplate({ agent });
    const { template, resumed } = followUpTemplate(t, sessionId);
    const values = runValues(t, base, '/state');
    values.prompt = 'Fix the build';
    if (resumed) values.sessionId = sessionId!;
    return { argv: expandCommand(template, values), resumed, fresh: values.sessionId };
  };

  it('claude and gemini: --resume <id> in place of --session-id', () => {
    for (const agent of ['claude', 'gemini']) {
      const { argv, resumed } = argvOf(agent, SESSION);
      assert.ok(resumed, agent);
      assert.equal(argv[argv.indexOf('--resume') + 1], SESSION, agent);
      assert.ok(!argv.includes('--session-id'), agent);
      assert.ok(argv.includes('Fix the build'), agent);
    }
  });

  it('codex: exec with its options, then resume -- <id> <message>', () => {
    const { argv } = argvOf('codex', SESSION);
    const at = argv.indexOf('resume');
    assert.deepEqual(argv.slice(0, 2), ['codex', 'exec']);
    assert.ok(argv.indexOf('--sandbox') < at && argv.lastIndexOf('--add-dir') < at);
    assert.deepEqual(argv.slice(at), ['resume', '--', SESSION, 'Fix the build']);
  });

  it('without a known session, and for aider and custom commands: a fresh start with the message', () => {
    for (const agent of ['claude', 'codex', 'gemini']) {
      const { argv, resumed, fresh } = argvOf(agent, undefined);
      assert.ok(!resumed && !argv.includes('--resume') && !argv.includes('resume'), agent);
      assert.ok(argv.includes('Fix the build'), agent);
      if (agent !== 'codex') assert.equal(argv[argv.indexOf('--session-id') + 1], fresh, `${agent}: a new session`);
    }
    const aider = argvOf('aider', SESSION);
    assert.ok(!aider.resumed);
    assert.equal(aider.argv[aider.argv.indexOf('--message') + 1], 'Fix the build');
    const custom = followUpTemplate(agentTemplate({ agentCommand: ['my-agent', '${prompt}', '${sessionId}'] }), SESSION);
    assert.equal(custom.resumed, false);
    assert.deepEqual(custom.template, ['my-agent', '${prompt}', '${sessionId}']);
  });
});
