import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expandCommand } from '../../src/core/agent/agents';
import { agentTemplate, AGENT_NAMES, DEFAULT_PROMPT, PRESETS, prioritySection, runValues } from '../../src/core/agent/agentPresets';
import { agentCommandProblem } from '../../src/core/agent/agentCommandCheck';
import { agentCommand, cli, makeSandbox, NODE, Sandbox, startOrchestrator, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import { git } from '../support/git';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const ROADMAP = `# Roadmap

## US-036: Add login 📝 Planned

**Status**: 📝 Planned

Build a login form with a password field.

\`\`\`md
## US-999: an example heading inside a fence
\`\`\`

### Acceptance

- it logs in

## US-037: Add logout

**Status**: 📝 Planned
`;

const base = { priority: 'US-036', title: 'Add login', worktree: '/r.worktrees/us-036', branch: 'code-developer/us-036', runId: 'r1', repo: '/r' };

describe('agent presets', () => {
  it('every preset expands to an argv with no placeholder left, and its own program first', () => {
    for (const name of AGENT_NAMES.filter((n) => n !== 'custom')) {
      const t = agentTemplate({ agent: name });
      const argv = expandCommand(t.template, runValues(t, base, '/state'));
      assert.equal(argv[0], name);
      assert.ok(!argv.some((a) => a.includes('${')), `${name}: ${JSON.stringify(argv)}`);
      assert.ok(argv.some((a) => a.includes('Implement US-036: Add login') && a.includes('/state/runs/r1/spec.md')), `${name} gets the prompt naming the spec`);
    }
  });

  it('claude: headless, may commit, streams JSON, with a fresh session id per run', () => {
    const t = agentTemplate({ agent: 'claude' });
    const argv = expandCommand(t.template, runValues(t, base, '/state'));
    assert.deepEqual(argv.slice(0, 2), ['claude', '-p']);
    assert.equal(argv[argv.indexOf('--permission-mode') + 1], 'acceptEdits');
    const allowed = argv.slice(argv.indexOf('--allowedTools') + 1);
    assert.ok(allowed.includes('Bash(git add:*)') && allowed.includes('Bash(git commit:*)'));
    assert.ok(allowed.includes('Read(//state/runs/r1/spec.md)'), 'may read its spec outside the worktree');
    assert.equal(argv[argv.indexOf('--output-format') + 1], 'stream-json');
    assert.ok(argv.includes('--verbose'), 'stream-json under -p needs --verbose');
    const session = argv[argv.indexOf('--session-id') + 1];
    assert.match(session, UUID);
    assert.notEqual(expandCommand(t.template, runValues(t, base, '/state')).at(-1), session, 'a new UUID per run');
  });

  it('codex: exec --json in workspace-write, with the git dirs a linked worktree commits into; no --full-auto', () => {
    const t = agentTemplate({ agent: 'codex' });
    const argv = expandCommand(t.template, runValues(t, base, '/state'));
    assert.deepEqual(argv.slice(0, 3), ['codex', 'exec', '--json']);
    assert.ok(!argv.includes('--full-auto'));
    assert.equal(argv[argv.indexOf('--sandbox') + 1], 'workspace-write');
    const added = argv.flatMap((a, i) => (a === '--add-dir' ? [argv[i + 1]] : []));
    assert.deepEqual(added, ['/r/.git/worktrees/us-036', '/r/.git/objects', '/r/.git/refs', '/r/.git/logs']);
    assert.equal(argv.at(-2), '--', 'the prompt comes after the end of options');
  });

  it('custom is the default, so a configured command array runs as before', () => {
    const t = agentTemplate({ agentCommand: ['my-agent', '${priority}'] });
    assert.equal(t.agent, 'custom');
    assert.deepEqual(expandCommand(t.template, runValues(t, base, '/state')), ['my-agent', 'US-036']);
    assert.equal(t.prompt, DEFAULT_PROMPT);
    assert.throws(() => expandCommand(agentTemplate({}).template, runValues(agentTemplate({}), base, '/s')), /No agent command is configured: choose an agent/);
    assert.throws(() => agentTemplate({ agent: 'gpt' }), /must be one of claude, codex, gemini, aider, custom/);
  });

  it('the prompt is a template too, and stays one argument', () => {
    const t = agentTemplate({ agent: 'aider', prompt: 'Do ${priority} ("${title}") on ${branch}; $(rm -rf ~)' });
    const argv = expandCommand(t.template, runValues(t, base, '/state'));
    assert.equal(argv.at(-1), 'Do US-036 ("Add login") on code-developer/us-036; $(rm -rf ~)');
    assert.equal(argv[argv.indexOf('--read') + 1], '/state/runs/r1/spec.md');
  });

  it('every preset names where its flags were checked', () => {
    for (const p of Object.values(PRESETS)) assert.match(p.source, /github\.com|docs\./);
  });

  it("the spec is the priority's section: to the next heading of the same or a higher level, fences ignored", () => {
    const section = prioritySection(ROADMAP, 3);
    assert.match(section, /^## US-036: Add login/);
    assert.match(section, /password field/);
    assert.match(section, /US-999: an example heading inside a fence/, 'a heading in a fence does not end it');
    assert.match(section, /### Acceptance\n\n- it logs in\n$/, 'a lower-level heading belongs to it');
    assert.doesNotMatch(section, /US-037/);
    assert.match(prioritySection(ROADMAP, ROADMAP.split('\n').indexOf('## US-037: Add logout') + 1), /^## US-037: Add logout\n\n\*\*Status\*\*: 📝 Planned\n$/, 'the last section runs to the end');
  });
});

describe('agent placeholders in a real run', function () {
  this.timeout(60_000);
  let s: Sandbox;
  beforeEach(() => (s = makeSandbox(ROADMAP)));
  afterEach(() => s.cleanup());

  it('the agent gets its spec file, its git dirs, a session id and the prompt', async () => {
    const out = path.join(s.dir, 'argv.json');
    // A stand-in agent that records its arguments, and reads its spec as an agent would.
    const script = 'const fs=require("fs");const [out,...a]=process.argv.slice(1);fs.writeFileSync(out,JSON.stringify({argv:a,spec:fs.readFileSync(a[2],"utf8")}))';
    const command = [NODE, '-e', script, out, '${gitDir}', '${gitCommonDir}', '${specFile}', '${sessionId}', '${prompt}', '${runDir}'];
    const r = await cli(s, ['--agent-command', JSON.stringify(command), '--prompt', 'Build ${priority} from ${specFile}', 'spawn', 'US-036', '--wait']);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => fs.existsSync(out), 20_000);
    const { argv, spec } = JSON.parse(fs.readFileSync(out, 'utf8')) as { argv: string[]; spec: string };
    const run = withStore(s, (st) => st.listRuns({})[0]);
    const [gitDir, gitCommonDir, specFile, sessionId, prompt, runFolder] = argv;
    assert.equal(gitDir, git(run.worktree, 'rev-parse', '--absolute-git-dir'), "the worktree's own git dir, as git names it");
    assert.equal(gitCommonDir, path.resolve(run.worktree, git(run.worktree, 'rev-parse', '--git-common-dir')));
    assert.equal(specFile, path.join(s.state, 'runs', run.id, 'spec.md'));
    assert.equal(runFolder, path.join(s.state, 'runs', run.id));
    assert.match(spec, /## US-036: Add login[\s\S]*password field[\s\S]*- it logs in\n$/);
    assert.doesNotMatch(spec, /US-037/);
    assert.match(sessionId, UUID);
    assert.equal(prompt, `Build US-036 from ${specFile}`);
    assert.deepEqual(run.command.slice(4), argv, 'the database holds the exact argv that ran');
  });

  it('a run that takes a warm-pool worktree gets the git dir git really uses (its admin folder keeps the pool name)', async () => {
    const orch = startOrchestrator(s, ['--warm-pool', '1', '--max-parallel', '3']);
    try {
      await orch.waitFor(/^leader/);
      assert.equal((await cli(s, ['spawn', 'US-036', '--wait', '--agent-command', agentCommand('sleep:60000')])).exitCode, 0);
      // Ready (locked 'pool ready'), not only listed: it is listed while being set up too.
      const pool = () => git(s.repo, 'worktree', 'list', '--porcelain').split('\n\n').filter((b) => b.includes('/.pool-') && b.includes('pool ready'));
      await until(() => pool().length === 1, 20_000);
      const out = path.join(s.dir, 'argv.json');
      const script = 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)))';
      const r = await cli(s, ['--agent-command', JSON.stringify([NODE, '-e', script, out, '--add-dir', '${gitDir}']), 'spawn', 'US-037', '--wait']);
      assert.equal(r.exitCode, 0, r.stderr);
      await until(() => fs.existsSync(out), 20_000);
      const run = withStore(s, (st) => st.listRuns({}).find((x) => x.priority === 'US-037')!);
      assert.equal(withStore(s, (st) => st.events(run.id).filter((e) => e.kind === 'take-pool-worktree').length), 1, 'the pool worktree was taken');
      const real = git(run.worktree, 'rev-parse', '--absolute-git-dir');
      assert.match(real, /worktrees\/[.-]pool-/, 'git keeps the pool admin folder');
      assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), ['--add-dir', real]);
    } finally {
      await orch.kill();
    }
  });

  it('--agent codex: the run records the preset argv, with the real worktree git dir and the spec written', async () => {
    // No codex on this PATH: the run fails to start, after everything it would have got is recorded.
    const r = await cli(s, ['--agent', 'codex', 'spawn', 'US-036', '--wait'], { PATH: path.dirname(NODE) + ':/usr/bin:/bin' });
    const run = withStore(s, (st) => st.listRuns({})[0]);
    assert.ok(run, r.stderr);
    assert.deepEqual(run.command.slice(0, 5), ['codex', 'exec', '--json', '--sandbox', 'workspace-write']);
    assert.equal(run.command[run.command.indexOf('--add-dir') + 1], git(run.worktree, 'rev-parse', '--absolute-git-dir'));
    const spec = path.join(s.state, 'runs', run.id, 'spec.md');
    assert.match(run.command.at(-1)!, new RegExp(`Implement US-036: Add login\\. .* in ${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(fs.readFileSync(spec, 'utf8'), /## US-036: Add login[\s\S]*- it logs in\n$/);
    await until(() => withStore(s, (st) => st.getRun(run.id)!.status === 'failed'), 20_000);
    assert.match(fs.readFileSync(run.logPath, 'utf8'), /could not start codex/);
  });

  it('agents --json --priority lists every preset with the argv it would run', async () => {
    const r = await cli(s, ['--agent', 'codex', 'agents', '--json', '--priority', 'US-036']);
    assert.equal(r.exitCode, 0, r.stderr);
    const listed = JSON.parse(r.stdout) as { priority: string; agents: Array<{ name: string; selected: boolean; argv?: string[]; problem?: string }> };
    assert.equal(listed.priority, 'US-036');
    assert.deepEqual(listed.agents.map((a) => a.name), ['claude', 'codex', 'gemini', 'aider', 'custom']);
    assert.deepEqual(listed.agents.filter((a) => a.selected).map((a) => a.name), ['codex']);
    const codex = listed.agents.find((a) => a.name === 'codex')!;
    assert.ok(codex.argv!.includes(path.join(fs.realpathSync(s.repo), '.git', 'worktrees', 'us-036')), JSON.stringify(codex.argv));
    assert.match(listed.agents.find((a) => a.name === 'custom')!.problem!, /No agent command is configured/);
    assert.equal(withStore(s, (st) => st.listRuns({}).length), 0, 'listing claims nothing');
  });

  it('--agent: a bad name, or a preset with --agent-command, is refused with a clear message', async () => {
    const bad = await cli(s, ['--agent', 'gpt', 'spawn', 'US-036']);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /--agent must be one of claude, codex, gemini, aider, custom; got "gpt"/);
    const both = await cli(s, ['--agent', 'claude', '--agent-command', '["x"]', 'spawn', 'US-036']);
    assert.equal(both.exitCode, 1);
    assert.match(both.stderr, /--agent claude and --agent-command contradict each other/);
    assert.equal(withStore(s, (st) => st.listRuns({}).length), 0);
  });
});

describe('agent settings and the UI check', () => {
  it('package.json declares the agent and prompt settings machine-scoped, with the defaults core uses', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { enum?: string[]; default?: unknown; scope?: string }> } } };
    const props = pkg.contributes.configuration.properties;
    const agent = props['worktreeOrchestrator.codeDeveloper.agent'];
    assert.deepEqual(agent.enum, [...AGENT_NAMES]);
    assert.equal(agent.default, 'custom', 'existing users keep their command');
    assert.equal(agent.scope, 'machine');
    const prompt = props['worktreeOrchestrator.codeDeveloper.prompt'];
    assert.equal(prompt.default, DEFAULT_PROMPT);
    assert.equal(prompt.scope, 'machine', 'a workspace cannot choose what the agent is told');
  });

  it("the spawn check looks for the chosen preset's program on PATH", () => {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'wto-path-'));
    try {
      fs.writeFileSync(path.join(dir, 'codex'), '#!/bin/sh\n', { mode: 0o755 });
      assert.equal(agentCommandProblem({ agentCommand: undefined, agent: 'codex' }, { PATH: dir }), undefined);
      assert.match(agentCommandProblem({ agentCommand: undefined, agent: 'claude' }, { PATH: dir })!, /"claude" was not found on PATH/);
      assert.match(agentCommandProblem({ agentCommand: undefined }, { PATH: dir })!, /No code_developer command is configured\. Choose an agent/);
      assert.match(agentCommandProblem({ agentCommand: undefined, agent: 'gpt' }, { PATH: dir })!, /must be one of/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
