import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, cli, liveAgents, makeSandbox, NODE, ROOT, Sandbox, withStore } from '../support/sandbox';
import { sleep, until } from '../support/wait';

// Issue 16: `worktree-orchestrator attach` driven through a real terminal multiplexer (tmux).
const TTY_AGENT = path.join(ROOT, 'test', 'fixtures', 'ttyAgent.mjs');
const hasTmux = (() => {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('worktree-orchestrator attach, in tmux (issue 16)', function () {
  this.timeout(60_000);
  let s: Sandbox;
  let tmuxSocket: string;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', tmuxSocket, ...args], { encoding: 'utf8' });
  const pane = () => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', 'wto');
  const paneShows = (re: RegExp, timeoutMs = 15_000) => until(() => re.test(pane()), timeoutMs, 100).catch(() => assert.fail(`the pane never showed ${re}:\n${pane()}`));
  /** A tmux session running `attach` (no shell: tmux runs the argument array itself). */
  const attachInTmux = (which: string, size = ['-x', '100', '-y', '30']) => {
    tmux('new-session', '-d', '-s', 'wto', ...size, '--', NODE, CLI, '--repo', s.repo, '--state-dir', s.state, 'attach', which);
    tmux('set-option', '-t', 'wto', 'remain-on-exit', 'on'); // the last words stay readable
  };
  beforeEach(function () {
    if (!hasTmux || process.platform === 'win32') this.skip(); // Debian's tmux: apt-get install -y tmux
    s = makeSandbox();
    tmuxSocket = path.join(s.dir, 'tmux.sock');
  });
  afterEach(() => {
    try {
      execFileSync('tmux', ['-S', tmuxSocket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // no server
    }
    s?.cleanup();
  });

  it('types into the agent, follows the pane size, detaches with Ctrl-] and reattaches to the same screen', async () => {
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => liveAgents(s).length === 1);
    attachInTmux('US-036');
    await paneShows(/Ctrl-\] detaches/);
    await paneShows(/What is your name\?/);
    await paneShows(/resized cols=100 rows=30/); // the pane's size reached the agent on attach
    tmux('send-keys', '-t', 'wto', '-l', 'Ada');
    tmux('send-keys', '-t', 'wto', 'Enter');
    await paneShows(/Hello, Ada!/);
    tmux('resize-window', '-t', 'wto', '-x', '90', '-y', '25');
    await paneShows(/resized cols=90 rows=25/);
    tmux('send-keys', '-t', 'wto', 'C-]');
    await paneShows(/detached from US-036; the agent keeps running/);
    await sleep(300);
    const agent = liveAgents(s)[0];
    assert.ok(agent, 'the agent lives on after the detach');
    tmux('kill-session', '-t', 'wto');
    attachInTmux(withStore(s, (st) => st.listRuns()[0].id)); // by run id this time
    await paneShows(/Hello, Ada![\s\S]*What is your name\?/);
    tmux('send-keys', '-t', 'wto', '-l', 'quit');
    tmux('send-keys', '-t', 'wto', 'Enter');
    await paneShows(/the agent of US-036 ended: exit code 5/);
    await until(() => withStore(s, (st) => st.listRuns()[0].status) === 'failed', 10_000);
  });

  it('refuses, with a clear message, a priority that has no run or whose run has ended', async () => {
    const none = await cli(s, ['attach', 'US-037']);
    assert.equal(none.exitCode, 1);
    assert.match(none.stderr, /No run matches "US-037"/);
    const r = await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, path.join(ROOT, 'test', 'fixtures', 'fakeAgent.mjs'), 'exit:0'])]);
    assert.equal(r.exitCode, 0, r.stderr);
    await until(() => withStore(s, (st) => st.listRuns()[0].status) === 'succeeded', 10_000);
    const ended = await cli(s, ['attach', 'US-036']);
    assert.equal(ended.exitCode, 1);
    assert.match(ended.stderr, /US-036 \(run \w+\) has ended \(succeeded, exit code 0\): there is no agent to attach to/);
    assert.ok(fs.existsSync(withStore(s, (st) => st.listRuns()[0].logPath)));
  });
});
