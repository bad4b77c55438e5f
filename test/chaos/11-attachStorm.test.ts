import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { controlFrame, dataFrame, encodeFrame, FRAME_CONTROL, FRAME_DATA, MAX_FRAME_BYTES } from '../../src/core/agent/attachProtocol';
import { isAlive } from '../../src/core/agent/processInfo';
import { attachClient, TestClient } from '../support/attachClient';
import { cli, liveAgents, makeSandbox, NODE, ROOT, Sandbox } from '../support/sandbox';
import { killAgents, record, rngFor, scaled, withStore } from './lib';
import { sleep, waitUntil } from '../support/wait';

// Scenario 11 (issue 16): a storm of clients on one agent's attach socket, several at a time —
// well-behaved ones that answer the agent and detach or vanish, garbage, oversized and half
// frames, bad control messages and resizes, rapid connect/close, client processes killed -9
// mid-frame — while one watcher stays attached throughout. The agent must never notice: the
// same pid all along, every answer replied to exactly once on the watcher's screen,
// the watcher never cut off.
const TTY_AGENT = path.join(ROOT, 'test', 'fixtures', 'ttyAgent.mjs');
const KINDS = ['answer+detach', 'answer+vanish', 'garbage', 'oversized', 'half frame', 'bad control', 'resize', 'connect/close', 'killed -9 mid-frame'] as const;

describe('chaos 11: an attach storm never disturbs the agent', function () {
  this.timeout(600_000);
  let s: Sandbox;
  let watcher: TestClient | undefined;
  const done = new Map<string, number>();
  const stats = { answers: 0, missing: 0, duplicated: 0, watcherCut: 0, agentChanged: 0, ms: 0 };

  before(function () {
    if (process.platform === 'win32') this.skip();
  });
  after(() => {
    watcher?.socket.destroy();
    const disturbances = stats.missing + stats.duplicated + stats.watcherCut + stats.agentChanged;
    record({
      scenario: '11. attach storm (one agent; garbage, oversized and half frames, bad control, resizes, connect/close, clients killed -9, answers from many clients at once)',
      runs: 1,
      faults: KINDS.map((k) => `${done.get(k) ?? 0} ${k}`).join(', '),
      duplicates: 0,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      breaks: `${disturbances} disturbances of the agent`,
      notes: `${stats.answers} answers, each replied once on the watcher's screen (missing ${stats.missing}, twice ${stats.duplicated}); watcher cut off ${stats.watcherCut}; agent restarted ${stats.agentChanged}; ${stats.ms} ms`,
      ok: disturbances === 0 && stats.answers > 0,
    });
    if (s) {
      killAgents(s);
      s.cleanup();
    }
  });

  it('the agent, its screen and a watching client come through every kind of client', async () => {
    const rng = rngFor('attach-storm');
    s = makeSandbox();
    assert.equal((await cli(s, ['spawn', 'US-036', '--agent-command', JSON.stringify([NODE, TTY_AGENT])])).exitCode, 0);
    const runId = withStore(s, (st) => st.listRuns()[0].id);
    const folder = path.join(s.state, 'runs', runId);
    const sock = path.join(folder, 'attach.sock');
    assert.ok(await waitUntil(() => liveAgents(s).length === 1 && fs.existsSync(sock), 15_000));
    const pid = liveAgents(s)[0].pid;
    watcher = await attachClient(folder);
    let cut = false;
    void watcher.closed.then(() => (cut = true));
    const answers: string[] = [];
    const raw = (bytes: Buffer[], linger = 0) =>
      new Promise<void>((resolve) => {
        const c = net.connect(sock);
        c.on('error', () => resolve());
        c.resume();
        c.once('connect', async () => {
          for (const b of bytes) c.write(b);
          if (linger) await sleep(linger);
          c.destroy();
          resolve();
        });
      });
    const one = async (i: number) => {
      const kind = rng.pick(KINDS);
      done.set(kind, (done.get(kind) ?? 0) + 1);
      switch (kind) {
        case 'answer+detach':
        case 'answer+vanish': {
          const c = await attachClient(folder);
          const token = `t${i}x${rng.int(0, 1e6)}`;
          answers.push(token);
          c.type(`${token}\r`);
          await c.waitFor(new RegExp(`Hello, ${token}!`), 30_000).catch(() => undefined);
          if (kind === 'answer+detach') c.detach();
          else c.socket.destroy();
          return;
        }
        case 'garbage':
          return raw([Buffer.from(Array.from({ length: 1 + rng.int(0, 4096) }, () => rng.int(0, 256)))], rng.int(0, 50));
        case 'oversized': {
          const h = Buffer.alloc(5);
          h[0] = rng.pick([FRAME_DATA, FRAME_CONTROL]);
          h.writeUInt32BE(MAX_FRAME_BYTES + 1 + rng.int(0, 1e9), 1);
          return raw([h, Buffer.alloc(rng.int(0, 65536))], rng.int(0, 50));
        }
        case 'half frame':
          return raw([dataFrame('never finished, never typed').subarray(0, 3 + rng.int(0, 20))], rng.int(0, 100));
        case 'bad control':
          return raw([encodeFrame(FRAME_CONTROL, rng.pick(['{', 'null', '[]', '{"type":7}', '{"type":"resize","cols":0,"rows":5}', '{"type":"shutdown"}']))], rng.int(0, 50));
        case 'resize':
          return raw([controlFrame({ type: 'resize', cols: 40 + rng.int(0, 160), rows: 10 + rng.int(0, 60) })], rng.int(0, 50));
        case 'connect/close':
          return raw([]);
        case 'killed -9 mid-frame': {
          const script = `const s=require('node:net').connect(process.argv[1]);s.on('data',()=>{});s.on('connect',()=>s.write(Buffer.from([1,0,0,1,0,104,105])));setInterval(()=>{},1000)`;
          const p = spawn(NODE, ['-e', script, sock], { stdio: 'ignore' });
          await sleep(150 + rng.int(0, 300));
          p.kill('SIGKILL');
          return;
        }
      }
    };
    const total = scaled(300, 40);
    const t0 = Date.now();
    for (let i = 0; i < total; ) {
      const burst = Math.min(total - i, 1 + rng.int(0, 8));
      await Promise.all(Array.from({ length: burst }, (_, k) => one(i + k)));
      i += burst;
    }
    stats.ms = Date.now() - t0;
    await sleep(1000);
    const screen = watcher.text();
    stats.answers = answers.length;
    for (const token of answers) {
      const hits = [...screen.matchAll(new RegExp(`Hello, ${token}!`, 'g'))].length;
      if (!hits) stats.missing++;
      if (hits > 1) stats.duplicated++;
    }
    stats.watcherCut = cut ? 1 : 0;
    stats.agentChanged = isAlive({ pid, start: null }) && liveAgents(s).length === 1 ? 0 : 1;
    assert.equal(stats.missing + stats.duplicated, 0, `answers missing ${stats.missing}, twice ${stats.duplicated}`);
    assert.equal(stats.watcherCut, 0, 'the watcher stayed attached');
    assert.equal(stats.agentChanged, 0, 'the same agent all along');
    assert.doesNotMatch(screen, /never finished/, 'half a frame never reaches the agent');
  });
});
