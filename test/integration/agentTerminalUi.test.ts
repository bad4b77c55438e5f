import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, liveAgents, makeSandbox, NODE, ROOT, Sandbox, withStore } from '../support/sandbox';
import { Store } from '../../src/core/db/store';
import { sleep, until } from '../support/wait';

// Issue 16, VS Code side: the Open Agent Terminal bridge (src/ui/commands/agentTerminal.ts) against a
// real supervisor, socket and agent. Only `vscode` itself is a stand-in (the bench's fake,
// bench/fakeVscode.cjs, plus createTerminal and onDidCloseTerminal), so that this runs
// without an extension host; the in-host and browser tests are for code-server.
const TTY_AGENT = path.join(ROOT, 'test', 'fixtures', 'ttyAgent.mjs');

interface FakeTerminal {
  name: string;
  exitStatus?: { code: number | undefined; reason: number };
  pty: { onDidWrite: (l: (s: string) => void) => unknown; open(size?: { columns: number; rows: number }): void; handleInput(d: string): void; setDimensions(d: { columns: number; rows: number }): void; close(): void };
  shown: number;
  show(): void;
  dispose(): void;
}
const created: FakeTerminal[] = [];
const closeListeners: Array<(t: FakeTerminal) => void> = [];
const focusListeners: Array<(w: { focused: boolean }) => void> = [];
/** The terminal API the bridge uses, added to the bench's fake `vscode` for these tests. */
const terminalApi = {
  createTerminal: (o: { name: string; pty: FakeTerminal['pty'] }) => {
    const t: FakeTerminal = {
      name: o.name,
      pty: o.pty,
      shown: 0,
      show: () => void t.shown++,
      dispose: () => {
        o.pty.close();
        for (const l of closeListeners) l(t);
      },
    };
    created.push(t);
    return t;
  },
  onDidCloseTerminal: (l: (t: FakeTerminal) => void) => {
    closeListeners.push(l);
    return { dispose: () => undefined };
  },
  onDidChangeWindowState: (l: (w: { focused: boolean }) => void) => {
    focusListeners.push(l);
    return { dispose: () => undefined };
  },
};
interface Fake {
  __install(): () => void;
  window: Record<string, unknown>;
  commands: { registered: Map<string, (...a: unknown[]) => unknown> };
}

