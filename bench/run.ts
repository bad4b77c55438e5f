// `npm run bench`: builds, then measures the orchestrator against what a user would do by
// hand, in one process run, and prints one table plus the machine it ran on. Ratios are
// against a baseline measured in the same run (interleaved where it matters), medians of
// several repetitions: the machines are noisy, absolute times are only indicative.
//
//   BENCH_QUICK=1 npm run bench    smaller sizes, fewer repetitions (a smoke run)
//   BENCH_ONLY=spawn,claims,...    only some sections (spawn claims tree failover activation idle roadmap attach throughput poolsetup)
//
// A full run writes bench/RESULTS.md; a quick or partial one does not.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { measureActivation } from './activation';
import { measureAttach } from './attachRoundTrip';
import { measureClaims } from './claimRace';
import { measureFailover } from './failover';
import { measureHostActivation } from './hostActivation';
import { measureIdle } from './idle';
import { machine, machineLine, median, now } from './lib';
import { Row, fmt, fmtRatio, markdownTable, textTable } from './report';
import { measureRoadmapParse, roadmapRatio } from './roadmapParse';
import { SpawnSizeResult, measureSpawn, medianPhases } from './spawnLatency';
import { measurePoolSetup, poolSetupRatio, describePoolPhases } from './poolSetup';
import { measureThroughput } from './throughput';
import { measureTree } from './treeScale';
import { measureVsix } from './vsixSize';

export const FULL = {
  // The CLI adds a fixed cost (its own start), so it is timed at one size; the warm pool's
  // goal is stated for the biggest repository.
  spawn: { sizes: [1000, 5000, 20000], reps: [11, 5, 5], warmup: true, cliSizes: [1000], poolSizes: [20000] },
  claims: { workers: 4, attemptsPerWorker: 2000, priorities: 50 },
  tree: { runs: [100, 1000, 10000, 100000], worktrees: 200, reps: 15, watchSamples: 20, uiWorktreeReps: 3, worktreesAt: 1000 },
  failover: { rounds: 10 },
  activation: { samples: 7, hostSamples: 3 },
  idle: { seconds: 30 },
  roadmap: { bytes: 5_000_000, reps: 15 },
  attach: { keystrokes: 300, idleSeconds: 20 },
  throughput: { priorities: 200, agentMs: 200, maxParallel: 4, reps: 7 },
  poolsetup: { reps: 5 },
};

export const QUICK: typeof FULL = {
  spawn: { sizes: [200], reps: [2], warmup: false, cliSizes: [200], poolSizes: [200] },
  claims: { workers: 4, attemptsPerWorker: 200, priorities: 50 },
  tree: { runs: [100, 1000], worktrees: 20, reps: 5, watchSamples: 5, uiWorktreeReps: 1, worktreesAt: 100 },
  failover: { rounds: 2 },
  activation: { samples: 2, hostSamples: 1 },
  idle: { seconds: 3 },
  roadmap: { bytes: 1_000_000, reps: 3 },
  attach: { keystrokes: 40, idleSeconds: 3 },
  throughput: { priorities: 40, agentMs: 200, maxParallel: 4, reps: 3 },
  poolsetup: { reps: 1 },
};

const SECTIONS = ['spawn', 'claims', 'tree', 'failover', 'activation', 'idle', 'roadmap', 'attach', 'throughput', 'poolsetup'] as const;
type Section = (typeof SECTIONS)[number];

