import { AttachConnection, describeExit } from './attachConnection';
import { Store } from '../db/store';
import { UserError } from '../model/userError';

/** Ctrl-] (0x1d), as telnet has it: the byte that detaches instead of reaching the agent. */
export const DETACH_KEY = 0x1d;

/**
 * `worktree-orchestrator attach <priority|run>`: this terminal, in raw mode, becomes the
 * agent's terminal until Ctrl-] (or the agent ends: then it prints the exit code). Others
 * may be attached at the same time; detaching leaves the agent running.
 */
export async function attachCli(store: Store, stateDir: string, which: string, repo: string | undefined): Promise<number> {
  const run = store.findRun(which, repo);
  if (!run) throw new UserError(`No run matches "${which}".`);
  const { stdin, stdout, stderr } = process;
  const size = () => (stdout.isTTY ? { cols: stdout.columns, rows: stdout.rows } : undefined);
  const c = await AttachConnection.open(stateDir, run, size());
  const raw = stdin.isTTY === true;
  stderr.write(`[attached to ${run.priority}, run ${run.id}; Ctrl-] detaches]\r\n`);
  if (raw) stdin.setRawMode(true);
  const onResize = () => {
    const s = size();
    if (s) c.resize(s.cols, s.rows);
  };
  const onInput = (chunk: Buffer) => {
    const at = chunk.indexOf(DETACH_KEY);
    if (at < 0) return c.input(chunk);
    c.input(chunk.subarray(0, at));
    c.detach();
  };
  c.on('output', (text: string) => stdout.write(text));
  stdout.on('resize', onResize);
  stdin.on('data', onInput);
  stdin.once('end', () => c.detach()); // piped input ran out
  const how = await c.closed;
  stdout.off('resize', onResize);
  stdin.off('data', onInput);
  if (raw) stdin.setRawMode(false);
  stdin.pause();
  if (how === 'exit') stderr.write(`\r\n[the agent of ${run.priority} ended: ${describeExit(c.exit!)}]\r\n`);
  else if (how === 'detached') stderr.write(`\r\n[detached from ${run.priority}; the agent keeps running: worktree-orchestrator attach ${run.priority}]\r\n`);
  else stderr.write(`\r\n[the connection to ${run.priority}'s terminal was lost]\r\n`);
  return 0;
}
