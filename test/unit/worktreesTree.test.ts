import type Database from 'better-sqlite3';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { populate } from '../../bench/treeScale';
import { Store } from '../../src/core/db/store';
import type * as Tree from '../../src/ui/views/worktreesTreeProvider';
import { makeSandbox, Sandbox } from '../support/sandbox';
import { git } from '../support/git';
import { Run } from '../../src/core/model/run';
import { rawDb } from '../support/rawDb';

// The Worktrees view matches each worktree `git worktree list` reports to the latest run
// recorded there. It reads only the runs of the listed paths (an index lookup each), so
// its cost follows the worktrees, not the history.
describe('Worktrees tree: history-independent', function () {
  this.timeout(120_000);
  let restore: () => void;
  let fake: { __install(): () => void; EventEmitter: new () => { event: unknown }; Uri: { file(p: string): unknown }; window: { createOutputChannel(n: string, o?: unknown): unknown } };
  let tree: typeof Tree;
  let s: Sandbox;

  before(() => {
    fake = require('../../bench/fakeVscode.cjs');
    restore = fake.__install();
    tree = require('../../src/ui/views/worktreesTreeProvider') as typeof Tree;
  });
  after(() => restore());
  beforeEach(() => (s = makeSandbox()));
  afterEach(() => s.cleanup());

  it('at 10,000 runs: each worktree shows its latest run, read without scanning the runs', async () => {
    const root = `${s.repo}.worktrees`;
    const worktrees = [1, 2, 3].map((i) => path.join(root, `wt-${i}`));
    for (const [i, wt] of worktrees.entries()) git(s.repo, 'worktree', 'add', '-q', '-b', `bench/wt-${i + 1}`, wt, 'main');
    const store = Store.open(s.state);
    try {
      populate(store, s.repo, 10_000, worktrees, { events: false });
      // An earlier attempt recorded at the first path too: the latest attempt wins, as before.
      rawDb(store).prepare('UPDATE runs SET worktree = ? WHERE id = (SELECT id FROM runs WHERE priority = (SELECT priority FROM runs WHERE worktree = ?) AND attempt = 1)').run(worktrees[0], worktrees[0]);
      const expected = new Map<string, Run>();
      for (const r of store.listRuns({ repo: s.repo })) {
        const seen = expected.get(r.worktree);
        if (!seen || seen.attempt < r.attempt) expected.set(r.worktree, r);
      }

      const prepared = new Set<string>();
      const prepare = rawDb(store).prepare.bind(rawDb(store));
      rawDb(store).prepare = ((sql: string) => {
        prepared.add(sql);
        return prepare(sql);
      }) as Database.Database["prepare"];

      const repository = { root: s.repo, name: 'repo', folder: { uri: fake.Uri.file(s.repo), name: 'repo', index: 0 }, roadmap: undefined };
      const host = { store, stateDir: s.state, onDidChangeRuns: new fake.EventEmitter().event, onDidChangeLeader: new fake.EventEmitter().event };
      const repos = { repositories: [repository], onDidChange: new fake.EventEmitter().event, find: () => repository };
      const provider = new tree.WorktreesTreeProvider(host as never, repos as never, fake.window.createOutputChannel('test', { log: true }) as never);
      try {
        const nodes = await provider.getChildren();
        assert.equal(nodes.length, 4, 'the main checkout and three worktrees');
        assert.equal(nodes[0].run, undefined);
        for (const n of nodes.slice(1)) assert.equal(n.run?.id, expected.get(n.info.path)?.id, n.info.path);
        await provider.settled();
      } finally {
        provider.dispose();
      }
      for (const sql of prepared) {
        const plan = (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => 'x')) as Array<{ detail: string }>).map((r) => r.detail);
        assert.ok(!plan.some((d) => /^SCAN runs\b/.test(d) || /^SEARCH runs USING (COVERING )?INDEX \w+ \(repo_id=\?\)$/.test(d)), `${sql}\n${plan.join('\n')}`);
      }
    } finally {
      store.close();
    }
  });
});
