#!/usr/bin/env node
// The chaos suite's code_developer: a real process that does what its arguments say, in
// order, and keeps a ledger of every commit it made so the suite can prove none is lost.
//   sleep:<ms>            sleep:<min>-<max> (random in the range)
//   commit:<label>        writes a file and commits it; the message carries a unique token;
//                         appends {token, hash, runId, priority, pid} to $CHAOS_LEDGER
//   commitall:<label>     the same, but with `git add -A`, as a real agent does: it commits
//                         whatever the worktree looks like (a half checkout: mass deletions)
//   write:<file>          an uncommitted file
//   exit:<code>           trap (exit 0 on SIGTERM)   ignoreterm (only SIGKILL ends it)
// Like test/fixtures/fakeAgent.mjs it records each start in $FAKE_AGENT_TRACE (so the shared
// helpers can find and clean it up), plus its process start time, so a reused pid is never
// counted as this agent.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const priority = process.env.WTO_PRIORITY;
const runId = process.env.WTO_RUN_ID;
const signalSteps = { trap: () => process.on('SIGTERM', () => process.exit(0)), ignoreterm: () => process.on('SIGTERM', () => console.log('SIGTERM ignored')) };
// Leading trap/ignoreterm steps take effect before the start is recorded: a test that waits
// for the trace and then stops the run must meet the handler, not SIGTERM's default (chaos 7
// once saw its ignoreterm agent die of the TERM sent before the handler was installed).
const steps = process.argv.slice(2);
while (steps[0] in signalSteps) signalSteps[steps.shift()]();
if (process.env.FAKE_AGENT_TRACE) {
  fs.appendFileSync(process.env.FAKE_AGENT_TRACE, JSON.stringify({ pid: process.pid, start: startTime(process.pid), cwd: process.cwd(), priority, runId, at: Date.now() }) + '\n');
}
console.log(`chaos agent ${process.pid} for ${priority} (${runId}) in ${process.cwd()}`);

const git = (...args) => execFileSync('git', ['-c', 'user.name=chaos', '-c', 'user.email=chaos@example.com', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function commit(label, all = false) {
  const token = `chaos-${runId}-${label}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(`${token}.txt`, `${token}\n`);
  // Another git process (the orchestrator adding a worktree) may hold a shared lock briefly.
  for (let attempt = 1; ; attempt++) {
    try {
      if (all) git('add', '-A');
      else git('add', '--', `${token}.txt`);
      git('commit', '-q', '-m', `agent work ${token}`);
      break;
    } catch (e) {
      if (attempt >= 8) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 * attempt);
    }
  }
  const hash = git('rev-parse', 'HEAD');
  if (process.env.CHAOS_LEDGER) fs.appendFileSync(process.env.CHAOS_LEDGER, JSON.stringify({ token, hash, runId, priority, pid: process.pid, at: Date.now() }) + '\n');
}

for (const step of steps) {
  const [verb, ...rest] = step.split(':');
  const arg = rest.join(':');
  if (verb === 'sleep') {
    const [min, max] = arg.split('-').map(Number);
    const ms = max === undefined ? min : min + Math.random() * (max - min);
    await new Promise((r) => setTimeout(r, ms));
  } else if (verb === 'commit') commit(arg || 'work');
  else if (verb === 'commitall') commit(arg || 'work', true);
  else if (verb === 'write') fs.writeFileSync(arg, `written by ${process.pid}\n`);
  else if (verb === 'exit') process.exit(Number(arg));
  else if (verb in signalSteps) signalSteps[verb]();
  else console.log(`unknown step ${step}`);
}
