// When a run ends, the window that asked for it (or, for the loop, the CLI and windows that
// have gone, the leading window) says so once: "US-101 succeeded (exit 0)" with Open Diff,
// Merge, Open Worktree and Show Log; a failed run puts Show Log first.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { ExtensionApi } from '../../../src/ui/host/extensionApi';
import type { ShownMessage } from '../../../src/ui/host/notifier';
import { announcesHere } from '../../../src/ui/views/runEndNotices';
import { EXTENSION_ID, testWorkspace } from './env';
import { addPriorities, setAgentCommand, until } from './helpers';
import { sleep } from '../../support/wait';
import type { Run } from '../../../src/core/model/run';

const SPAWN = 'worktreeOrchestrator.spawnCodeDeveloper';
/** Exits after a moment: 3 for US-102, 0 otherwise. */
const AGENT = [process.execPath, '-e', 'setTimeout(() => process.exit(process.env.WTO_PRIORITY === "US-102" ? 3 : 0), 300);'];

describe('Run-ended notifications', function () {
  this.timeout(90_000);
  let api: ExtensionApi;
  let repo: string;
  const messages: ShownMessage[] = [];
  let listener: vscode.Disposable | undefined;
  const ended = (run: Run) => until(`${run.priority} #${run.attempt} to end`, () => {
    const r = api.store.getRun(run.id);
    return r && r.endedAt ? r : undefined;
  }, 30_000);

  before(async () => {
    api = await vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!.activate();
    repo = fs.realpathSync(testWorkspace());
    listener = api.testing.onDidShowMessage((m) => messages.push(m));
    // Adding the worktree to this single-folder window would reload it and end the run.
    api.testing.setWorkspaceOpener(async () => undefined);
    addPriorities(repo, [['US-101', 'Ends well'], ['US-102', 'Ends badly']]);
    await setAgentCommand(AGENT);
    await api.testing.repositories();
  });

  after(() => {
    listener?.dispose();
    api?.testing.setWorkspaceOpener(undefined);
  });

  it('announces a run of this window that succeeded, with Open Diff, Merge, Open Worktree, Show Log', async () => {
    const run = await vscode.commands.executeCommand<Run>(SPAWN, 'US-101');
    assert.ok(run, JSON.stringify(messages));
    await ended(run);
    const shown = await until('the notice', () => messages.find((m) => m.message === 'US-101 succeeded (exit 0)'));
    assert.equal(shown.severity, 'info');
    assert.deepEqual(shown.actions, ['Open Diff', 'Merge', 'Open Worktree', 'Show Log']);
  });

  it('announces a failed run with Show Log first', async () => {
    const run = await vscode.commands.executeCommand<Run>(SPAWN, 'US-102');
    assert.ok(run, JSON.stringify(messages));
    await ended(run);
    const shown = await until('the notice', () => messages.find((m) => m.message === 'US-102 failed (exit 3)'));
    assert.equal(shown.severity, 'error');
    assert.deepEqual(shown.actions, ['Show Log', 'Open Diff', 'Merge', 'Open Worktree']);
  });

  it('says it once: not again on later changes, nor after a reload (same global state, fresh window)', async () => {
    // Later run changes: a new attempt of US-101 ends too, and is announced on its own.
    const again = await vscode.commands.executeCommand<Run>('worktreeOrchestrator.newAttempt', 'US-101');
    assert.ok(again, JSON.stringify(messages));
    await ended(again);
    await until('the second attempt\'s notice', () => messages.some((m) => m.message === 'US-101 #2 succeeded (exit 0)'));
    // A window that starts now (within the grace for runs that ended during a reload).
    const reloaded = api.testing.startRunEndNotices();
    try {
      await sleep(1_500);
    } finally {
      reloaded.dispose();
    }
    for (const text of ['US-101 succeeded (exit 0)', 'US-102 failed (exit 3)', 'US-101 #2 succeeded (exit 0)']) {
      assert.equal(messages.filter((m) => m.message === text).length, 1, `${text}: ${JSON.stringify(messages.map((m) => m.message))}`);
    }
  });

  it('picks exactly one window: the requester while it runs, else the leader', async () => {
    const here = { windowLabel: `code-server window "repo" (pid ${process.pid})`, isLeader: false };
    const leader = { ...here, isLeader: true };
    const other = `code-server window "other" (pid ${process.ppid})`;
    // A window label whose extension host has exited (a closed or reloaded window).
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => gone.on('exit', r));
    const dead = `code-server window "repo" (pid ${gone.pid})`;

    assert.equal(announcesHere({ requestedBy: here.windowLabel }, here), true);
    assert.equal(announcesHere({ requestedBy: other }, here), false);
    assert.equal(announcesHere({ requestedBy: other }, leader), false, 'the requesting window is alive: it says it');
    for (const requestedBy of [dead, 'loop', 'cli pid 4242', null]) {
      assert.equal(announcesHere({ requestedBy }, leader), true, `${requestedBy}: the leader says it`);
      assert.equal(announcesHere({ requestedBy }, here), false, `${requestedBy}: a standby does not`);
    }
  });
});
