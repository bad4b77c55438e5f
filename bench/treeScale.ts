// 3. Tree scale: 100 to 100,000 runs and 200 worktrees in the database. Time to
// build the agents and worktrees tree data — through the real tree providers of src/ui
// (loaded with a fake `vscode` module) when they are there, and through the core query
// path that feeds them (Store.listRuns + GitRepo.worktrees) in any case — and the time from
// a write in one process to the ChangeWatcher's 'runs' event in another.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { GitRepo } from '../src/core/git/git';
import { Store } from '../src/core/db/store';
import { generateRepo, median, now, rmrf, spawnWorker, tempDir, timeReps } from './lib';
import { sleep } from '../test/support/wait';
import { git } from '../test/support/git';
import { isActive } from '../src/core/model/runStatus';
import { Run } from '../src/core/model/run';
import { rawDb } from '../test/support/rawDb';

const execFileP = promisify(execFile);

export interface TreeBenchOptions {
  runs: number[];
  worktrees: number;
  reps: number;
  watchSamples: number;
  /** Repetitions of the UI worktrees tree (it runs git per worktree: slow). 0 skips it. */
  uiWorktreeReps: number;
  /** The run count at which the worktrees tree is measured. */
  worktreesAt: number;
  log?: (line: string) => void;
}

export interface TreeSizeResult {
  runs: number;
  /** Baseline: `SELECT * FROM runs`, rows as better-sqlite3 returns them. */
  rawSelect: number;
  /** The page queries the agents tree makes for its top level (active, then latest ended runs). */
  coreAgents: number;
  /** Store.listRuns + grouping by priority: how the agents tree read the database before it paged. */
  coreListRuns: number;
  /** AgentsTreeProvider: getChildren + getTreeItem of the roots and of expanded nodes. */
  uiAgents?: number;
  uiAgentNodes?: number;
  watch: { ours: number[]; raw: number[]; missed: number };
  /** Store.open + close of that state.db while another connection (this process's store) has it open. */
  open: number;
  /** The same once nothing has it open (a CLI command, a window's first open): the clean-close path. */
  openAtRest: number;
  /** Baseline: Store.open + close of a database with no runs (migrated, at rest), timed beside it. */
  openEmpty: number;
  /** better-sqlite3 opening the same file and counting the runs (what the count costs at this size). */
  rawOpen: number;
}

export interface TreeBenchResult {
  sizes: TreeSizeResult[];
  worktrees: {
    count: number;
    atRuns: number;
    /** Baseline: `git worktree list --porcelain` as a bare child process. */
    rawList: number;
    /** GitRepo.worktrees() + the runs at those paths (Store.runsAtWorktrees) matched by path. */
    core: number;
    /** WorktreesTreeProvider, from a refresh that drops every cached detail: getChildren + getTreeItem. */
    ui?: number;
    /** ...until its background details (ahead/behind, dirty counts) have all arrived, when it fetches them apart. */
    uiSettled?: number;
    uiNodes?: number;
  };
  /** Why the UI providers were not measured, when they were not. */
  uiMissing?: string;
  setupMs: number;
}

/**
 * The runs of a busy history: 5 attempts a priority, 10% of priorities active now, six
 * events a run unless `events` is false. One transaction, prepared statements: 100,000
 * runs take a few seconds.
 */
