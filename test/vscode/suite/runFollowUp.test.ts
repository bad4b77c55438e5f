// Named to run after orchestratorUi (which counts the runs it made) and before worktreeGc.
// "Follow Up…" (worktreeOrchestrator.followUp): on an ended run, the next run of its priority in
// the same worktree and branch, told a message; the menu entry is on ended runs only.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExtensionApi } from '../../../src/ui/host/extensionApi';
import { EXTENSION_ID, testWorkspace } from './env';
import { addPriorities, git, setAgentCommand, until } from './helpers';
import type { Run } from '../../../src/core/model/run';

const FOLLOW_UP = 'worktreeOrchestrator.followUp';
/** Appends the prompt it was given to prompts.txt in its worktree, and exits (commit on exit commits it). */
const AGENT = [process.execPath, '-e', 'require("fs").appendFileSync("prompts.txt", process.argv[1].split("\\n")[0] + "\\n");', '${prompt}'];

describe('Follow Up…', function () {
  this.timeout(90_000);
  let api: ExtensionApi;
  let repo: string;
  const ended = (run: Run) => until(`${run.priority} #${run.attempt} to end`, () => {
    const r = api.store.getRun(run.id);
    return r && r.endedAt ? r : undefined;
  }, 30_000);

  before(async () => {
    api = await vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!.activate();
    repo = fs.realpathSync(testWorkspace());
    api.testing.setWorkspaceOpener(async () => undefined);
    addPriorities(repo, [['US-105', 'Followed up']]);
    await setAgentCommand(AGENT);
    await api.testing.repositories();
  });

  let worktree: string | undefined;
  let branch: string | undefined;
  after(() => {
    api?.testing.setWorkspaceOpener(undefined);
    // Leaves no worktree behind: the suites after this one count the worktrees of ended runs.
    if (worktree && fs.existsSync(worktree)) git(repo, 'worktree', 'remove', '--force', '--force', worktree);
    if (branch) git(repo, 'branch', '-D', branch);
  });

  it('is contributed as "Follow Up…" and offered on ended runs only', () => {
    const pkg = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { commands: Array<{ command: string; title: string; category?: string }>; menus: Record<string, Array<{ command: string; when?: string }>> } };
    const contributed = pkg.contributes.commands.find((c) => c.command === FOLLOW_UP);
    assert.equal(contributed?.title, 'Follow Up…');
    assert.equal(contributed?.category, 'Orchestrator');
    const item = pkg.contributes.menus['view/item/context'].find((m) => m.command === FOLLOW_UP);
    assert.match(item?.when ?? '', /viewItem =~ \/\^run\\\.ended\\\.\//);
  });

  it('runs the next attempt in the same worktree and branch, and the agent gets the message', async () => {
    const first = await vscode.commands.executeCommand<Run>('worktreeOrchestrator.spawnCodeDeveloper', 'US-105');
    assert.ok(first, 'US-105 was not spawned');
    worktree = first.worktree;
    branch = first.branch;
    await ended(first);
    const next = await vscode.commands.executeCommand<Run>(FOLLOW_UP, { run: first.id, message: 'Second pass: add the tests' });
    assert.ok(next, 'no follow-up was requested');
    assert.equal(next.attempt, 2);
    assert.equal(next.worktree, first.worktree);
    assert.equal(next.branch, first.branch);
    const done = await ended(next);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    const prompts = fs.readFileSync(path.join(first.worktree, 'prompts.txt'), 'utf8').trim().split('\n');
    assert.equal(prompts.length, 2);
    assert.match(prompts[0], /^Implement US-105: Followed up/);
    assert.equal(prompts[1], 'Second pass: add the tests');
    // Both runs' work is on the branch: each left prompts.txt, committed on exit.
    assert.match(git(repo, 'log', '--format=%s', `${first.branch}`), /wto: changes left by US-105 run #2[\s\S]*wto: changes left by US-105 run #1/);
  });
});
