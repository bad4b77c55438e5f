import type * as net from 'node:net';
import { exitRecord, runDir } from './agents';
import { connectAttach, controlFrame, dataFrame, FRAME_CONTROL, FrameReader } from './attachProtocol';
import { isActive, Store } from './store';
import { UserError } from './userError';

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
  if (!isActive(run.status)) {
    const end = exitRecord(stateDir, run.id);
    throw new UserError(`${run.priority} (run ${run.id}) has ended (${run.status}${end?.code != null ? `, exit code ${end.code}` : ''}): there is no agent to attach to; its output is in ${run.logPath}.`);
  }
  let socket: net.Socket;
  try {
    socket = await connectAttach(runDir(stateDir, run.id));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw e;
    throw new UserError(
      run.status === 'requested' || run.status === 'provisioning'
        ? `${run.priority} (run ${run.id}) has not started its agent yet (${run.status}); try again in a moment.`
        : `${run.priority} (run ${run.id}) has no terminal to attach to: its agent was started without one (see ${run.logPath}).`,
    );
  }
  const { stdin, stdout, stderr } = process;
  const raw = stdin.isTTY === true;
  stderr.write(`[attached to ${run.priority}, run ${run.id}; Ctrl-] detaches]\r\n`);
  if (raw) stdin.setRawMode(true);
  const size = () => (stdout.isTTY ? { cols: stdout.columns, rows: stdout.rows } : undefined);
  socket.write(controlFrame({ type: 'hello', ...size() }));
  const reader = new FrameReader();
  let exit: { code: number | null; signal: string | null } | undefined;
  let detached = false;
  const onResize = () => {
    const s = size();
    if (s) socket.write(controlFrame({ type: 'resize', ...s }));
  };
  const onInput = (chunk: Buffer) => {
    const at = chunk.indexOf(DETACH_KEY);
    if (at < 0) return void socket.write(dataFrame(chunk));
    if (at > 0) socket.write(dataFrame(chunk.subarray(0, at)));
    detached = true;
    socket.end(controlFrame({ type: 'detach' }));
  };
  stdout.on('resize', onResize);
  stdin.on('data', onInput);
  stdin.once('end', () => socket.end(controlFrame({ type: 'detach' }))); // piped input ran out
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const f of reader.push(chunk)) {
        if (f.kind === FRAME_CONTROL) {
          if (f.message.type === 'exit') exit = { code: (f.message.code as number | null) ?? null, signal: (f.message.signal as string | null) ?? null };
        } else {
          stdout.write(f.data);
        }
      }
    } catch {
      socket.destroy(); // not the supervisor speaking
    }
  });
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.on('error', () => undefined);
  });
  stdout.off('resize', onResize);
  stdin.off('data', onInput);
  if (raw) stdin.setRawMode(false);
  stdin.pause();
  if (exit) stderr.write(`\r\n[the agent of ${run.priority} ended: ${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`}]\r\n`);
  else if (detached) stderr.write(`\r\n[detached from ${run.priority}; the agent keeps running: worktree-orchestrator attach ${run.priority}]\r\n`);
  else stderr.write(`\r\n[the connection to ${run.priority}'s terminal was lost]\r\n`);
  return 0;
}
