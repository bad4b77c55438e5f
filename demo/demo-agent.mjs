#!/usr/bin/env node
// The demo code_developer: a stand-in for a real coding agent, used by `npm start`.
// It runs in the worktree the orchestrator made for one roadmap priority (its cwd), works
// for a few seconds while printing progress, edits a file and commits on the run's branch
// with a message naming the priority.
//
//   node demo/demo-agent.mjs [--title TEXT] [--seconds N]
//
// Environment (set by the orchestrator): WTO_PRIORITY (required), WTO_RUN_ID, WTO_BRANCH.
// DEMO_AGENT_SECONDS overrides the default duration (6 s); DEMO_AGENT_EXIT=N makes it fail
// with exit code N after its work (to show a failed run).
// No shell anywhere: git runs with an argument array.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { title: { type: 'string' }, seconds: { type: 'string' } },
  allowPositionals: true,
});
const priority = process.env.WTO_PRIORITY;
if (!priority) {
  console.error('demo-agent: WTO_PRIORITY is not set (the orchestrator sets it for every run)');
  process.exit(2);
}
const title = values.title && !values.title.includes('${') ? values.title : priority;
const seconds = Math.max(0, Number(values.seconds ?? process.env.DEMO_AGENT_SECONDS ?? 6)) || 0;
const git = (...args) =>
  execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

let root;
try {
  root = git('rev-parse', '--show-toplevel');
} catch {
  console.error(`demo-agent: ${process.cwd()} is not inside a git repository`);
  process.exit(2);
}

process.on('SIGTERM', () => {
  console.log(`demo-agent: got SIGTERM, stopping ${priority} without committing`);
  process.exit(143);
});

const stamp = () => new Date().toISOString().slice(11, 19);
console.log(`[${stamp()}] demo code_developer ${process.pid} working on ${priority}: ${title}`);
console.log(`[${stamp()}] worktree ${root} on branch ${git('rev-parse', '--abbrev-ref', 'HEAD')}`);

const steps = ['reading the roadmap', 'planning the change', 'writing the code', 'running the tests'];
for (let i = 0; i < steps.length; i++) {
  console.log(`[${stamp()}] (${i + 1}/${steps.length}) ${steps[i]}…`);
  await new Promise((r) => setTimeout(r, (seconds * 1000) / steps.length));
}

// The edit: one file per priority, plus a line in the shared changelog of the demo app.
const safeId = priority.replace(/[^\w.-]+/g, '_');
const notes = join(root, 'features', `${safeId}.md`);
mkdirSync(join(root, 'features'), { recursive: true });
writeFileSync(
  notes,
  `# ${priority}: ${title}\n\nImplemented by the demo code_developer (pid ${process.pid}` +
    `${process.env.WTO_RUN_ID ? `, run ${process.env.WTO_RUN_ID}` : ''}) at ${new Date().toISOString()}.\n`,
);
const changelog = join(root, 'CHANGELOG.md');
if (!existsSync(changelog)) writeFileSync(changelog, '# Changelog\n\n');
appendFileSync(changelog, `- ${priority}: ${title}\n`);

git('add', '--', notes, changelog);
git(
  '-c', 'user.name=demo code_developer',
  '-c', 'user.email=code-developer@demo.invalid',
  '-c', 'commit.gpgsign=false',
  'commit', '-q', '-m', `${priority}: ${title}`, '-m', 'Done by the Worktree Orchestrator demo agent.',
);
console.log(`[${stamp()}] committed ${git('rev-parse', '--short', 'HEAD')} "${priority}: ${title}"`);

const exit = Number(process.env.DEMO_AGENT_EXIT ?? 0);
if (exit) console.log(`[${stamp()}] DEMO_AGENT_EXIT=${exit}: failing on purpose`);
process.exit(exit);