describe('Open Agent Terminal: the VS Code terminal bridged to the agent (issue 16)', function () {
  this.timeout(60_000);
  let s: Sandbox;
  let store: Store;
  let ui: typeof import('../../src/ui/commands/agentTerminal');
  const notes: string[] = [];
  const logsShown: string[] = [];
  let restore: () => void;
  let fake: Fake;
  let saved: Record<string, unknown>;
  const command = (id: string) => fake.commands.registered.get(id)!;
  before(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    fake = require('../../bench/fakeVscode.cjs') as Fake;
    restore = fake.__install();
    saved = Object.fromEntries(Object.keys(terminalApi).map((k) => [k, fake.window[k]]));
    Object.assign(fake.window, terminalApi);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ui = require('../../src/ui/commands/agentTerminal');
  });
  after(() => {
    Object.assign(fake.window, saved);
    restore();
  });
  beforeEach(function () {
    if (process.platform === 'win32') this.skip();
    s = makeSandbox();
    created.length = 0;
    closeListeners.length = 0;
    focusListeners.length = 0;
    notes.length = 0;
    logsShown.length = 0;
  });
  afterEach(() => {
    store?.close();
    s?.cleanup();
  });
  const services = () => {
    store = Store.open(s.state);
    return {
      host: { store, stateDir: s.state },
      repos: { repositories: [{ root: s.repo }] },
      notifier: { info: (m: string) => notes.push(m), warn: (m: string) => notes.push(m), failure: (e: Error) => notes.push(`failed: ${e.message}`) },
      logs: { show: async (run: { id: string }) => void logsShown.push(run.id) },
      log: { info: () => undefined, warn: (m: string) => notes.push(m) },
    } as unknown as import('../../src/ui/host/services').Services;
  };
  const memento = () => {
    const data = new Map<string, unknown>();
    return { get: <T>(k: string, d: T) => (data.has(k) ? (data.get(k) as T) : d), update: async (k: string, v: unknown) => void data.set(k, v), data };
  };
  const screenOf = (t: FakeTerminal) => {
    let text = '';
    t.pty.onDidWrite((d) => (text += d));
    return () => text;
  };

  it('shows the screen, types into the agent, follows the size, detaches on close and comes back after a reload', async () => {
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])])).exitCode, 0);
    await until(() => liveAgents(s).length === 1 && fs.existsSync(path.join(s.state, 'runs', withStore(s, (st) => st.listRuns()[0].id), 'attach.sock')));
    const svc = services();
    const run = store.listRuns()[0];
    const state = memento();
    const terminals = new ui.AgentTerminals(svc, state as never);
    for (const d of ui.registerAgentTerminalCommands(svc, terminals)) void d;
    await command('worktreeOrchestrator.openAgentTerminal')('US-036');
    assert.equal(created.length, 1, notes.join('; '));
    const t = created[0];
    assert.equal(t.name, 'US-036 #1');
    const screen = screenOf(t);
    t.pty.open({ columns: 100, rows: 30 });
    await until(() => /What is your name\?/.test(screen()) && /resized cols=100 rows=30/.test(screen()));
    t.pty.handleInput('Ada\r');
    await until(() => /Hello, Ada!/.test(screen()));
    t.pty.setDimensions({ columns: 90, rows: 20 });
    await until(() => /resized cols=90 rows=20/.test(screen()));
    // Opening it again shows the same terminal, not a second connection.
    await command('worktreeOrchestrator.openAgentTerminal')(run.id);
    assert.equal(created.length, 1);
    assert.deepEqual(state.get('worktreeOrchestrator.agentTerminals', []), [run.id]);
    // A reload: the extension host goes (the terminal with it), the agent stays, the new host reopens it.
    terminals.dispose();
    await sleep(300);
    assert.ok(liveAgents(s).length === 1, 'closing the terminal only detaches');
    const again = new ui.AgentTerminals(svc, state as never);
    await again.restore();
    assert.equal(created.length, 2, notes.join('; '));
    const screen2 = screenOf(created[1]);
    created[1].pty.open({ columns: 90, rows: 20 });
    await until(() => /Hello, Ada![\s\S]*What is your name\?/.test(screen2()));
    // Closed by the user: forgotten, so a later reload does not bring it back.
    created[1].dispose();
    assert.deepEqual(state.get('worktreeOrchestrator.agentTerminals', []), []);
    again.dispose();
  });

  it('a folder window that reopens as a multi-root workspace (a worktree landed) brings its terminals along', async () => {
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])])).exitCode, 0);
    await until(() => liveAgents(s).length === 1 && fs.existsSync(path.join(s.state, 'runs', withStore(s, (st) => st.listRuns()[0].id), 'attach.sock')));
    const svc = services();
    const folders = (fake as unknown as { __bench: { folders: string[] } }).__bench.folders;
    const saved = [...folders];
    try {
      folders.splice(0, folders.length, s.repo);
      const global = memento();
      const folderWindow = new ui.AgentTerminals(svc, memento() as never, global as never);
      ui.registerAgentTerminalCommands(svc, folderWindow);
      await command('worktreeOrchestrator.openAgentTerminal')('US-036');
      assert.equal(created.length, 1, notes.join('; '));
      // vscode.openFolder on the .code-workspace: the window closes its terminals (reason
      // Shutdown, unlike a reload), then this host goes.
      created[0].exitStatus = { code: undefined, reason: 1 };
      created[0].dispose();
      folderWindow.dispose();
      // The new window: the folder first, then the worktree; its workspaceState is new.
      folders.splice(0, folders.length, s.repo, path.join(s.dir, 'worktree'));
      const workspaceWindow = new ui.AgentTerminals(svc, memento() as never, global as never);
      await workspaceWindow.restore();
      assert.equal(created.length, 2, `the terminal came along (${notes.join('; ')})`);
      const screen = screenOf(created[1]);
      created[1].pty.open({ columns: 80, rows: 24 });
      await until(() => /What is your name\?/.test(screen()));
      workspaceWindow.dispose();
      // A workspace that has a list of its own (here: none open) keeps to it.
      const closedAll = memento();
      await closedAll.update('worktreeOrchestrator.agentTerminals', []);
      const other = new ui.AgentTerminals(svc, closedAll as never, global as never);
      await other.restore();
      assert.equal(created.length, 2, 'nothing reopened where the user had closed them');
      other.dispose();
    } finally {
      folders.splice(0, folders.length, ...saved);
    }
  });

  it('two windows on one folder (code-server tabs) share the list: one closing its terminal does not drop the other\'s', async () => {
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])])).exitCode, 0);
    await until(() => liveAgents(s).length === 1 && fs.existsSync(path.join(s.state, 'runs', withStore(s, (st) => st.listRuns()[0].id), 'attach.sock')));
    const svc = services();
    const runId = store.listRuns()[0].id;
    const shared = memento();
    const a = new ui.AgentTerminals(svc, shared as never);
    const b = new ui.AgentTerminals(svc, shared as never);
    await a.show(store.getRun(runId)!);
    await b.show(store.getRun(runId)!);
    created[1].dispose(); // the user closes it in window b
    assert.deepEqual(shared.get('worktreeOrchestrator.agentTerminals', []), []);
    for (const l of focusListeners) l({ focused: true }); // the user is back in window a (b, with none, adds nothing)
    assert.deepEqual(shared.get('worktreeOrchestrator.agentTerminals', []), [runId], 'window a still has it open');
    a.dispose();
    b.dispose();
  });

  it('tells the exit code when the agent ends; an ended run whose terminal was closed opens its log instead', async () => {
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])])).exitCode, 0);
    await until(() => liveAgents(s).length === 1 && fs.existsSync(path.join(s.state, 'runs', withStore(s, (st) => st.listRuns()[0].id), 'attach.sock')));
    const svc = services();
    const terminals = new ui.AgentTerminals(svc, memento() as never);
    ui.registerAgentTerminalCommands(svc, terminals);
    await command('worktreeOrchestrator.openAgentTerminal')('US-036');
    const screen = screenOf(created[0]);
    created[0].pty.open(undefined);
    await until(() => /What is your name\?/.test(screen()));
    created[0].pty.handleInput('quit\r');
    await until(() => /the agent of US-036 ended: exit code 5/.test(screen()));
    await until(() => store.listRuns()[0].status === 'failed', 10_000);
    // The ended agent's last screen stays until the user closes the terminal; then there is none to open.
    await command('worktreeOrchestrator.openAgentTerminal')('US-036');
    assert.equal(created[0].shown, 2, 'the same terminal, shown again');
    created[0].dispose();
    await command('worktreeOrchestrator.openAgentTerminal')('US-036');
    assert.equal(created.length, 1, 'no terminal for an ended run');
    assert.match(notes.join('; '), /has ended \(failed, exit code 5\)/);
    assert.deepEqual(logsShown, [store.listRuns()[0].id], 'its log instead');
    terminals.dispose();
  });
});
