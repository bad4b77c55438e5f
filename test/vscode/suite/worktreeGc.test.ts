// "Clean Up Worktrees…" (worktreeOrchestrator.gc): worktrees of ended runs and orphans in the
// run root that hold nothing are removed after one confirmation of the list; one that holds
// work (an untracked file) is removed only when the user confirms, in a modal that names it.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CleanUpResult } from '../../../src/ui/commands/cleanUpWorktrees';
import type { ExtensionApi } from '../../../src/ui/host/extensionApi';
import type { ShownMessage } from '../../../src/ui/host/notifier';
import { EXTENSION_ID, testWorkspace } from './env';
import { addPriorities, git, setAgentCommand, setMachineSettings, until } from './helpers';
import type { Run } from '../../../src/core/model/run';

const GC = 'worktreeOrchestrator.gc';
/** Leaves an untracked notes.txt behind for US-104; nothing for others. */
const AGENT = [process.execPath, '-e', 'if (process.env.WTO_PRIORITY === "US-104") require("fs").writeFileSync("notes.txt", "mine\\n"); setTimeout(() => process.exit(0), 200);'];

describe('Clean Up Worktrees (gc)', function () {
  this.timeout(120_000);
  let api: ExtensionApi;
  let repo: string;
  let clean: Run;
  let holding: Run;
  let orphan: string;
  const modals: ShownMessage[] = [];

  const spawnAndEnd = async (priority: string): Promise<Run> => {
    const run = await vscode.commands.executeCommand<Run>('worktreeOrchestrator.spawnCodeDeveloper', priority);
    assert.ok(run, `${priority} was not spawned`);
    return until(`${priority} to end`, () => {
      const r = api.store.getRun(run.id);
      return r && r.endedAt ? r : undefined;
    }, 30_000);
  };
  const answer = (button: (m: ShownMessage) => string | undefined) =>
    api.testing.answerModals((m) => {
      modals.push(m);
      return button(m);
    });

  before(async () => {
    api = await vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!.activate();
    repo = fs.realpathSync(testWorkspace());
    api.testing.setWorkspaceOpener(async () => undefined);
    addPriorities(repo, [['US-103', 'Leaves nothing'], ['US-104', 'Leaves a note']]);
    await setAgentCommand(AGENT);
    // Off here: this is about a worktree holding an untracked file the agent left.
    await setMachineSettings({ 'worktreeOrchestrator.commitOnExit': false });
    await api.testing.repositories();
    clean = await spawnAndEnd('US-103');
    holding = await spawnAndEnd('US-104');
    assert.equal(holding.status, 'succeeded', holding.error ?? '');
    assert.ok(fs.existsSync(path.join(holding.worktree, 'notes.txt')));
    // A worktree in the run root that no run owns, made by hand.
    orphan = path.join(path.dirname(clean.worktree), 'by-hand');
    git(repo, 'worktree', 'add', '-q', '-b', 'by-hand', orphan, 'HEAD');
  });

  after(async () => {
    api?.testing.answerModals(undefined);
    api?.testing.setWorkspaceOpener(undefined);
    await setMachineSettings({ 'worktreeOrchestrator.commitOnExit': true });
  });

  it('removes the clean, merged ones; keeps one with an untracked file when not confirmed', async () => {
    modals.length = 0;
    answer((m) => (m.actions.includes('Clean Up') ? 'Clean Up' : undefined));
    const result = await vscode.commands.executeCommand<CleanUpResult>(GC);
    assert.ok(result, 'the command returned nothing');

    // One list first, saying what each holds.
    const list = modals[0];
    assert.match(list.message, /^Clean up \d+ worktree\(s\) of .*: remove \d+ that holds? nothing, then ask about 1 that holds work\?$/);
    assert.ok(list.detail!.includes(`${path.basename(holding.worktree)} — US-104 #1 succeeded — holds 1 untracked file`), list.detail);
    assert.ok(list.detail!.includes(`${path.basename(clean.worktree)} — US-103 #1 succeeded — holds nothing`), list.detail);
    assert.ok(list.detail!.includes('by-hand — no run owns it — holds nothing'), list.detail);

    // Then exactly one question, about the worktree with work, naming the file.
    const asked = modals.slice(1);
    assert.equal(asked.length, 1, JSON.stringify(asked));
    assert.match(asked[0].message, /holds work that removing it would lose: 1 untracked file/);
    assert.ok(asked[0].detail!.includes('notes.txt'), asked[0].detail);

    assert.ok(!fs.existsSync(clean.worktree), 'the clean worktree is still there');
    assert.equal(git(repo, 'branch', '--list', clean.branch).trim(), '', 'its merged branch was kept');
    assert.ok(!fs.existsSync(orphan), 'the orphan is still there');
    assert.ok(fs.existsSync(path.join(holding.worktree, 'notes.txt')), 'the untracked file was lost');
    assert.ok(result.removed.includes(clean.worktree) && result.removed.includes(orphan), JSON.stringify(result));
    assert.deepEqual(result.kept, [holding.worktree]);
  });

  it('removes that one too once the user confirms what would be lost', async () => {
    modals.length = 0;
    answer((m) => (m.actions.includes('Clean Up') ? 'Clean Up' : m.actions.includes('Remove and Lose This Work') ? 'Remove and Lose This Work' : undefined));
    const result = await vscode.commands.executeCommand<CleanUpResult>(GC);
    assert.deepEqual(result.removed, [holding.worktree]);
    assert.ok(!fs.existsSync(holding.worktree));
    // Nothing is left to clean up.
    modals.length = 0;
    const none = await vscode.commands.executeCommand<CleanUpResult>(GC);
    assert.deepEqual(none, { removed: [], kept: [] });
    assert.equal(modals.length, 0);
  });

  it('keeps a worktree that a live process still works in, naming the process, until it ends', async () => {
    const busy = path.join(path.dirname(clean.worktree), 'in-use');
    git(repo, 'worktree', 'add', '-q', '-b', 'in-use', busy, 'HEAD');
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { cwd: busy, stdio: 'ignore' });
    try {
      modals.length = 0;
      answer((m) => (m.actions.includes('Clean Up') ? 'Clean Up' : undefined));
      const kept = await vscode.commands.executeCommand<CleanUpResult>(GC);
      assert.ok(modals[0].detail!.includes(`in-use — no run owns it — in use by process ${sleeper.pid}`), modals[0].detail);
      assert.deepEqual(kept.kept, [busy], JSON.stringify(kept));
      assert.ok(fs.existsSync(busy), 'a worktree in use was removed');
    } finally {
      sleeper.kill('SIGKILL');
    }
    await until('the process to end', () => (sleeper.exitCode !== null || sleeper.signalCode !== null ? true : undefined), 10_000);
    const removed = await vscode.commands.executeCommand<CleanUpResult>(GC);
    assert.deepEqual(removed.removed, [busy], JSON.stringify(removed));
  });
});
