// 4. Failover: two `dist/cli.js start` processes on one state dir; kill -9 the leader and
// time until the standby prints `leader`. Each round starts a fresh standby, so every
// round is a leader + standby pair that has settled.
import * as path from 'node:path';
import { CLI, LineChild, NODE, generateRepo, now, rmrf, spawnLines, tempDir } from './lib';
import { sleep } from '../test/support/wait';

export interface FailoverOptions {
  rounds: number;
  /** How long a new standby runs before the leader is killed. */
  settleMs?: number;
}

export interface FailoverResult {
  /** kill -9 of the leader → the standby's `leader` line, ms. */
  takeovers: number[];
  /** Rounds in which no standby took over within 10 s. */
  missed: number;
}

export async function measureFailover(o: FailoverOptions): Promise<FailoverResult> {
  const dir = tempDir('failover');
  const repo = generateRepo(dir, 5, 3);
  const stateDir = path.join(dir, 'state');
  const start = () => spawnLines(NODE, [CLI, '--repo', repo, '--state-dir', stateDir, 'start']);
  const all: LineChild[] = [];
  const result: FailoverResult = { takeovers: [], missed: 0 };
  try {
    let leader = start();
    all.push(leader);
    await leader.waitFor(/^leader/, 30_000);
    for (let round = 0; round < o.rounds; round++) {
      const standby = start();
      all.push(standby);
      await standby.waitFor(/^standby/, 30_000);
      // A random extra delay: the standby checks every 250 ms from its start, so a fixed
      // delay would always hit the same phase of its timer and hide the spread.
      await sleep((o.settleMs ?? 400) + Math.random() * 250);
      const t0 = now();
      leader.child.kill('SIGKILL');
      try {
        const hit = await standby.waitFor(/^leader/, 10_000, t0);
        result.takeovers.push(hit.at - t0);
      } catch {
        result.missed++;
      }
      await leader.exited;
      leader = standby;
    }
  } finally {
    await Promise.all(all.map((c) => c.kill('SIGKILL')));
    rmrf(dir);
  }
  return result;
}