export function populate(store: Store, repo: string, count: number, worktrees: string[] = [], o: { events?: boolean } = {}): void {
  const repoId = store.repoId(repo);
  // Straight INSERTs in one transaction: the public claim path takes ~1 ms a run, too slow
  // to fill 10,000 rows on every bench run. Same columns as Store.claimRun writes.
  const insert = rawDb(store).prepare(`INSERT INTO runs (id, repo_id, agent_type, priority, title, attempt, status, step, requested_by,
      pid, command, worktree, branch, base_ref, base_commit, created_at, started_at, ended_at, exit_code, log_path, worktree_locked)
    VALUES (?, ?, 'code_developer', ?, ?, ?, ?, NULL, 'bench', ?, ?, ?, ?, 'main', NULL, ?, ?, ?, ?, ?, ?)`);
  // Six events a run, as a spawn that ends writes them: they are most of the file. One
  // INSERT … SELECT after the runs, so that 600,000 of them do not cross into JS one by one.
  const events = rawDb(store).prepare(`WITH steps(k, kind, from_status, to_status, detail) AS (VALUES
      (0, 'claimed', NULL, 'requested', 'attempt 1'),
      (1, 'transition', 'requested', 'provisioning', 'provisioning: worktree ' || ? || '.worktrees/p'),
      (2, 'step', 'provisioning', 'provisioning', 'worktree ready'),
      (3, 'step', 'provisioning', 'provisioning', 'setup done'),
      (4, 'transition', 'provisioning', 'running', 'pid 4000000'),
      (5, 'transition', 'running', 'succeeded', 'exit code 0'))
    INSERT INTO events (run_id, at, kind, from_status, to_status, epoch, detail)
      SELECT runs.id, runs.created_at + steps.k * 100, steps.kind, steps.from_status, steps.to_status, 1, steps.detail
      FROM runs CROSS JOIN steps WHERE runs.id LIKE 'rbench%' ORDER BY runs.rowid, steps.k`);
  const priorities = Math.max(1, Math.ceil(count / 5));
  const t0 = Date.now() - count * 60_000;
  rawDb(store).transaction(() => {
    for (let i = 0; i < count; i++) {
      const p = i % priorities;
      const attempt = Math.floor(i / priorities) + 1;
      const latest = i + priorities >= count;
      const active = latest && p % 10 === 0;
      const status = active ? 'running' : i % 3 === 0 ? 'failed' : 'succeeded';
      const fromEnd = count - 1 - i;
      const wt = fromEnd < worktrees.length ? worktrees[fromEnd] : `${repo}.worktrees/gone-${i}`;
      const created = t0 + i * 60_000;
      insert.run(
        `rbench${i.toString(36).padStart(6, '0')}`,
        repoId,
        `P-${p + 1}`,
        `Bench priority ${p + 1}`,
        attempt,
        status,
        active ? 4_000_000 + i : null,
        JSON.stringify(['agent', '--task', `P-${p + 1}`]),
        wt,
        `bench/p-${p + 1}-${attempt}`,
        created,
        created + 500,
        active ? null : created + 30_000,
        active ? null : status === 'failed' ? 1 : 0,
        `/tmp/bench/${i}/agent.log`,
        active ? 1 : 0,
      );
    }
    if (o.events !== false) events.run(repo);
  })();
}

/** The agents tree's first page without vscode: what AgentsTreeProvider.load reads (TREE_PAGE = 100). */
function agentsTreePage(store: Store, repo: string): Run[] {
  const active = store.activeRunsPage(repo, 101);
  return active.length > 100 ? active.slice(0, 100) : [...active, ...store.latestEndedRuns(repo, 101 - active.length)];
}

