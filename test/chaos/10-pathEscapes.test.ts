import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../src/core/db/store';
import { cli, makeSandbox, Sandbox } from '../support/sandbox';
import { agentTraces, chaosAgent, killAgents, launch, record, report, rngFor, scaled } from './lib';
import { waitUntil } from '../support/wait';
import { git } from '../support/git';

// Scenario 10 (issue 12, items 8 and 9): what a hostile repository or a planted link could
// use to make the orchestrator write outside a run's worktree. (a) Queued runs whose
// worktree path is replaced, while they wait, by a link (to an empty or full folder outside,
// dangling, relative, to the main checkout, to the root), a file or someone's folder; with
// and without the warm pool (whose take moves a worktree: git moves *into* a folder that
// exists). (b) `.worktreeinclude` files under folders that are real in the main checkout but
// committed symlinks in the worktree (absolute, relative, dangling, nested, and links that
// stay inside, which are fine). Counted: every file or folder that appeared outside the
// root and the worktrees, every worktree git registered outside the root, every agent that
// ran outside: "writes outside" must be 0.

const PLANTS = ['link-empty', 'link-full', 'link-dangling', 'link-relative', 'link-main', 'link-root', 'file', 'foreign', 'none'] as const;
type Plant = (typeof PLANTS)[number];

function roadmap(n: number): string {
  return `# R\n\n${Array.from({ length: n }, (_, i) => `## US-${100 + i}: item ${i} 📝 Planned\n`).join('\n')}`;
}

