// Named to run after orchestratorUi.test.ts (mocha takes the files in name order), whose counts assume no earlier run.
// Open Agent Terminal (issue 16) inside a real extension host: the command opens a VS Code
// terminal named after the run, listed in vscode.window.terminals; text sent through the
// terminal API (Terminal.sendText, what a user's keys become) reaches the interactive agent
// in its supervisor's pseudo-terminal, which answers; the terminal's size reached the agent;
// disposing the terminal only detaches. The agent's answers are read from its plain-text
// agent.log (the rendered screen is the browser test's, test/e2e/agentTerminal.test.mjs).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { ExtensionApi } from '../../../src/ui/host/extensionApi';
import { EXTENSION_ID, testWorkspace } from './env';
import { addPriorities, git, setAgentCommand, until } from './helpers';
import type { Run } from '../../../src/core/model/run';

const SPAWN = 'worktreeOrchestrator.spawnCodeDeveloper';
const OPEN = 'worktreeOrchestrator.openAgentTerminal';
/** An interactive agent: refuses to run without a terminal, asks, answers each line, reports resizes. */
const AGENT = [
  process.execPath,
  '-e',
  [
    'if (!process.stdin.isTTY) process.exit(3);',
    'process.stdout.on("resize", () => console.log("resized cols=" + process.stdout.columns + " rows=" + process.stdout.rows));',
    'const ask = () => process.stdout.write("What is your name? ");',
    'require("readline").createInterface({ input: process.stdin }).on("line", (l) => { console.log("Hello, " + l.trim() + "!"); ask(); });',
    'ask();',
  ].join(' '),
];

describe('Open Agent Terminal in the extension host (issue 16)', function () {
  this.timeout(90_000);
  let api: ExtensionApi;
  let run: Run | undefined;
  let repo: string;
  const log = () => (run && fs.existsSync(run.logPath) ? fs.readFileSync(run.logPath, 'utf8') : '');

  before(async () => {
    api = await vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!.activate();
    repo = fs.realpathSync(testWorkspace());
    // Adding the worktree to this single-folder window would reload it and end the suite.
    api.testing.setWorkspaceOpener(async () => undefined);
    addPriorities(repo, [['US-160', 'Talk to the agent']]);
    await setAgentCommand(AGENT);
    await api.testing.repositories();
  });

  after(async () => {
    // No agent, and no worktree for the later suites' counts and clean-ups (the gc suite's list).
    if (run && api.store.getRun(run.id)?.status === 'running') await vscode.commands.executeCommand('worktreeOrchestrator.stopAgent', run.id).then(undefined, () => undefined);
    if (run) {
      const id = run.id;
      await until('US-160 to end', () => !!api.store.getRun(id)?.endedAt, 30_000).catch(() => undefined);
      try {
        git(repo, 'worktree', 'remove', '--force', '--force', run.worktree);
      } catch {
        // not there
      }
    }
    api?.testing.setWorkspaceOpener(undefined);
  });

  it('opens a terminal named after the run; sendText reaches the agent, which answers; closing only detaches', async () => {
    const spawned = await vscode.commands.executeCommand<Run>(SPAWN, 'US-160');
    assert.ok(spawned);
    run = await until('US-160 running', () => {
      const r = api.store.getRun(spawned.id);
      return r?.status === 'running' && r;
    }, 60_000);
    await until('the agent to ask', () => /What is your name\?/.test(log()), 30_000);
    const terminal = await vscode.commands.executeCommand<vscode.Terminal>(OPEN, run.id);
    assert.ok(terminal, 'the command returns the terminal');
    assert.equal(terminal.name, 'US-160 #1');
    assert.ok(vscode.window.terminals.includes(terminal), 'listed among the window\'s terminals');
    // The panel's size, not the supervisor's 120x32, once VS Code has opened the terminal.
    await until('the terminal\'s size to reach the agent', () => /resized cols=\d+/.test(log()), 30_000);
    terminal.sendText('Ada');
    await until('the agent\'s answer', () => /Hello, Ada!/.test(log()), 30_000);
    // Opening it again shows the same terminal.
    assert.equal(await vscode.commands.executeCommand<vscode.Terminal>(OPEN, run.id), terminal);
    terminal.dispose();
    await until('the terminal to close', () => !vscode.window.terminals.includes(terminal), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(api.store.getRun(run.id)?.status, 'running', 'closing the terminal only detached');
    // And it can be opened again, a new connection to the same agent.
    const again = await vscode.commands.executeCommand<vscode.Terminal>(OPEN, run.id);
    assert.notEqual(again, terminal);
    again.sendText('Bob');
    await until('the agent\'s answer after reattaching', () => /Hello, Bob!/.test(log()), 30_000);
    again.dispose();
  });
});