/** What AgentsTreeProvider.load did with the rows before it paged: every run, grouped. */
function agentsTreeData(runs: Run[]): Array<{ priority: string; runs: Run[] }> {
  const groups = new Map<string, { priority: string; runs: Run[] }>();
  for (const run of runs) {
    const key = `${run.repo}\0${run.priority}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { priority: run.priority, runs: [] }));
    g.runs.push(run);
  }
  const nodes = [...groups.values()];
  for (const n of nodes) n.runs.sort((a, b) => b.attempt - a.attempt);
  nodes.sort((a, b) => Number(isActive(b.runs[0].status)) - Number(isActive(a.runs[0].status)) || b.runs[0].createdAt - a.runs[0].createdAt);
  return nodes;
}

interface UiModules {
  vscode: { EventEmitter: new () => { event: unknown; fire(v?: unknown): void }; Uri: { file(p: string): unknown }; TreeItemCollapsibleState: { Expanded: number }; window: { createOutputChannel(n: string, o?: unknown): unknown } };
  AgentsTreeProvider: new (host: unknown, repos: unknown) => TreeProvider;
  WorktreesTreeProvider: new (host: unknown, repos: unknown, log: unknown) => TreeProvider;
  restore(): void;
}

interface TreeProvider {
  getChildren(node?: unknown): unknown[] | Promise<unknown[]>;
  getTreeItem(node: unknown): { collapsibleState?: number };
  refresh(recheck?: boolean): void;
  /** Worktrees view: resolves when the details fetched after a load have arrived. */
  settled?(): Promise<void>;
  dispose(): void;
}

/** Loads src/ui's tree providers against the fake vscode module, or says why it cannot. */
export function loadUi(): UiModules | string {
  const fake = require('./fakeVscode.cjs') as UiModules['vscode'] & { __install(): () => void };
  const restore = fake.__install();
  try {
    const agents = path.join(__dirname, '..', 'src', 'ui', 'views', 'agentsTreeProvider.ts');
    const worktrees = path.join(__dirname, '..', 'src', 'ui', 'views', 'worktreesTreeProvider.ts');
    if (!fs.existsSync(agents) || !fs.existsSync(worktrees)) {
      restore();
      return 'src/ui has no agentsTreeProvider.ts / worktreesTreeProvider.ts';
    }
    const a = require(agents) as Record<string, unknown>;
    const w = require(worktrees) as Record<string, unknown>;
    if (typeof a.AgentsTreeProvider !== 'function' || typeof w.WorktreesTreeProvider !== 'function') {
      restore();
      return 'src/ui does not export AgentsTreeProvider / WorktreesTreeProvider';
    }
    return {
      vscode: fake,
      AgentsTreeProvider: a.AgentsTreeProvider as UiModules['AgentsTreeProvider'],
      WorktreesTreeProvider: w.WorktreesTreeProvider as UiModules['WorktreesTreeProvider'],
      restore,
    };
  } catch (e) {
    restore();
    return `loading src/ui failed: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** The host and window-repositories objects the providers read (only what they use). */
function uiContext(ui: UiModules, store: Store, stateDir: string, repo: string) {
  const runs = new ui.vscode.EventEmitter();
  const leader = new ui.vscode.EventEmitter();
  const reposChanged = new ui.vscode.EventEmitter();
  const repository = {
    root: repo,
    name: path.basename(repo),
    folder: { uri: ui.vscode.Uri.file(repo), name: path.basename(repo), index: 0 },
    roadmap: path.join(repo, 'docs', 'roadmap', 'ROADMAP.md'),
  };
  const host = { store, stateDir, isLeader: false, onDidChangeRuns: runs.event, onDidChangeLeader: leader.event, leader: () => store.leader() };
  const repos = { repositories: [repository], onDidChange: reposChanged.event, ready: async () => [repository], find: (root: string) => (root === repo ? repository : undefined) };
  return { host, repos, log: ui.vscode.window.createOutputChannel('bench', { log: true }) };
}

/** Builds what VS Code asks for: the roots, their items, and the children of expanded roots. */
async function renderTree(ui: UiModules, provider: TreeProvider, recheck = false): Promise<number> {
  provider.refresh(recheck);
  const roots = await provider.getChildren();
  let nodes = roots.length;
  for (const root of roots) {
    const item = provider.getTreeItem(root);
    if (item.collapsibleState === ui.vscode.TreeItemCollapsibleState.Expanded) {
      const children = await provider.getChildren(root);
      nodes += children.length;
      for (const c of children) provider.getTreeItem(c);
    }
  }
  return nodes;
}

async function watchLatency(store: Store, stateDir: string, repo: string, samples: number): Promise<TreeSizeResult['watch']> {
  const child = spawnWorker('watchWorker.ts', [stateDir]);
  const out: TreeSizeResult['watch'] = { ours: [], raw: [], missed: 0 };
  try {
    await child.waitFor(/^ready$/, 60_000);
    await sleep(200);
    const plan = (attempt: number, runId: string) => ({ worktree: `${repo}.worktrees/w-${runId}`, branch: `bench/w-${runId}`, baseRef: 'main', command: ['true'], logPath: `${stateDir}/runs/${runId}/agent.log` });
    for (let i = 0; i < samples; i++) {
      await sleep(40 + (i % 5) * 7);
      const t0 = now();
      store.claimRun({ repo, priority: `W-${i + 1}`, newAttempt: true, plan });
      try {
        const hit = await child.waitFor(/^runs /, 3000, t0);
        out.ours.push(Number(hit.line.slice(5)) - t0);
        const fsHit = child.lines.find((l) => l.at >= t0 && l.line.startsWith('fs ') && Number(l.line.slice(3)) >= t0);
        if (fsHit) out.raw.push(Number(fsHit.line.slice(3)) - t0);
      } catch {
        out.missed++;
      }
    }
  } finally {
    child.child.stdin!.write('quit\n');
    await Promise.race([child.exited, sleep(2000)]);
    await child.kill();
  }
  return out;
}

/** Opens at rest, interleaved with opens of an empty database (the baseline): one pair per rep. */
function measureOpenAtRest(size: TreeSizeResult | undefined, stateDir: string, emptyDir: string, reps: number): void {
  if (!size) return;
  Store.open(emptyDir).close();
  const ours: number[] = [];
  const empty: number[] = [];
  for (let i = 0; i < reps; i++) {
    let t0 = now();
    Store.open(stateDir).close();
    ours.push(now() - t0);
    t0 = now();
    Store.open(emptyDir).close();
    empty.push(now() - t0);
  }
  size.openAtRest = median(ours);
  size.openEmpty = median(empty);
}

export async function measureTree(o: TreeBenchOptions): Promise<TreeBenchResult> {
  const log = o.log ?? (() => undefined);
  const dir = tempDir('tree');
  const tSetup = now();
  const repo = generateRepo(dir, 10, 10);
  const wtRoot = `${repo}.worktrees`;
  fs.mkdirSync(wtRoot);
  const worktrees = Array.from({ length: o.worktrees }, (_, i) => path.join(wtRoot, `wt-${i + 1}`));
  // One at a time: concurrent `git worktree add`s in one repository can fail
  // ("failed to read .git/worktrees/<other>/commondir") while another is being created.
  for (let i = 0; i < worktrees.length; i++) {
    await execFileP('git', ['worktree', 'add', '-q', '-b', `bench/wt-${i + 1}`, worktrees[i], 'main'], { cwd: repo });
  }
  // A little real state in some: a commit ahead, an uncommitted file.
  for (let i = 0; i < worktrees.length; i += 7) fs.writeFileSync(path.join(worktrees[i], 'wip.txt'), 'work in progress\n');
  for (let i = 3; i < worktrees.length; i += 11) git(worktrees[i], 'commit', '-q', '--allow-empty', '-m', 'ahead');
  const setupMs = now() - tSetup;
  log(`  tree: ${o.worktrees} worktrees made in ${Math.round(setupMs)} ms`);

  const ui = loadUi();
  const result: TreeBenchResult = { sizes: [], worktrees: { count: o.worktrees, atRuns: o.worktreesAt, rawList: NaN, core: NaN }, setupMs };
  if (typeof ui === 'string') result.uiMissing = ui;
  try {
    for (const count of o.runs) {
      const stateDir = path.join(dir, `state-${count}`);
      const store = Store.open(stateDir);
      try {
        populate(store, repo, count, worktrees);
        const reps = count >= 10_000 ? Math.max(3, Math.ceil(o.reps / 2)) : o.reps;
        const raw = rawDb(store).prepare('SELECT * FROM runs');
        raw.all(); // warm the page cache and the statement once, for all three
        const size: TreeSizeResult = {
          runs: count,
          rawSelect: median(await timeReps(reps, () => raw.all())),
          coreListRuns: median(await timeReps(reps, () => agentsTreeData(store.listRuns()))),
          coreAgents: median(await timeReps(o.reps, () => agentsTreePage(store, repo))),
          watch: { ours: [], raw: [], missed: 0 },
          open: median(await timeReps(reps, () => Store.open(stateDir).close())),
          openAtRest: NaN,
          openEmpty: NaN,
          rawOpen: median(
            await timeReps(reps, () => {
              const db = new Database(store.file, { fileMustExist: true });
              db.prepare('SELECT count(*) FROM runs').get();
              db.close();
            }),
          ),
        };
        if (typeof ui !== 'string') {
          const ctx = uiContext(ui, store, stateDir, repo);
          const provider = new ui.AgentsTreeProvider(ctx.host, ctx.repos);
          try {
            size.uiAgentNodes = await renderTree(ui, provider);
            size.uiAgents = median(await timeReps(reps, () => renderTree(ui, provider)));
          } catch (e) {
            result.uiMissing = `AgentsTreeProvider failed: ${(e as Error).message}`;
          } finally {
            provider.dispose();
          }
        }
        if (count === o.worktreesAt) {
          const gitRepo = await GitRepo.open(repo);
          await execFileP('git', ['worktree', 'list', '--porcelain'], { cwd: repo });
          result.worktrees.rawList = median(await timeReps(o.reps, () => execFileP('git', ['worktree', 'list', '--porcelain'], { cwd: repo })));
          result.worktrees.core = median(
            await timeReps(o.reps, async () => {
              const list = await gitRepo.worktrees();
              const byPath = new Map<string, Run>();
              for (const r of store.runsAtWorktrees(repo, list.map((w) => w.path))) {
                const seen = byPath.get(r.worktree);
                if (!seen || seen.attempt < r.attempt) byPath.set(r.worktree, r);
              }
              return list.map((w) => ({ w, run: byPath.get(w.path) }));
            }),
          );
          if (typeof ui !== 'string' && o.uiWorktreeReps > 0) {
            const ctx = uiContext(ui, store, stateDir, repo);
            const provider = new ui.WorktreesTreeProvider(ctx.host, ctx.repos, ctx.log);
            try {
              // refresh(true) drops cached details (the Refresh command): every rep is a cold load.
              const list: number[] = [];
              const settled: number[] = [];
              for (let i = 0; i < o.uiWorktreeReps; i++) {
                const t0 = now();
                result.worktrees.uiNodes = await renderTree(ui, provider, true);
                list.push(now() - t0);
                if (provider.settled) {
                  await provider.settled();
                  settled.push(now() - t0);
                }
              }
              result.worktrees.ui = median(list);
              if (settled.length) result.worktrees.uiSettled = median(settled);
            } catch (e) {
              result.uiMissing = `WorktreesTreeProvider failed: ${(e as Error).message}`;
            } finally {
              provider.dispose();
            }
          }
        }
        size.watch = await watchLatency(store, stateDir, repo, o.watchSamples);
        result.sizes.push(size);
        log(`  tree ${count} runs: raw ${size.rawSelect.toFixed(1)} ms, core ${size.coreAgents.toFixed(1)} ms${size.uiAgents !== undefined ? `, ui ${size.uiAgents.toFixed(1)} ms` : ''}, watch ${median(size.watch.ours).toFixed(1)} ms`);
      } finally {
        store.close();
      }
      measureOpenAtRest(result.sizes.at(-1), stateDir, path.join(dir, 'state-empty'), count >= 10_000 ? Math.max(3, Math.ceil(o.reps / 2)) : o.reps);
    }
  } finally {
    if (typeof ui !== 'string') ui.restore();
    rmrf(dir);
  }
  return result;
}