const kfiles = (n: number) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k files` : `${n} files`);
const kruns = (n: number) => `${n.toLocaleString('en-US')} runs`;

export interface BenchReport {
  rows: Row[];
  /** Extra lines printed under the table: the spawn breakdown, caveats. */
  details: string[];
  failures: string[];
}

export async function runBench(config: typeof FULL, only: readonly Section[] = SECTIONS, log: (l: string) => void = () => undefined): Promise<BenchReport> {
  const rows: Row[] = [];
  const details: string[] = [];
  const failures: string[] = [];
  const section = async (name: Section, fn: () => Promise<void>) => {
    if (!only.includes(name)) return;
    const t0 = now();
    log(`${name}…`);
    try {
      await fn();
    } catch (e) {
      failures.push(`${name}: ${(e as Error).stack ?? e}`);
      rows.push({ measure: name, size: '', unit: 'ms', note: `FAILED: ${(e as Error).message.split('\n')[0]}` });
    }
    log(`${name} done in ${((now() - t0) / 1000).toFixed(1)} s`);
  };

  await section('spawn', async () => {
    const results = await measureSpawn({ ...config.spawn, log });
    for (const r of results) {
      const ratio = median(r.pairRatios);
      rows.push({
        measure: 'spawn → agent running (core API)',
        size: kfiles(r.files),
        baseline: median(r.baseline),
        ours: median(r.ours),
        unit: 'ms',
        ratio,
        goal: '≤ 1.10×',
        met: ratio <= 1.1,
        note: `n=${r.ours.length} interleaved; overhead ${fmt(median(r.pairOverheads), 'ms')} (median of pairs)${r.errors.length ? `; ${r.errors.length} error(s): ${r.errors[0]}` : ''}`,
      });
      if (r.cli.length) {
        rows.push({ measure: 'spawn → agent running (CLI, e2e)', size: kfiles(r.files), baseline: median(r.baseline), ours: median(r.cli), unit: 'ms', ratio: median(r.cliRatios), note: 'node dist/cli.js spawn --wait' });
      }
      if (r.pool.length || r.poolMisses) {
        const poolRatio = median(r.poolRatios);
        rows.push({
          measure: 'spawn → agent running (warm pool)',
          size: kfiles(r.files),
          baseline: median(r.baseline),
          ours: median(r.pool),
          unit: 'ms',
          ratio: poolRatio,
          goal: '≤ 0.20×',
          met: r.poolMisses === 0 && poolRatio <= 0.2,
          note: `core API, warmPoolSize 1, refilled between spawns (untimed)${r.poolMisses ? `; ${r.poolMisses} spawn(s) found no ready pool worktree` : ''}`,
        });
      }
      if (r.errors.length) failures.push(...r.errors.map((e) => `spawn ${r.files}: ${e}`));
    }
    details.push(...spawnBreakdown(results));
  });

  await section('claims', async () => {
    const c = config.claims;
    const r = await measureClaims(c);
    rows.push({
      measure: `claim races: ${c.workers} proc × ${c.attemptsPerWorker.toLocaleString('en-US')}`,
      size: `${c.priorities} priorities`,
      baseline: r.insertsPerSecond,
      ours: r.claimsPerSecond,
      unit: '/s',
      ratio: r.ratio,
      goal: '0 duplicates',
      met: r.duplicates.total === 0,
      note: `duplicates ${r.duplicates.total}; ${r.claims} claimed+ended, ${r.refused} refused by the index, ${r.busy} busy; baseline: plain INSERTs`,
    });
    if (r.duplicates.total || r.integrity.attemptAnomalies || r.integrity.rowMismatch || r.otherErrors.length) {
      failures.push(`claims: ${JSON.stringify({ duplicates: r.duplicates, integrity: r.integrity, errors: r.otherErrors })}`);
    }
  });

  await section('tree', async () => {
    const t = await measureTree({ ...config.tree, log });
    const ui = !t.uiMissing;
    if (t.uiMissing) details.push(`tree scale: the UI tree providers were not measured (${t.uiMissing}); the rows show the core query path that feeds them.`);
    // History-independent: the same goal at every size.
    for (const s of t.sizes) {
      if (s.uiAgents !== undefined) {
        rows.push({ measure: 'agents tree (AgentsTreeProvider)', size: kruns(s.runs), baseline: s.rawSelect, ours: s.uiAgents, unit: 'ms', ratio: s.uiAgents / s.rawSelect, goal: '≤ 20 ms', met: s.uiAgents <= 20, note: `${s.uiAgentNodes} items (first page, active priorities expanded); baseline: SELECT * FROM runs` });
      }
      rows.push({ measure: 'agents data (first page queries)', size: kruns(s.runs), baseline: s.rawSelect, ours: s.coreAgents, unit: 'ms', ratio: s.coreAgents / s.rawSelect, goal: ui ? undefined : '≤ 20 ms', met: ui ? undefined : s.coreAgents <= 20, note: `core path; reading every run and grouping, as before paging: ${fmt(s.coreListRuns, 'ms')}` });
    }
    const w = t.worktrees;
    const wsize = `${w.count} wt, ${kruns(w.atRuns)}`;
    if (w.ui !== undefined) {
      const settled = w.uiSettled !== undefined ? `; ahead/behind + dirty counts, fetched after it, all in ${fmt(w.uiSettled, 'ms')}` : '; includes ahead/behind + dirty per worktree';
      rows.push({ measure: 'worktrees tree (WorktreesTreeProvider)', size: wsize, baseline: w.rawList, ours: w.ui, unit: 'ms', ratio: w.ui / w.rawList, goal: '≤ 20 ms', met: w.ui <= 20, note: `${w.uiNodes} items, cold (Refresh)${settled}; baseline: git worktree list` });
    }
    rows.push({ measure: 'worktrees data (worktree list + their runs)', size: wsize, baseline: w.rawList, ours: w.core, unit: 'ms', ratio: w.core / w.rawList, goal: ui ? undefined : '≤ 20 ms', met: ui ? undefined : w.core <= 20, note: 'core path' });
    // Constant time: the full integrity_check runs only when nothing vouches for the file (core/db/integrityCheck.ts).
    for (const s of t.sizes) {
      rows.push({ measure: 'open state.db (Store.open), at rest', size: kruns(s.runs), baseline: s.openEmpty, ours: s.openAtRest, unit: 'ms', ratio: s.openAtRest / s.openEmpty, goal: '≤ 5 ms', met: s.openAtRest <= 5, note: `after a clean close (a CLI command, a first window); 6 events a run; baseline: Store.open of an empty database, interleaved; open + SELECT count(*) ${fmt(s.rawOpen, 'ms')}` });
    }
    for (const s of t.sizes) {
      rows.push({ measure: 'open state.db (Store.open), in use', size: kruns(s.runs), baseline: s.openEmpty, ours: s.open, unit: 'ms', ratio: s.open / s.openEmpty, goal: '≤ 5 ms', met: s.open <= 5, note: 'while another connection has it open (a second window); baseline: Store.open of an empty database' });
    }
    const [first, last] = [t.sizes[0], t.sizes.at(-1)];
    if (first && last && last !== first) {
      const growth = `${kruns(first.runs)} → ${kruns(last.runs)}`;
      rows.push({ measure: 'open state.db, growth with history', size: growth, baseline: first.openAtRest, ours: last.openAtRest, unit: 'ms', ratio: last.openAtRest / first.openAtRest, goal: '≤ 1.5× (flat)', met: last.openAtRest / first.openAtRest <= 1.5, note: `at rest; ${t.sizes.map((s) => fmt(s.openAtRest, 'ms')).join(' / ')}` });
      const tree = (s: typeof first) => s.uiAgents ?? s.coreAgents;
      rows.push({ measure: `agents ${first.uiAgents !== undefined ? 'tree' : 'data'}, growth with history`, size: growth, baseline: tree(first), ours: tree(last), unit: 'ms', ratio: tree(last) / tree(first), goal: '≤ 20 ms at every size', met: t.sizes.every((s) => tree(s) <= 20), note: t.sizes.map((s) => fmt(tree(s), 'ms')).join(' / ') });
    }
    for (const s of t.sizes) {
      const ours = median(s.watch.ours);
      rows.push({ measure: "write → 'runs' event, other process", size: kruns(s.runs), baseline: median(s.watch.raw), ours, unit: 'ms', ratio: ours / median(s.watch.raw), goal: '≤ 250 ms', met: s.watch.missed === 0 && ours <= 250, note: `n=${s.watch.ours.length}, missed ${s.watch.missed}; baseline: raw fs.watch wake-up` });
    }
  });

  await section('failover', async () => {
    const f = await measureFailover(config.failover);
    const m = median(f.takeovers);
    rows.push({ measure: 'kill -9 leader → standby leads', size: `${config.failover.rounds} rounds`, ours: m, unit: 'ms', goal: '≤ 2 s', met: f.missed === 0 && m <= 2000, note: `max ${fmt(Math.max(...f.takeovers), 'ms')}, missed ${f.missed}; 2 × dist/cli.js start` });
    if (f.missed) failures.push(`failover: ${f.missed} round(s) without a takeover`);
  });

  await section('activation', async () => {
    try {
      const h = await measureHostActivation(config.activation.hostSamples, log);
      const n = `n=${h.samples}`;
      const host = "code-server (VS Code 1.139), from VS Code's Startup Performance report";
      const vsGit = (k: 'loadCode' | 'callActivate' | 'finishActivate') => (h.git ? { baseline: h.git[k], ratio: h.git[k] > 0 ? h.ours[k] / h.git[k] : undefined } : {});
      const total = (r: { loadCode: number; callActivate: number; finishActivate: number }) => r.loadCode + r.callActivate + r.finishActivate;
      rows.push({ measure: 'real host: load code', size: n, ours: h.ours.loadCode, unit: 'ms', ...vsGit('loadCode'), note: `${host}; baseline: the built-in git extension in the same window` });
      const gitSync = h.git?.callActivate;
      rows.push({ measure: 'real host: call activate()', size: n, ours: h.ours.callActivate, unit: 'ms', ...vsGit('callActivate'), goal: '≤ git', met: gitSync !== undefined ? h.ours.callActivate <= gitSync : undefined, note: 'the synchronous part of activate(); the database, the election and the folder scan start right after it returns' });
      rows.push({ measure: 'real host: activate() resolved', size: n, ours: h.ours.finishActivate, unit: 'ms', ...vsGit('finishActivate'), note: 'after the call returned' });
      rows.push({
        measure: 'real host: load + activate, total',
        size: n,
        ours: total(h.ours),
        unit: 'ms',
        ...(h.git ? { baseline: total(h.git), ratio: total(h.ours) / total(h.git) } : {}),
        goal: '≤ 1.0×',
        met: h.git ? total(h.ours) <= total(h.git) : undefined,
        note: `then the agents tree's first roots took ${fmt(h.treeMs, 'ms')}; ${h.extensions} extensions activated in the window`,
      });
      if (h.bodyMs !== undefined) {
        rows.push({
          measure: 'real host: deferred, after activate()',
          size: n,
          ours: h.bodyMs + (h.startMs ?? 0),
          unit: 'ms',
          note: `not in VS Code's figures above, timed by the extension: loading the body, opening the database, building the views ${fmt(h.bodyMs, 'ms')}, then the election and the first reads ${fmt(h.startMs, 'ms')}`,
        });
      }
    } catch (e) {
      rows.push({ measure: 'real host: activation', size: '', unit: 'ms', note: `FAILED: ${(e as Error).message.split('\n')[0]}` });
      failures.push(`activation (real host): ${(e as Error).stack ?? e}`);
    }
    const a = await measureActivation(config.activation.samples);
    const note = 'fresh Node process, fake vscode module: our code alone';
    rows.push({ measure: 'Node: require(dist/extension.js)', size: `n=${a.samples}`, baseline: a.requireSqlite, ours: a.require, unit: 'ms', ratio: a.require / a.requireSqlite, note: `${note}; the entry only (the body loads after activate() returns: last Node row); baseline: require(better-sqlite3)` });
    rows.push({ measure: 'Node: activate()', size: `n=${a.samples}`, ours: a.activate, unit: 'ms', note: a.error ? `activate failed: ${a.error}` : `${note}; the synchronous call` });
    rows.push({ measure: 'Node: require → agents tree can render', size: `n=${a.samples}`, ours: a.treeReady, unit: 'ms', note: `${note}; includes what activate() defers (database open, election, repository scan)` });
    rows.push({ measure: 'size dist/extension.js', size: 'as built', ours: a.sizes.extension, unit: 'KiB', note: a.sizes.extensionMin ? `the entry; minified (as packaged): ${fmt(a.sizes.extensionMin, 'KiB')}` : undefined });
    if (a.sizes.extensionMain !== undefined) {
      rows.push({ measure: 'size dist/extensionMain.js', size: 'as built', ours: a.sizes.extensionMain, unit: 'KiB', note: a.sizes.extensionMainMin ? `the body, loaded after activate(); minified (as packaged): ${fmt(a.sizes.extensionMainMin, 'KiB')}` : undefined });
    }
    rows.push({ measure: 'size dist/cli.js', size: 'as built', ours: a.sizes.cli, unit: 'KiB', note: a.sizes.cliMin ? `minified (as packaged): ${fmt(a.sizes.cliMin, 'KiB')}` : undefined });
    if (a.sizes.vsix) {
      rows.push({ measure: 'size VSIX', size: a.sizes.vsix.file, ours: a.sizes.vsix.bytes, unit: 'KiB', note: `${a.sizes.vsix.nativeFiles} native .node files: ${fmt(a.sizes.vsix.nativeBytes, 'KiB')} of it${a.sizes.vsix.olderThanDist ? '; older than dist/ (run npm run package)' : ''}` });
    } else {
      details.push('No .vsix in the repository root: run `npm run package` to have its size measured.');
    }
    if (a.error) failures.push(`activation: ${a.error}`);
  });

  await section('idle', async () => {
    const i = await measureIdle(config.idle.seconds);
    const share = i.leaderRunMs / (i.seconds * 1000);
    rows.push({
      measure: 'idle leader CPU (no runs)',
      size: `${i.seconds} s`,
      baseline: i.baselineCpuMs,
      ours: i.leaderCpuMs,
      unit: 'ms CPU',
      ratio: i.baselineRunMs > 0 ? i.leaderRunMs / i.baselineRunMs : undefined,
      goal: '≈ 0 (< 1% CPU)',
      met: share < 0.01,
      note: `utime+stime (${i.tickMs} ms ticks); schedstat ${fmt(i.leaderRunMs, 'ms')} vs ${fmt(i.baselineRunMs, 'ms')} (ratio from these); wake-ups ${i.leaderWakeups.toFixed(1)}/s vs ${i.baselineWakeups.toFixed(1)}/s; baseline: node setInterval 1 s`,
    });
    rows.push({
      measure: 'idle standby CPU (same state folder)',
      size: `${i.seconds} s`,
      baseline: i.baselineCpuMs,
      ours: i.standbyCpuMs,
      unit: 'ms CPU',
      ratio: i.baselineRunMs > 0 ? i.standbyRunMs / i.baselineRunMs : undefined,
      goal: '≤ 2×, ≤ 1 wake-up/s',
      met: i.baselineRunMs > 0 && i.standbyRunMs / i.baselineRunMs <= 2 && i.standbyWakeups <= 1,
      note: `schedstat ${fmt(i.standbyRunMs, 'ms')} vs ${fmt(i.baselineRunMs, 'ms')}; wake-ups ${i.standbyWakeups.toFixed(1)}/s vs ${i.baselineWakeups.toFixed(1)}/s; connected to the leader's socket`,
    });
  });

  await section('throughput', async () => {
    const c = config.throughput;
    const r = await measureThroughput({ ...c, log });
    const ratio = r.totalMs / r.idealMs;
    rows.push({
      measure: `loop throughput: ${c.priorities} planned, ${c.agentMs / 1000} s agent, maxParallel ${c.maxParallel}`,
      size: `${c.priorities} priorities`,
      baseline: r.idealMs,
      ours: r.totalMs,
      unit: 'ms',
      ratio,
      goal: '≤ 1.50×',
      met: ratio <= 1.5 && r.maxConcurrent <= c.maxParallel && r.repeated === 0,
      note: `cli start --loop until all succeeded; ideal: ${c.priorities} × agent ${fmt(r.agentMs, 'ms')} / ${c.maxParallel} + ${c.priorities} × worktree add ${fmt(r.addMs, 'ms')} (by hand, before and after the run); at most ${r.maxConcurrent} active at once; ${r.repeated} repeated`,
    });
    if (r.maxConcurrent > c.maxParallel || r.repeated) failures.push(`throughput: ${r.maxConcurrent} runs active at once (max ${c.maxParallel}), ${r.repeated} priorities ran twice`);
  });

  await section('poolsetup', async () => {
    const r = await measurePoolSetup({ ...config.poolsetup, log });
    const ratio = poolSetupRatio(r);
    rows.push({
      measure: 'spawn → agent running, setup npm ci (warm pool)',
      size: `${r.packages} packages`,
      baseline: median(r.baseline),
      ours: median(r.pool),
      unit: 'ms',
      ratio,
      goal: '≤ 0.05×',
      met: ratio <= 0.05 && r.misses === 0 && !r.errors.length,
      note: `core API, warmPoolSize 1, pool set up ahead (refill untimed); baseline: git worktree add + npm ci + agent start by hand; one npm cache in the bench folder, warmed first; n=${r.ratios.length} interleaved${r.misses ? `; ${r.misses} spawn(s) found no pool worktree set up` : ''}; ms after the call (medians): ${describePoolPhases(r.phases)}; floor in the same run: the agent alone ${fmt(median(r.agentAlone), 'ms')} (${(median(r.agentAlone) / median(r.baseline)).toFixed(3)}×), a supervisor started with 'go' already written until its agent's first line ${fmt(median(r.supervisedAlone), 'ms')} (${(median(r.supervisedAlone) / median(r.baseline)).toFixed(3)}×)`,
    });
    if (r.errors.length) failures.push(...r.errors.map((e) => `poolsetup: ${e}`));
  });

  await section('roadmap', async () => {
    const r = measureRoadmapParse(config.roadmap);
    const ours = median(r.ours);
    const ratio = roadmapRatio(r);
    rows.push({
      measure: 'roadmap parse (loadRoadmap)',
      size: `${(r.bytes / 1e6).toFixed(1)} MB, ${r.priorities} priorities`,
      baseline: median(r.baseline),
      ours,
      unit: 'ms',
      ratio,
      goal: '≤ 2× and < 50 ms',
      met: ratio <= 2 && ours < 50 && r.priorities === r.expected,
      note: `n=${r.ours.length} interleaved; ${r.warnings} warning(s); baseline: readFileSync + split into lines`,
    });
    if (r.priorities !== r.expected) failures.push(`roadmap: read ${r.priorities} priorities, generated ${r.expected}`);
  });

  await section('attach', async () => {
    const a = await measureAttach(config.attach);
    const ratio = median(a.pairRatios);
    rows.push({
      measure: 'keystroke → echo through attach',
      size: `n=${a.keystrokes}`,
      baseline: median(a.direct),
      ours: median(a.attach),
      unit: 'ms',
      ratio,
      goal: '≤ 1.5×',
      met: ratio <= 1.5,
      note: `median of per-key ratios, interleaved ABBA; p90 ${fmt(quantile(a.attach, 0.9), 'ms')} vs ${fmt(quantile(a.direct, 0.9), 'ms')}; client → attach.sock → supervisor → pty → raw-mode echo agent → back; baseline: node-pty spawned in the bench process, same agent`,
    });
    rows.push({
      measure: 'keystroke → echo through a bare relay (the floor)',
      size: `n=${a.keystrokes}`,
      baseline: median(a.direct),
      ours: median(a.relay),
      unit: 'ms',
      ratio: median(a.relayRatios),
      note: `the least any process between a client and the pty costs (bench/bareRelay.cjs: one socket, raw bytes, no frames, screen or log); attach ÷ this relay: ${median(a.overRelayRatios).toFixed(2)}× (what the supervisor adds above the hop)`,
    });
    const share = a.supervisorRunMs / (a.idleSeconds * 1000);
    rows.push({
      measure: 'supervisor idle CPU, terminal attached',
      size: `${a.idleSeconds} s`,
      baseline: a.baselineCpuMs,
      ours: a.supervisorCpuMs,
      unit: 'ms CPU',
      ratio: a.baselineRunMs > 0 ? a.supervisorRunMs / a.baselineRunMs : undefined,
      goal: '< 1% CPU',
      met: share < 0.01,
      note: `utime+stime; schedstat ${fmt(a.supervisorRunMs, 'ms')} vs ${fmt(a.baselineRunMs, 'ms')} (ratio from these); one client attached, agent silent; baseline: node setInterval 1 s`,
    });
    rows.push({ measure: 'supervisor RSS, terminal attached', size: 'after idle', baseline: a.baselineRssKiB * 1024, ours: a.supervisorRssKiB * 1024, unit: 'KiB', ratio: a.supervisorRssKiB / a.baselineRssKiB, note: 'VmRSS: node-pty, the headless xterm and its scrollback; baseline: the bare node process' });
    const v = measureVsix(log);
    rows.push({
      measure: 'VSIX size with the PTY binaries',
      size: v.file,
      baseline: v.bytes - v.ptyBytes,
      ours: v.bytes,
      unit: 'KiB',
      ratio: v.bytes / (v.bytes - v.ptyBytes),
      note: `${(v.bytes / 1e6).toFixed(2)} MB, of it @lydell/node-pty* ${(v.ptyBytes / 1e6).toFixed(2)} MB (${((100 * v.ptyBytes) / v.bytes).toFixed(0)} %), compressed; platforms: ${v.ptyPlatforms.join(', ') || 'none'}; baseline: the VSIX without them${v.packagedNow ? '; packaged for this run' : ''}`,
    });
  });

  return { rows, details, failures };
}

