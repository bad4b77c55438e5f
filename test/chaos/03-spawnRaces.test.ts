import * as assert from 'node:assert/strict';
import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { cli, makeSandbox, NODE, ROOT, Sandbox } from '../support/sandbox';
import { AgentSampler, chaosAgent, extraStartsPerRun, killAgents, overlappingClaims, record, report, rngFor, roadmapOf, scaled } from './lib';
import { waitUntil } from '../support/wait';
import { isActive } from '../../src/core/model/runStatus';

// Scenario 3: five processes ask for the same priorities at the same instant, round after
// round. The database must hand each priority to exactly one of them per round.
describe('chaos 3: spawn races', function () {
  this.timeout(600_000);
  let s: Sandbox;
  let store: Store;
  const workers: ChildProcess[] = [];
  afterEach(() => {
    for (const w of workers.splice(0)) w.kill('SIGKILL');
    store?.close();
    killAgents(s);
    s.cleanup();
  });

  const rounds = scaled(100);
  const RACERS = 5;
  const PRIORITIES = ['US-401', 'US-402', 'US-403'];

  it(`${RACERS} processes x ${rounds} rounds request the same ${PRIORITIES.length} priorities at the same instant: exactly one claim each, no duplicate`, async () => {
    const rng = rngFor('spawn races');
    s = makeSandbox(roadmapOf(PRIORITIES));
    store = Store.open(s.state);
    const command = JSON.stringify(chaosAgent('exit:0'));
    const inbox = new Map<ChildProcess, Array<(m: any) => void>>();
    for (let i = 0; i < RACERS; i++) {
      const w = fork(path.join(__dirname, 'claimWorker.ts'), [s.state, s.repo, command], {
        execPath: NODE,
        execArgv: ['-r', path.join(ROOT, 'test', 'register.cjs')],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      workers.push(w);
      inbox.set(w, []);
      w.on('message', (m) => inbox.get(w)!.shift()?.(m));
    }
    const nextMessage = (w: ChildProcess) => new Promise<any>((resolve) => inbox.get(w)!.push(resolve));
    await Promise.all(workers.map(nextMessage)); // ready

    const winnersHistogram = new Map<number, number>();
    let duplicates = 0;
    let noWinner = 0;
    let refusals = 0;
    const unexpected: string[] = [];
    let maxActive = 0;
    const t0 = Date.now();
    for (let round = 0; round < rounds; round++) {
      const at = Date.now() + 25;
      const answers = await Promise.all(
        workers.map((w) => {
          const answer = nextMessage(w);
          w.send({ type: 'round', round, at, priorities: rng.shuffle([...PRIORITIES]) });
          return answer;
        }),
      );
      for (const p of PRIORITIES) {
        const winners = answers.flatMap((a) => a.won).filter((x: { priority: string }) => x.priority === p).length;
        winnersHistogram.set(winners, (winnersHistogram.get(winners) ?? 0) + 1);
        if (winners > 1) duplicates += winners - 1;
        if (winners === 0) noWinner++;
      }
      for (const a of answers) {
        for (const l of a.lost) {
          if (l.code === 'ALREADY_ACTIVE') refusals++;
          else unexpected.push(`${l.code}: ${l.message}`);
        }
      }
      const active = store.listRuns({ statuses: ['requested', 'provisioning', 'running', 'stopping'] });
      for (const p of PRIORITIES) maxActive = Math.max(maxActive, active.filter((r) => r.priority === p).length);
      // End the round's runs so the next round's requests are new attempts again.
      for (const r of active) store.requestStop(r.id);
    }
    const elapsed = Date.now() - t0;
    for (const w of workers) w.send({ type: 'exit' });
    const overlaps = overlappingClaims(store);
    const runs = store.listRuns();
    const row = record({
      scenario: `3a. spawn race: ${RACERS} processes x ${rounds} rounds x ${PRIORITIES.length} priorities (Store.claimRun)`,
      runs: runs.length,
      faults: `${RACERS * rounds * PRIORITIES.length} simultaneous requests`,
      duplicates: duplicates + overlaps + (maxActive > 1 ? 1 : 0),
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      notes: `winners per priority-round ${JSON.stringify(Object.fromEntries(winnersHistogram))}; ${refusals} 'already active' refusals; ${unexpected.length} other errors; ${(elapsed / rounds).toFixed(0)} ms per round`,
    });
    report(`${rounds} rounds in ${elapsed} ms; winners per (round, priority): ${JSON.stringify(Object.fromEntries(winnersHistogram))}; refusals ${refusals}; other errors ${unexpected.length} ${unexpected.slice(0, 3).join(' | ')}`);
    report(`runs claimed ${runs.length}; overlapping claims in the event log ${overlaps}; max active rows per priority ${maxActive}`);
    assert.equal(duplicates, 0, 'never two winners for one priority in a round');
    assert.equal(overlaps, 0, 'the event log never shows two active runs of a priority');
    assert.equal(maxActive, 1);
    assert.deepEqual(unexpected, [], 'every loser got the clear "already active" answer');
    assert.equal(noWinner, 0, 'every round had a winner');
    assert.equal(runs.length, rounds * PRIORITIES.length);
    assert.ok(runs.every((r) => !isActive(r.status)));
    row.ok = true;
  });

  const cliRounds = scaled(4);
  it(`${RACERS} CLI processes x ${cliRounds} rounds: \`spawn --new-attempt\` of one priority, real worktrees and agents`, async () => {
    s = makeSandbox(roadmapOf(['US-410']));
    store = Store.open(s.state);
    const sampler = new AgentSampler(s).start(50);
    const command = JSON.stringify(chaosAgent('commit:a', 'sleep:3000', 'exit:0'));
    const histogram = new Map<number, number>();
    const other: string[] = [];
    for (let round = 0; round < cliRounds; round++) {
      const results = await Promise.all(Array.from({ length: RACERS }, () => cli(s, ['spawn', 'US-410', '--new-attempt', '--agent-command', command])));
      const winners = results.filter((r) => r.exitCode === 0).length;
      histogram.set(winners, (histogram.get(winners) ?? 0) + 1);
      for (const r of results) if (r.exitCode !== 0 && r.exitCode !== 3) other.push(`${r.exitCode}: ${r.stderr.trim().split('\n')[0]}`);
      assert.ok(await waitUntil(() => store.listRuns().every((r) => !isActive(r.status)), 30_000, 100), `round ${round}: the run ends`);
    }
    sampler.stop();
    const overlaps = overlappingClaims(store);
    const runs = store.listRuns();
    const extra = extraStartsPerRun(s);
    const row = record({
      scenario: `3b. spawn race: ${RACERS} CLI processes x ${cliRounds} rounds (provisioned)`,
      runs: runs.length,
      faults: `${RACERS * cliRounds} simultaneous CLI spawns`,
      duplicates: sampler.violations.length + overlaps + extra,
      orphans: 0,
      lostCommits: '-',
      maxLeaderlessMs: null,
      notes: `winners per round ${JSON.stringify(Object.fromEntries(histogram))}; other exits ${other.length}`,
    });
    report(`winners per round ${JSON.stringify(Object.fromEntries(histogram))}; runs ${runs.map((r) => `#${r.attempt} ${r.status}`).join(', ')}; other exits: ${other.join(' | ') || 'none'}`);
    assert.deepEqual(sampler.violations, []);
    assert.equal(overlaps, 0);
    assert.equal(extra, 0);
    assert.deepEqual(other, [], 'every loser exits 3 (already active)');
    assert.equal(runs.length, cliRounds, 'one run per round');
    assert.ok(runs.every((r) => r.status === 'succeeded'), runs.map((r) => `${r.status} ${r.error ?? ''}`).join('; '));
    row.ok = true;
  });
});
