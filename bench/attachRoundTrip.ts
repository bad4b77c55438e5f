// Issue 16: the agent terminal's costs. (1) Keystroke → echo round trip through attach
// (client → attach.sock → supervisor → pty → agent echo → supervisor → socket → client)
// against a pseudo-terminal node-pty spawns directly in the bench process, same echo program,
// keystrokes interleaved (ABBA) so a drifting machine favours neither. (2) The supervisor's RSS
// and idle CPU with a client attached, against a bare Node process over the same window.
// (3) The floor: the same keystrokes through a bare relay process (bareRelay.cjs: a socket and
// a pty, nothing else), so the row says what the hop costs and what the supervisor adds to it.
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttachConnection } from '../src/core/agent/attachConnection';
import { runDir } from '../src/core/agent/agents';
import { Store } from '../src/core/db/store';
import { CLI, NODE, generateRepo, killPid, now, rmrf, spawnLines, tempDir } from './lib';
import { cpuMs, runMs } from './idle';
import { sleep } from '../test/support/wait';

const ECHO_AGENT = path.join(__dirname, 'echoAgent.mjs');
const BARE_RELAY = path.join(__dirname, 'bareRelay.cjs');

export interface AttachResult {
  keystrokes: number;
  /** Round trips, ms, one per keystroke. */
  direct: number[];
  attach: number[];
  /** Through the bare relay (the floor of any process in between). */
  relay: number[];
  /** Per-pair ratios attach ÷ direct, relay ÷ direct, attach ÷ relay. */
  pairRatios: number[];
  relayRatios: number[];
  overRelayRatios: number[];
  idleSeconds: number;
  supervisorRssKiB: number;
  baselineRssKiB: number;
  supervisorCpuMs: number;
  supervisorRunMs: number;
  baselineCpuMs: number;
  baselineRunMs: number;
}

/** Something that takes a key and tells when it came back. */
interface Echo {
  roundTrip(key: string): Promise<number>;
}

/** Resolves on the first output chunk that contains `key` after it was sent. */
function echoOver(send: (key: string) => void, onOutput: (l: (text: string) => void) => void): Echo {
  let waiting: { key: string; resolve: () => void } | undefined;
  onOutput((text) => {
    if (waiting && text.includes(waiting.key)) {
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  });
  return {
    roundTrip: (key) =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no echo of ${JSON.stringify(key)} within 5 s`)), 5000);
        const t0 = now();
        waiting = { key, resolve: () => (clearTimeout(timer), resolve(now() - t0)) };
        send(key);
      }),
  };
}

const vmRssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

/** A run of the echo agent started through the CLI (its own supervisor, detached), and its socket. */
async function startRun(dir: string): Promise<{ state: string; store: Store; runId: string }> {
  const repo = generateRepo(dir, 5, 3);
  const state = path.join(dir, 'state');
  execFileSync(NODE, [CLI, '--repo', repo, '--state-dir', state, 'spawn', 'US-001', '--agent-command', JSON.stringify([NODE, ECHO_AGENT])], { stdio: 'ignore', timeout: 60_000 });
  const store = Store.open(state);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const run = store.listRuns()[0];
    if (run?.status === 'running' && run.supervisorPid && fs.existsSync(path.join(runDir(state, run.id), 'attach.sock'))) return { state, store, runId: run.id };
    if (Date.now() > deadline) throw new Error(`the echo agent's run did not come up: ${JSON.stringify(run)}`);
    await sleep(20);
  }
}

export async function measureAttach(o: { keystrokes: number; idleSeconds: number }): Promise<AttachResult> {
  if (process.platform !== 'linux') throw new Error('the attach bench reads /proc: Linux only');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pty = require('@lydell/node-pty') as typeof import('@lydell/node-pty');
  const dir = tempDir('attach');
  const { state, store, runId } = await startRun(dir);
  const direct = pty.spawn(NODE, [ECHO_AGENT], { name: 'xterm-256color', cols: 80, rows: 24, cwd: dir, env: process.env as Record<string, string> });
  const baseline = spawnLines(NODE, ['-e', 'setInterval(()=>{},1000)']);
  const relaySocket = path.join(dir, 'relay.sock');
  const relay = spawnLines(NODE, [BARE_RELAY, relaySocket, NODE, ECHO_AGENT], { cwd: path.join(__dirname, '..') });
  let connection: AttachConnection | undefined;
  let relayClient: net.Socket | undefined;
  try {
    const run = store.getRun(runId)!;
    connection = await AttachConnection.open(state, run, { cols: 80, rows: 24 });
    const c = connection;
    const viaAttach = echoOver((k) => c.input(k), (l) => c.on('output', l));
    const viaPty = echoOver((k) => direct.write(k), (l) => direct.onData(l));
    await relay.waitFor(/^listening/, 20_000);
    const rc = (relayClient = net.connect(relaySocket));
    rc.setEncoding('utf8');
    const viaRelay = echoOver((k) => rc.write(k), (l) => rc.on('data', l));
    // The echo programs up (and JIT-warm) before anything is timed.
    for (let i = 0; i < 20; i++) for (const e of [viaPty, viaAttach, viaRelay]) await e.roundTrip('w');
    const r: AttachResult = { keystrokes: o.keystrokes, direct: [], attach: [], relay: [], pairRatios: [], relayRatios: [], overRelayRatios: [], idleSeconds: o.idleSeconds, supervisorRssKiB: 0, baselineRssKiB: 0, supervisorCpuMs: 0, supervisorRunMs: 0, baselineCpuMs: 0, baselineRunMs: 0 };
    for (let i = 0; i < o.keystrokes; i++) {
      const key = String.fromCharCode(97 + (i % 26));
      const order = i % 4 === 0 || i % 4 === 3 ? [viaPty, viaAttach, viaRelay] : [viaRelay, viaAttach, viaPty];
      const times = new Map<Echo, number>();
      for (const e of order) times.set(e, await e.roundTrip(key));
      const [d, at, rl] = [times.get(viaPty)!, times.get(viaAttach)!, times.get(viaRelay)!];
      r.direct.push(d);
      r.attach.push(at);
      r.relay.push(rl);
      r.pairRatios.push(at / d);
      r.relayRatios.push(rl / d);
      r.overRelayRatios.push(at / rl);
    }
    // Idle with the client attached: nothing typed, the agent silent.
    const sup = run.supervisorPid!;
    const b = baseline.child.pid!;
    await sleep(1000);
    const [s0, sr0, b0, br0] = [cpuMs(sup), runMs(sup), cpuMs(b), runMs(b)];
    await sleep(o.idleSeconds * 1000);
    r.supervisorCpuMs = cpuMs(sup) - s0;
    r.supervisorRunMs = runMs(sup) - sr0;
    r.baselineCpuMs = cpuMs(b) - b0;
    r.baselineRunMs = runMs(b) - br0;
    r.supervisorRssKiB = vmRssKiB(sup);
    r.baselineRssKiB = vmRssKiB(b);
    return r;
  } finally {
    connection?.detach();
    relayClient?.destroy();
    await relay.kill('SIGKILL');
    direct.kill('SIGKILL');
    await baseline.kill('SIGKILL');
    const run = store.getRun(runId);
    killPid(run?.pid ?? undefined);
    killPid(run?.supervisorPid ?? undefined);
    store.close();
    await sleep(200);
    rmrf(dir);
  }
}