/** The q-quantile (0..1) by nearest rank. */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function spawnBreakdown(results: SpawnSizeResult[]): string[] {
  if (!results.length) return [];
  const cols = results.map((r) => ({ r, p: medianPhases(r.phases) }));
  const lines: Array<[string, (c: (typeof cols)[number]) => string]> = [
    ['baseline: git worktree add', (c) => fmt(median(c.r.baselineAdd), 'ms')],
    ['baseline: agent start (spawn → first line)', (c) => fmt(median(c.r.baselineAgent), 'ms')],
    ['ours: requestSpawn (checks, roadmap, claim)', (c) => fmt(c.p.request, 'ms')],
    ['ours: tick → worktree intent recorded', (c) => fmt(c.p.preWorktree, 'ms')],
    ['ours: worktree made and recorded', (c) => fmt(c.p.worktree, 'ms')],
    ['ours:   of which git worktree add', (c) => fmt(c.p.worktreeAdd, 'ms')],
    ['ours: worktree setup', (c) => fmt(c.p.setup, 'ms')],
    ['ours: supervisor up (overlaps the worktree)', (c) => fmt(c.p.supervisor, 'ms')],
    ['ours: go → agent start (→ first line)', (c) => fmt(c.p.agent, 'ms')],
    ['ours: in git processes (all phases)', (c) => `${fmt(c.p.git, 'ms')} / ${c.p.gitCalls}`],
    ['ours: in SQLite write transactions', (c) => `${fmt(c.p.db, 'ms')} / ${c.p.dbTx}`],
    ['ours − baseline (median of pairs)', (c) => fmt(median(c.r.pairOverheads), 'ms')],
    ['ours without its git worktree add', (c) => fmt(median(c.r.ours.map((t, i) => t - c.r.phases[i].worktreeAdd)), 'ms')],
    ['ratio if both adds took the baseline median', (c) => fmtRatio(equalAddRatio(c.r))],
  ];
  const head = ['spawn latency breakdown (medians)', ...cols.map((c) => kfiles(c.r.files))];
  const table = [head, ...lines.map(([label, f]) => [label, ...cols.map(f)])];
  const widths = head.map((_, i) => Math.max(...table.map((row) => [...row[i]].length)));
  const out = table.map((row) => row.map((v, i) => (i ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  '));
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  out.push(`git calls of one spawn: ${cols[0].r.gitCommands.join(', ')}`);
  return out;
}

/**
 * git worktree add swings by seconds on a busy machine; this models the ratio with the
 * add's time taken equal for both: (B_add + ours without its add) / (B_add + B_agent).
 */
export function equalAddRatio(r: SpawnSizeResult): number {
  const add = median(r.baselineAdd);
  const oursRest = median(r.ours.map((t, i) => t - r.phases[i].worktreeAdd));
  return (add + oursRest) / (add + median(r.baselineAgent));
}

function loadLine(): string {
  const [a, b, c] = os.loadavg();
  return `load average ${a.toFixed(2)} ${b.toFixed(2)} ${c.toFixed(2)}`;
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const only = (process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean) ?? [...SECTIONS]) as Section[];
  const unknown = only.filter((s) => !SECTIONS.includes(s));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`);
  const m = machine();
  const loadBefore = loadLine();
  const t0 = now();
  const report = await runBench(quick ? QUICK : FULL, only, (l) => process.stderr.write(`[bench] ${l}\n`));
  const seconds = (now() - t0) / 1000;
  const machineText = `${machineLine(m)}; ${loadBefore} before, ${loadLine()} after; ${quick ? 'BENCH_QUICK' : 'full'} run, ${seconds.toFixed(0)} s`;

  console.log('');
  console.log(textTable(report.rows));
  console.log('');
  for (const d of report.details) console.log(d);
  console.log('');
  console.log('Ratios: ours ÷ baseline for times, baseline ÷ ours for rates (> 1 = slower than the baseline); spawn ratios are medians of pairs interleaved ABBA.');
  console.log(machineText);
  for (const f of report.failures) console.error(`FAILED ${f}`);

  if (!quick && only.length === SECTIONS.length) {
    fs.writeFileSync(path.join(__dirname, 'RESULTS.md'), resultsMarkdown(report, machineText));
    const readme = path.join(__dirname, '..', 'README.md');
    fs.writeFileSync(readme, withFigures(fs.readFileSync(readme, 'utf8'), report.rows, machineText));
    console.log('Wrote bench/RESULTS.md and the figures table of README.md');
  }
  if (report.failures.length) process.exitCode = 1;
}

const FIGURES = /(<!-- figures:start -->\n)[\s\S]*?(<!-- figures:end -->)/;

/** README's figures: the rows with a goal, from this one run (between the markers; notes in RESULTS.md). */
function withFigures(readme: string, rows: Row[], machineText: string): string {
  if (!FIGURES.test(readme)) throw new Error('README.md has no <!-- figures:start --> … <!-- figures:end --> block');
  const table = markdownTable(rows.filter((r) => r.goal), { notes: false });
  return readme.replace(FIGURES, (_, start: string, end: string) => `${start}${machineText.replace(/^machine: /, 'One full `npm run bench`: ')}\n\n${table}\n${end}`);
}

function resultsMarkdown(report: BenchReport, machineText: string): string {
  return `# Benchmark results

Latest full \`npm run bench\` (written by \`bench/run.ts\`; do not edit by hand).

${machineText.replace(/^machine: /, '**Machine:** ')}

${markdownTable(report.rows)}

\`\`\`
${report.details.join('\n')}
\`\`\`

How to read it:

- **Ratios** are ours ÷ baseline for times and baseline ÷ ours for rates, so above 1 is
  slower than the baseline. Every baseline is measured in the same run; spawn-latency runs
  interleave baseline, core API, CLI and warm pool in ABBA order (reversed every other
  round, so a drifting machine favours no one), and the ratio is the median of the
  per-pair ratios.
- **Spawn latency**: from the call until the (fake) agent's first line, against
  \`git worktree add -b <branch> <path> main\` plus spawning the same agent by hand.
  "core API" is \`requestSpawn\` + \`Orchestrator.tick\` of a leader in the bench process,
  cold (no warm pool); "CLI" is \`node dist/cli.js spawn --wait\` end to end; "warm pool"
  is the core API with \`warmPoolSize: 1\`, its refill after each take done before the
  next measurement. One untimed round before the first size. The breakdown shows where
  the core API's time goes; on a busy machine \`git worktree add\` alone swings by
  seconds, so read the overhead in ms and the equal-add ratio next to the measured one.
- **Claim races**: each racer claims a random one of the priorities with "new attempt"
  and ends it at once; the unique index refuses a claim while another is active.
  Duplicates are counted three ways (the claimer re-counts active rows while it holds the
  run; overlapping active spans afterwards; active rows per priority at the end).
  Baseline: the same number of plain INSERTs into a table without the index, same pragmas.
- **Tree scale**: the runs are inserted directly in one transaction (5 attempts a
  priority, 10 % of priorities active, six events each), the worktrees are real. The agents
  tree shows one page (100 priorities, active first, each with its latest run; earlier
  attempts and older priorities are read when expanded). Tree rows run src/ui's providers in Node with a
  fake \`vscode\` module (bench/fakeVscode.cjs): they time our code, not VS Code's
  rendering. "open state.db" is what every CLI command and window activation pays first:
  "at rest" after a clean close, "in use" while another connection has it open; neither
  runs the full integrity_check (it runs after an unclean shutdown or a change while
  closed, and daily in a worker thread), so both should stay flat as the history grows.
- **Activation**: "real host" rows are VS Code's own figures (its Developer: Startup
  Performance report, read by test/vscode/suite/activation.test.ts) from a fresh
  code-server per sample, opened on a git repository, with the VSIX installed; the
  baseline is the built-in git extension in the same window (\`*\`-activated, at the same
  moment). "Node" rows require dist/extension.js and run \`activate()\` in a fresh Node
  process with the fake \`vscode\` module: our code alone.
- **Idle**: CPU of a \`dist/cli.js start\` leader with no runs, from /proc.
- **Loop throughput**: \`dist/cli.js start --loop\` until every planned priority has
  succeeded, against the ideal: the agents' time (run by hand) spread over maxParallel slots
  plus one \`git worktree add\` by hand per priority (git serializes one repository's adds),
  the adds timed before and after the run. Also checked: never more than maxParallel runs
  active, no priority run twice.
- **Warm pool with setup**: a generated repository with a real package-lock.json, setup
  \`npm ci --offline\` from one npm cache in the bench folder (warmed once first); the pool's
  own setup (its refill after each take) is not timed. Baseline: \`git worktree add\`, the same
  \`npm ci\`, then the agent, by hand.
`;
}

if (require.main === module) {
  // Exit explicitly: a stray handle of a measured component must not keep the bench alive.
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (e: unknown) => {
      console.error((e as Error).stack ?? e);
      process.exit(1);
    },
  );
}
