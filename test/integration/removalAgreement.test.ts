import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentCommand, cli, makeSandbox, Sandbox, startOrchestrator, withStore } from '../support/sandbox';
import { until } from '../support/wait';
import type { Run } from '../../src/core/model/run';

// Issue 13: the CLI and the UI carry out ONE "would this lose work" rule. The same worktrees
// go through the UI's Remove (src/ui/commands/removeWorktree.ts, under the fake vscode module,
// its modal answered by the test) and the CLI's `remove` and `gc` (real processes): each asks
// for the same confirmation on the same worktree, and removes the same ones once confirmed.
type Fake = { __install(): () => void };
type RemoveModule = typeof import('../../src/ui/commands/removeWorktree');
type HostModule = typeof import('../../src/ui/host/orchestratorHost');

describe('remove and gc: the CLI and the UI agree on the same worktrees (issue 13)', function () {
  this.timeout(120_000);
  let s: Sandbox;
  let restore: () => void;
  let ui: RemoveModule;
  let hosts: HostModule;
  before(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    restore = (require('../../bench/fakeVscode.cjs') as Fake).__install();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ui = require('../../src/ui/commands/removeWorktree') as RemoveModule;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    hosts = require('../../src/ui/host/orchestratorHost') as HostModule;
  });
  after(() => restore());
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  /** Three ended runs: one left nothing, one committed on its branch, one left an untracked file. */
  async function endedRuns(): Promise<Record<'clean' | 'committed' | 'untracked', Run>> {
    const kinds = { clean: ['US-036', agentCommand()], committed: ['US-037', agentCommand('write:a.txt', 'commit:work')], untracked: ['US-038', agentCommand('write:b.txt')] } as const;
    for (const [priority, command] of Object.values(kinds)) {
      // Commit on exit off: the untracked file must stay what the agent left, uncommitted.
      const r = await cli(s, ['spawn', priority, '--max-parallel', '3', '--no-commit-on-exit', '--agent-command', command]);
      assert.equal(r.exitCode, 0, r.stderr);
    }
    const runOf = (p: string) => withStore(s, (st) => st.listRuns().find((r) => r.priority === p)!);
    await until(() => Object.values(kinds).every(([p]) => runOf(p).status === 'succeeded'), 30_000);
    return { clean: runOf('US-036'), committed: runOf('US-037'), untracked: runOf('US-038') };
  }

  /** A window's services, enough for Remove: its host (the leader here), a notifier whose modal the test answers. */
  function windowServices(answer: (confirm: string) => boolean) {
    const asked: Array<{ message: string; confirm: string }> = [];
    const log = { info() {}, warn() {}, error() {}, debug() {}, trace() {} };
    const host = new hosts.OrchestratorHost({ stateDir: s.state, nodePath: process.execPath, cliPath: path.join(s.dir, '..', 'unused'), label: 'test window', log: log as never });
    const notes: string[] = [];
    host.start(); // nobody else leads: this window does, and answers its own requests
    const services = {
      host,
      log,
      windowLabel: 'test window',
      folders: { remove() {} },
      notifier: {
        ask: async (_severity: string, message: string, _detail: string, confirm: string) => {
          asked.push({ message, confirm });
          return answer(confirm) ? confirm : undefined;
        },
        info: (m: string) => notes.push(m),
        warn: (m: string) => notes.push(m),
        error: (m: string) => notes.push(m),
      },
    };
    return { services: services as never, host, asked, notes };
  }
  const target = (run: Run) => ({ repoRoot: run.repo, worktree: run.worktree, branch: run.branch, run, base: run.baseRef });

  it('the UI asks to confirm exactly where `cli remove` refuses without --force, for the same reason; gc removes only what neither asks about', async () => {
    const runs = await endedRuns();
    const dry = await cli(s, ['gc', '--dry-run']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would-remove ${runs.clean.worktree}`));
    for (const kept of [runs.committed, runs.untracked]) assert.match(dry.stdout, new RegExp(`kept +${kept.worktree}`));

    // The UI, declining every modal: what would it have asked?
    const w = windowServices(() => false);
    try {
      for (const run of Object.values(runs)) assert.equal(await ui.removeWorktree(w.services, target(run), { confirmEmpty: false }), run === runs.clean, `${run.priority}: ${w.notes.join('; ')}`);
    } finally {
      w.host.dispose();
    }
    assert.deepEqual(w.asked.map((a) => a.confirm), ['Remove (Keep Branch)', 'Remove and Lose This Work'], 'the UI asked about the committed and the untracked worktree only');
    assert.ok(!fs.existsSync(runs.clean.worktree), 'the clean one needed no confirmation and was removed');

    // The CLI without --force on the same two: refused, for the same reasons, nothing changed.
    const committed = await cli(s, ['remove', 'US-037']);
    assert.equal(committed.exitCode, 1, committed.stdout);
    assert.match(committed.stderr, /1 commit not in main; it stays on .*which is kept\. Confirm removing the worktree \(CLI: --force\)/);
    const untracked = await cli(s, ['remove', 'US-038']);
    assert.equal(untracked.exitCode, 1, untracked.stdout);
    assert.match(untracked.stderr, /holds 1 untracked file; removing it would lose it\. Confirm to remove it anyway \(CLI: --force\)/);
    assert.ok(fs.existsSync(runs.committed.worktree) && fs.existsSync(runs.untracked.worktree));

    // Confirmed in the UI / forced in the CLI: both remove, and the committed work stays on its branch.
    const yes = windowServices(() => true);
    try {
      assert.equal(await ui.removeWorktree(yes.services, target(runs.committed)), true, yes.notes.join('\n'));
    } finally {
      yes.host.dispose();
    }
    const forced = await cli(s, ['remove', 'US-038', '--force']);
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.ok(!fs.existsSync(runs.committed.worktree) && !fs.existsSync(runs.untracked.worktree));
    assert.match(withStore(s, (st) => st.events(runs.committed.id).map((e) => e.detail ?? '').join('\n')), /confirmed; .* keeps 1 commit not in main/);
    assert.doesNotMatch(withStore(s, (st) => st.events(runs.committed.id).map((e) => e.detail ?? '').join('\n')), /losing/, 'no "losing" for a removal that lost nothing');
  });

  it('`gc` works while another orchestrator leads: the leader collects and the CLI prints its report', async () => {
    const runs = await endedRuns();
    const leader = startOrchestrator(s);
    try {
      await leader.waitFor(/^leader/m);
      const r = await cli(s, ['gc']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`removed +${runs.clean.worktree}`));
      assert.match(r.stdout, new RegExp(`kept +${runs.committed.worktree} +\\(holds 1 unmerged commit`));
      assert.match(r.stdout, new RegExp(`kept +${runs.untracked.worktree} +\\(holds 1 untracked file`));
      assert.ok(!fs.existsSync(runs.clean.worktree) && fs.existsSync(runs.committed.worktree) && fs.existsSync(runs.untracked.worktree));
      const leaderPid = withStore(s, (st) => st.leader().pid);
      assert.equal(leaderPid, leader.child.pid, 'the running orchestrator still leads: gc did not take over');
    } finally {
      await leader.kill();
    }
  });
});