/** Every path under `dir`, with its size or link target: a snapshot to diff for writes. */
function snapshot(dir: string, skip: (p: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      if (skip(p)) continue;
      const st = fs.lstatSync(p);
      out.set(p, st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : st.isDirectory() ? 'dir' : `${st.size} bytes`);
      if (st.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}
const appeared = (before: Map<string, string>, after: Map<string, string>) => [...after].filter(([p, v]) => before.get(p) !== v).map(([p]) => p);

describe('chaos 10: planted symlinks and include escapes', function () {
  this.timeout(300_000);
  let s: Sandbox | undefined;
  afterEach(() => {
    if (s) {
      killAgents(s);
      s.cleanup();
    }
    s = undefined;
  });

  for (const pool of [0, 1]) {
    it(`planted at queued runs' worktree paths${pool ? ', warm pool on' : ''}: each refused with a message, 0 writes outside`, async () => {
      const rng = rngFor(`10a-${pool}`);
      const n = scaled(18, PLANTS.length);
      const plants: Plant[] = Array.from({ length: n }, (_, i) => (i < PLANTS.length ? PLANTS[i] : rng.pick(PLANTS)));
      rng.shuffle(plants);
      s = makeSandbox(roadmap(n + 1));
      const sb = s;
      const root = `${sb.repo}.worktrees`;
      const outside = path.join(sb.dir, 'outside');
      fs.mkdirSync(outside);
      const row = record({ scenario: `10a. planted symlinks at queued runs' paths${pool ? ' (warm pool)' : ''}`, runs: n, faults: `${plants.filter((p) => p !== 'none').length} planted`, duplicates: 0, orphans: 0, lostCommits: '-', maxLeaderlessMs: null, breaks: 'not measured' });
      const agent = JSON.stringify(chaosAgent('write:agent-was-here.txt', 'exit:0'));
      const leader = launch(sb, ['--max-parallel', '1', '--warm-pool', String(pool), '--agent-command', agent], {}, { group: true });
      try {
        assert.ok(await leader.waitFor(/^leader/), 'leads');
        // A blocker holds the only slot while the others queue and get their plants.
        assert.equal((await cli(sb, ['spawn', 'US-100', '--agent-command', JSON.stringify(chaosAgent('sleep:120000', 'exit:0'))])).exitCode, 0);
        const ids = plants.map((_, i) => `US-${101 + i}`);
        for (const id of ids) assert.equal((await cli(sb, ['spawn', id, '--agent-command', agent])).exitCode, 0, id);
        const store = Store.open(sb.state);
        try {
          const runs = ids.map((id) => store.listRuns().find((r) => r.priority === id)!);
          assert.ok(runs.every((r) => r.status === 'requested'), 'all queued');
          plants.forEach((plant, i) => {
            const wt = runs[i].worktree;
            const target = path.join(outside, `t${i}`);
            if (plant === 'link-empty') fs.mkdirSync(target);
            if (plant === 'link-full') {
              fs.mkdirSync(target);
              fs.writeFileSync(path.join(target, 'theirs.txt'), 'theirs\n');
            }
            if (plant === 'link-empty' || plant === 'link-full' || plant === 'link-dangling') fs.symlinkSync(target, wt);
            if (plant === 'link-relative') {
              fs.mkdirSync(target);
              fs.symlinkSync(`../outside/t${i}`, wt);
            }
            if (plant === 'link-main') fs.symlinkSync(sb.repo, wt);
            if (plant === 'link-root') fs.symlinkSync(root, wt);
            if (plant === 'file') fs.writeFileSync(wt, 'a file\n');
            if (plant === 'foreign') {
              fs.mkdirSync(wt);
              fs.writeFileSync(path.join(wt, 'notes.txt'), 'mine\n');
            }
          });
          const isWorktreeOrGit = (p: string) => p.startsWith(root + path.sep) || p === path.join(sb.repo, '.git') || p === sb.state || p === path.join(sb.dir, 'ledger.jsonl') || p === sb.trace;
          const before = snapshot(sb.dir, isWorktreeOrGit);
          assert.equal((await cli(sb, ['stop', 'US-100'])).exitCode, 0, 'the blocker frees the slot');
          const ended = await waitUntil(() => store.listRuns().every((r) => !['requested', 'provisioning', 'running', 'stopping'].includes(r.status)), 120_000, 200);
          assert.ok(ended, 'every run ended');
          const wrote = appeared(before, snapshot(sb.dir, isWorktreeOrGit));
          const registered = git(sb.repo, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).map((l) => l.slice(9)).filter((p) => p !== sb.repo && !p.startsWith(root + path.sep));
          const ranOutside = agentTraces(sb).filter((t) => !fs.realpathSync(t.cwd).startsWith(root + path.sep));
          const writesOutside = wrote.length + registered.length + ranOutside.length;
          const wrong: string[] = [];
          const final = ids.map((id) => store.listRuns().find((r) => r.priority === id)!);
          final.forEach((r, i) => {
            const want = plants[i] === 'none' ? 'succeeded' : 'failed';
            if (r.status !== want) wrong.push(`${r.priority} (${plants[i]}) ${r.status}${r.error ? `: ${r.error}` : ''}`);
            else if (want === 'failed' && !/is a symlink|already exists/.test(r.error ?? '')) wrong.push(`${r.priority} (${plants[i]}) failed without saying why: ${r.error}`);
          });
          const branchesLeft = final.filter((r, i) => plants[i] !== 'none' && git(sb.repo, 'branch', '--list', r.branch) !== '').length;
          row.breaks = `${writesOutside} writes outside`;
          row.notes = `${final.filter((r) => r.status === 'failed').length} refused with a message, ${final.filter((r) => r.status === 'succeeded').length} clean runs ran; ${branchesLeft} branches left by refusals`;
          report(`plants: ${plants.join(', ')}`);
          for (const r of final.filter((x) => x.status === 'failed').slice(0, 4)) report(`  ${r.priority}: ${r.error}`);
          report(`writes outside: ${wrote.length} paths, ${registered.length} worktrees registered outside, ${ranOutside.length} agents ran outside; ${branchesLeft} branches left`);
          assert.deepEqual(wrote, [], 'nothing appeared outside the root');
          assert.deepEqual(registered, [], 'no worktree registered outside the root');
          assert.deepEqual(ranOutside.map((t) => t.cwd), [], 'no agent ran outside the root');
          assert.deepEqual(wrong, [], 'each plant refused with a message, each clean run succeeded');
          assert.equal(branchesLeft, 0, 'a refusal makes no branch');
          row.ok = true;
        } finally {
          store.close();
        }
      } finally {
        await leader.killGroup();
      }
    });
  }

  const SHAPES = ['abs-out', 'rel-out', 'dangling', 'nested-out', 'inside', 'plain'] as const;
  type Shape = (typeof SHAPES)[number];

  it('.worktreeinclude under folders that are committed symlinks in the worktree: escapes refused and named, the rest copied, 0 writes outside', async () => {
    const rng = rngFor('10b');
    const trials = scaled(6, 2);
    let writesOutside = 0;
    let refused = 0;
    let copied = 0;
    let files = 0;
    const row = record({ scenario: '10b. .worktreeinclude through committed symlinks', runs: trials, faults: 'not measured', duplicates: 0, orphans: 0, lostCommits: '-', maxLeaderlessMs: null, breaks: 'not measured' });
    for (let t = 0; t < trials; t++) {
      s = makeSandbox();
      const sb = s;
      const shapes: Shape[] = [...SHAPES, ...Array.from({ length: rng.int(0, 4) }, () => rng.pick(SHAPES))];
      const out = (i: number) => path.join(sb.dir, `out-${i}`);
      const includes: string[] = ['.env'];
      const expectCopied: string[] = ['.env'];
      const expectRefused: string[] = [];
      const inMain: string[] = [];
      shapes.forEach((shape, i) => {
        const d = path.join(sb.repo, `d${i}`);
        if (shape === 'abs-out' || shape === 'rel-out' || shape === 'nested-out') fs.mkdirSync(out(i));
        if (shape === 'abs-out') fs.symlinkSync(out(i), d);
        if (shape === 'rel-out') fs.symlinkSync(`../../out-${i}`, d); // from <root>/<wt>/d<i>: <dir>/out-<i>
        if (shape === 'dangling') fs.symlinkSync(path.join(sb.dir, `gone-${i}`), d);
        if (shape === 'inside') {
          fs.mkdirSync(path.join(sb.repo, `real-${i}`));
          fs.writeFileSync(path.join(sb.repo, `real-${i}`, 'tracked.txt'), 'tracked\n');
          fs.symlinkSync(`real-${i}`, d);
        }
        if (shape === 'nested-out') {
          fs.mkdirSync(d);
          fs.writeFileSync(path.join(d, 'tracked.txt'), 'tracked\n');
          fs.symlinkSync(out(i), path.join(d, 'deep'));
        }
        const rel = shape === 'nested-out' ? `d${i}/deep/.env` : `d${i}/.env`;
        includes.push(rel);
        inMain.push(rel);
        (shape === 'inside' || shape === 'plain' ? expectCopied : expectRefused).push(rel);
      });
      fs.writeFileSync(path.join(sb.repo, '.gitignore'), '.env\n');
      fs.writeFileSync(path.join(sb.repo, '.worktreeinclude'), `${includes.join('\n')}\n`);
      git(sb.repo, 'add', '-A');
      git(sb.repo, 'commit', '-qm', 'links');
      // In the main checkout every one of those folders is real, holding the ignored file.
      for (const rel of inMain) {
        const folder = path.join(sb.repo, path.dirname(rel));
        if (fs.lstatSync(folder, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(folder);
        fs.mkdirSync(folder, { recursive: true });
        fs.writeFileSync(path.join(sb.repo, rel), `${rel}\n`);
      }
      fs.writeFileSync(path.join(sb.repo, '.env'), 'TOP\n');
      const outsideDirs = () => new Map(fs.readdirSync(sb.dir).filter((n) => /^(out|gone)-/.test(n)).flatMap((n) => [[n, 'dir'] as [string, string], ...snapshot(path.join(sb.dir, n))]));
      const before = outsideDirs();
      const r = await cli(sb, ['spawn', 'US-036', '--agent-command', JSON.stringify(chaosAgent('exit:0'))]);
      assert.equal(r.exitCode, 0, r.stderr);
      const store = Store.open(sb.state);
      const run = store.listRuns()[0];
      store.close();
      const wrote = appeared(before, outsideDirs());
      writesOutside += wrote.length;
      const log = fs.existsSync(run.logPath) ? fs.readFileSync(run.logPath, 'utf8') : '';
      const missing = expectCopied.filter((rel) => !fs.existsSync(path.join(run.worktree, rel)) || fs.readFileSync(path.join(run.worktree, rel), 'utf8') !== (rel === '.env' ? 'TOP\n' : `${rel}\n`));
      const unnamed = expectRefused.filter((rel) => !log.includes(`not copied ${rel}: `));
      files += includes.length;
      copied += expectCopied.length - missing.length;
      refused += expectRefused.length - unnamed.length;
      report(`trial ${t}: ${shapes.join(', ')}: ${wrote.length} writes outside, ${missing.length} not copied that should be, ${unnamed.length} refusals not named`);
      assert.deepEqual(wrote, [], `nothing written outside (${shapes.join(', ')})`);
      assert.deepEqual(missing, [], 'what stays inside is copied');
      assert.deepEqual(unnamed, [], `each refusal is named in the run's log:\n${log}`);
      killAgents(sb);
      sb.cleanup();
      s = undefined;
    }
    row.faults = `${refused} escaping includes`;
    row.breaks = `${writesOutside} writes outside`;
    row.notes = `${files} included files: ${copied} copied, ${refused} refused and named in the run's log`;
    row.ok = true;
  });
});
