import type Database from 'better-sqlite3';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { populate } from '../../bench/treeScale';
import { Store } from '../../src/core/db/store';
import type * as Tree from '../../src/ui/views/agentsTreeProvider';
import { isActive } from '../../src/core/model/runStatus';
import { Run } from '../../src/core/model/run';
import { rawDb } from '../support/rawDb';

// The Agents view's logic against a real database, through the fake `vscode` module of the
// bench (bench/fakeVscode.cjs): what it lists, in which order, and that every read it
// makes is an indexed page — its cost must not grow with the history.

interface Fake {
  __install(): () => void;
  EventEmitter: new () => { event: unknown; fire(v?: unknown): void };
  Uri: { file(p: string): unknown };
}

interface Item {
  label: string;
  id: string;
  description?: string;
  contextValue?: string;
  collapsibleState: number;
}

describe('Agents tree: history-independent', function () {
  this.timeout(120_000);
  let restore: () => void;
  let fake: Fake;
  let tree: typeof Tree;
  let dir: string;
  const repo = '/work/bench-repo';

  before(() => {
    fake = require('../../bench/fakeVscode.cjs') as Fake;
    restore = fake.__install();
    tree = require('../../src/ui/views/agentsTreeProvider') as typeof Tree;
  });
  after(() => restore());
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-agents-tree-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function provider(store: Store, roots = [repo]): Tree.AgentsTreeProvider {
    const repos = roots.map((root) => ({ root, name: path.basename(root), folder: { uri: fake.Uri.file(root), name: path.basename(root), index: 0 }, roadmap: undefined }));
    const host = { store, onDidChangeRuns: new fake.EventEmitter().event, onDidChangeLeader: new fake.EventEmitter().event };
    const windowRepos = { repositories: repos, onDidChange: new fake.EventEmitter().event, find: (root: string) => repos.find((r) => r.root === root) };
    return new tree.AgentsTreeProvider(host as never, windowRepos as never);
  }
  const item = (p: Tree.AgentsTreeProvider, n: Tree.AgentNode) => p.getTreeItem(n) as unknown as Item;

  /** What the view showed before it paged: every priority, active first then newest, and all its runs, newest attempt first. */
  function everything(store: Store): Array<{ priority: string; runs: Run[] }> {
    const groups = new Map<string, { priority: string; runs: Run[] }>();
    for (const run of store.listRuns({ repo })) {
      const g = groups.get(run.priority) ?? { priority: run.priority, runs: [] };
      groups.set(run.priority, g);
      g.runs.push(run);
    }
    const nodes = [...groups.values()];
    for (const n of nodes) n.runs.sort((a, b) => b.attempt - a.attempt);
    return nodes.sort((a, b) => Number(isActive(b.runs[0].status)) - Number(isActive(a.runs[0].status)) || b.runs[0].createdAt - a.runs[0].createdAt);
  }

  /** Every priority node, expanding each "Older priorities" in turn, as a user scrolling down would. */
  function allPriorities(p: Tree.AgentsTreeProvider): Tree.PriorityNode[] {
    const out: Tree.PriorityNode[] = [];
    let level = p.getChildren();
    for (;;) {
      out.push(...level.filter((n): n is Tree.PriorityNode => n.kind === 'priority'));
      const more = level.find((n) => n.kind === 'morePriorities');
      if (!more) return out;
      assert.equal(level[level.length - 1], more, '"Older priorities" comes last');
      level = p.getChildren(more);
    }
  }

  /** Every run of a priority: its latest, then the "Older runs" levels. */
  function allRuns(p: Tree.AgentsTreeProvider, priority: Tree.PriorityNode): Run[] {
    const out: Run[] = [];
    let level = p.getChildren(priority);
    for (;;) {
      out.push(...level.filter((n): n is Tree.RunNode => n.kind === 'run').map((n) => n.run));
      const older = level.find((n) => n.kind === 'olderRuns');
      if (!older) return out;
      level = p.getChildren(older);
    }
  }

  it('shows each priority with its latest run as before, and its earlier attempts under "Older runs", read when expanded', () => {
    const store = Store.open(dir);
    try {
      const plan = (attempt: number, id: string) => ({ worktree: `${repo}.worktrees/w-${id}`, branch: `code-developer/x-${attempt}`, baseRef: 'main', command: ['agent'], logPath: `${dir}/runs/${id}/agent.log` });
      const run = (priority: string, end: 'succeeded' | 'failed' | null) => {
        const r = store.claimRun({ repo, priority, title: `Title of ${priority}`, newAttempt: true, plan });
        if (end) store.recordTransition(r.id, ['requested'], end, { endedAt: Date.now(), exitCode: end === 'failed' ? 1 : 0 });
        return r;
      };
      // B#1, A#1, A#2, C#1, C#2 ended in that order; A#3 runs.
      const made = [run('B', 'succeeded'), run('A', 'failed'), run('A', 'succeeded'), run('C', 'succeeded'), run('C', 'failed'), run('A', null)];
      made.forEach((r, i) => rawDb(store).prepare('UPDATE runs SET created_at = ? WHERE id = ?').run(1_000 + i, r.id));

      const p = provider(store);
      const roots = p.getChildren();
      assert.deepEqual(roots.map((n) => item(p, n).label), ['A', 'C', 'B'], 'active first, then the most recently requested');
      assert.deepEqual(roots.map((n) => item(p, n).contextValue), ['priority.active', 'priority.idle', 'priority.idle']);
      assert.equal(item(p, roots[1]).description, 'Title of C · failed');

      const a = roots[0] as Tree.PriorityNode;
      const children = p.getChildren(a);
      assert.deepEqual(children.map((n) => n.kind), ['run', 'olderRuns']);
      const latest = item(p, children[0]);
      assert.equal(latest.label, '#3 queued');
      assert.equal(latest.id, `run:${made[5].id}`);
      assert.equal(latest.contextValue, 'run.requested');
      const older = item(p, children[1]);
      assert.equal(older.label, 'Older runs');
      assert.equal(older.collapsibleState, 1, 'collapsed: read only when expanded');
      const earlier = p.getChildren(children[1]);
      assert.deepEqual(earlier.map((n) => item(p, n).label), ['#2 succeeded', '#1 failed']);
      assert.deepEqual(earlier.map((n) => item(p, n).contextValue), ['run.ended.succeeded', 'run.ended.failed']);
      assert.deepEqual(earlier.map((n) => p.getParent(n)), [children[1], children[1]]);
      assert.equal(p.getParent(children[1]), a);

      // A single attempt has no "Older runs".
      assert.deepEqual(p.getChildren(roots[2]).map((n) => n.kind), ['run']);
      // Reveal finds an earlier attempt through its "Older runs" node.
      const found = p.findRun(made[1].id)!;
      assert.equal(found.run.id, made[1].id);
      assert.equal(item(p, p.getParent(found)!).id, older.id);
    } finally {
      store.close();
    }
  });

  it('at 100,000 runs: a bounded first page, and page by page exactly what the whole list showed before', () => {
    const store = Store.open(dir);
    try {
      populate(store, repo, 100_000, [], { events: false });
      const before = everything(store);
      assert.equal(before.length, 20_000);

      // Every statement the view prepares, to check its plan below.
      const prepared = new Set<string>();
      const prepare = rawDb(store).prepare.bind(rawDb(store));
      rawDb(store).prepare = ((sql: string) => {
        prepared.add(sql);
        return prepare(sql);
      }) as Database.Database["prepare"];

      const p = provider(store);
      const roots = p.getChildren();
      assert.equal(roots.length, tree.TREE_PAGE + 1);
      assert.equal(roots[roots.length - 1].kind, 'morePriorities');
      const shown = allPriorities(p);
      assert.deepEqual(shown.map((n) => n.priority), before.map((g) => g.priority), 'the same priorities in the same order');
      assert.deepEqual(shown.map((n) => n.runs[0].id), before.map((g) => g.runs[0].id), 'each with its latest run');

      // A priority deep down the list: all its attempts, newest first, as before.
      const deep = shown[15_000];
      assert.deepEqual(allRuns(p, deep).map((r) => r.id), before[15_000].runs.map((r) => r.id));
      // Reveal of its first attempt: the parents lead to the top, and each lists its child.
      const first = before[15_000].runs[before[15_000].runs.length - 1];
      let node: Tree.AgentNode | undefined = p.findRun(first.id);
      assert.ok(node, 'findRun found the first attempt');
      const ids = (list: Tree.AgentNode[]) => list.map((n) => item(p, n).id);
      for (let parent = p.getParent(node); ; parent = p.getParent(node)) {
        assert.ok(ids(p.getChildren(parent)).includes(item(p, node).id), `${item(p, node).id} under ${parent ? item(p, parent).id : 'the top'}`);
        if (!parent) break;
        node = parent;
      }

      // No statement of the view reads the whole table: each walks an index for one page.
      assert.ok(prepared.size > 0);
      for (const sql of prepared) {
        const plan = (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...sqlArgs(sql)) as Array<{ detail: string }>).map((r) => r.detail);
        assert.ok(!plan.some((d) => /^SCAN (runs|later)\b/.test(d)), `${sql}\n${plan.join('\n')}`);
      }
    } finally {
      store.close();
    }
  });

  it('the runs that ended recently (announced at start-up) are read through an index, not the history', () => {
    const store = Store.open(dir);
    try {
      populate(store, repo, 10_000, [], { events: false });
      const since = Date.now() - 30 * 60_000 - 30_000; // populate ends a run a minute, up to now
      const ended = store.endedSince(repo, since);
      const expected = store.listRuns({ repo }).filter((r) => !isActive(r.status) && (r.endedAt ?? 0) >= since);
      assert.ok(expected.length > 0 && expected.length < 100, `${expected.length}`);
      assert.deepEqual(ended.map((r) => r.id).sort(), expected.map((r) => r.id).sort());
      const plan = (rawDb(store).prepare(`EXPLAIN QUERY PLAN SELECT runs.id FROM runs INDEXED BY runs_by_ended WHERE runs.ended_at >= 1`).all() as Array<{ detail: string }>).map((r) => r.detail);
      assert.match(plan.join('\n'), /SEARCH runs USING INDEX runs_by_ended/);
    } finally {
      store.close();
    }
  });

  it('pages several repositories into one order', () => {
    const store = Store.open(dir);
    try {
      const other = '/work/other-repo';
      populate(store, repo, 700, [], { events: false });
      // The other repository's runs are newer than all of the first's.
      const offset = Date.now();
      const plan = (attempt: number, id: string) => ({ worktree: `${other}.worktrees/w-${id}`, branch: `b-${id}`, baseRef: 'main', command: ['agent'], logPath: `${dir}/runs/${id}/agent.log` });
      for (let i = 0; i < 150; i++) {
        const r = store.claimRun({ repo: other, priority: `O-${i}`, newAttempt: true, plan });
        store.recordTransition(r.id, ['requested'], 'succeeded', { endedAt: offset });
        rawDb(store).prepare('UPDATE runs SET created_at = ? WHERE id = ?').run(offset + (i % 2 ? i : -1e9 + i), r.id);
      }
      const p = provider(store, [repo, other]);
      const shown = allPriorities(p);
      assert.equal(shown.length, 140 + 150);
      assert.equal(new Set(shown.map((n) => `${n.repo}:${n.priority}`)).size, shown.length, 'each priority once');
      const key = (n: Tree.PriorityNode) => [Number(isActive(n.runs[0].status)), n.runs[0].createdAt] as const;
      for (let i = 1; i < shown.length; i++) {
        const [a, b] = [key(shown[i - 1]), key(shown[i])];
        assert.ok(a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]), `order at ${i}: ${a} then ${b}`);
      }
    } finally {
      store.close();
    }
  });

  it('shows what a run is doing: the mark as icon and description, tokens, cost, session and ports in the tooltip (two queries per page)', () => {
    const store = Store.open(dir);
    try {
      const plan = (attempt: number, id: string) => ({ worktree: `${repo}.worktrees/w-${id}`, branch: `code-developer/f-${attempt}`, baseRef: 'main', command: ['agent'], logPath: `${dir}/runs/${id}/agent.log` });
      const a = store.claimRun({ repo, priority: 'A', title: 'Alpha', plan });
      store.leasePorts(a.id, 10, () => new Set());
      const b = store.claimRun({ repo, priority: 'B', title: 'Beta', plan });
      store.recordRunFacts(a.id, { sessionId: 'sess-1', lastActivity: 'Bash: git push', tokensIn: 53_816, tokensOut: 214, costUsd: 0.0421, denials: 1, deniedTool: 'Bash', attention: 'needs-input', attentionReason: 'permission denied: Bash' });
      store.recordRunFacts(b.id, { lastActivity: 'reading spec.md', attention: 'stalled', attentionReason: 'no output for 300s' });
      const p = provider(store);
      let prepared = 0;
      // The connection is the store's own: counted from the outside, as a spy.
      const db = (store as unknown as { db: { prepare(sql: string): unknown } }).db;
      const prepare = db.prepare.bind(db);
      db.prepare = ((sql: string) => {
        if (/run_facts|port_leases/.test(sql)) prepared++;
        return prepare(sql);
      }) as typeof prepare;
      const roots = p.getChildren() as Tree.PriorityNode[];
      assert.equal(prepared, 2, 'the facts and the ports of the whole page: one query each');
      const byName = new Map(roots.map((n) => [n.priority, n]));
      assert.match(item(p, byName.get('A')!).description!, /Alpha · needs input/);
      const runA = p.getChildren(byName.get('A')!)[0] as Tree.RunNode;
      const itA = p.getTreeItem(runA) as unknown as Item & { iconPath: { id: string }; tooltip: { value: string } };
      assert.match(itA.description!, /^needs input: permission denied: Bash · /);
      assert.equal(itA.iconPath.id, 'bell-dot');
      assert.match(itA.tooltip.value, /Tokens: `53\.8k in \/ 214 out`/);
      assert.match(itA.tooltip.value, /Cost: `\$0\.0421`/);
      assert.match(itA.tooltip.value, /Session: `sess-1`/);
      assert.match(itA.tooltip.value, /Permission denials: `1, last: Bash`/);
      assert.match(itA.tooltip.value, /Ports: `\d+–\d+ \(WTO_PORT=\d+\)`/);
      const runB = p.getChildren(byName.get('B')!)[0] as Tree.RunNode;
      const itB = p.getTreeItem(runB) as unknown as Item & { iconPath: { id: string } };
      assert.match(itB.description!, /^stalled · reading spec\.md · /);
      assert.equal(itB.iconPath.id, 'watch');
      assert.equal(prepared, 2, 'items are drawn from what the page read');
    } finally {
      store.close();
    }
  });

});

/** Placeholder values for a statement's parameters (EXPLAIN needs them bound). */
function sqlArgs(sql: string): unknown[] {
  return Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => 1);
}
