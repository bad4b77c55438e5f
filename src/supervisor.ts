import { parseArgs } from 'node:util';
import { parseCommitPlan } from './core/agent/commitOnExit';
import { runSupervisor } from './core/agent/supervisor';

// Entry of dist/supervisor.js: the small parent every agent runs under. It is its own
// bundle, kept apart from the CLI, because it starts on every spawn's critical path.
const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const { values } = parseArgs({
  args: argv.slice(0, sep),
  options: { 'state-dir': { type: 'string' }, run: { type: 'string' }, log: { type: 'string' }, cwd: { type: 'string' }, 'log-max-bytes': { type: 'string' }, 'commit-on-exit': { type: 'string' } },
});
runSupervisor({ stateDir: values['state-dir']!, runId: values.run!, logPath: values.log!, cwd: values.cwd!, argv: argv.slice(sep + 1), logMaxBytes: values['log-max-bytes'] === undefined ? undefined : Number(values['log-max-bytes']), commitOnExit: parseCommitPlan(values['commit-on-exit']) }).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`supervisor: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 70;
  },
);
