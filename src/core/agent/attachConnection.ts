import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { exitRecord, runDir } from './agents';
import { connectAttach, controlFrame, dataFrame, FRAME_CONTROL, FrameReader } from './attachProtocol';
import { UserError } from '../model/userError';
import { isActive } from '../model/runStatus';
import { Run } from '../model/run';

export interface AgentExit {
  code: number | null;
  signal: string | null;
}

/**
 * One client's connection to a run's agent terminal (attachProtocol.ts), for the CLI's
 * `attach` and VS Code's agent terminals alike. Events: 'output' (text the terminal shows:
 * the screen replay first, then live output), 'exit' (AgentExit: the agent ended), 'close'.
 */
export class AttachConnection extends EventEmitter {
  private readonly decoder = new StringDecoder('utf8');
  private ended: AgentExit | undefined;
  private detaching = false;
  readonly closed: Promise<'exit' | 'detached' | 'lost'>;

  private constructor(
    readonly run: Run,
    private readonly socket: net.Socket,
  ) {
    super();
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) {
          if (f.kind !== FRAME_CONTROL) {
            const text = this.decoder.write(f.data);
            if (text) this.emit('output', text);
          } else if (f.message.type === 'exit') {
            this.ended = { code: typeof f.message.code === 'number' ? f.message.code : null, signal: typeof f.message.signal === 'string' ? f.message.signal : null };
            this.emit('exit', this.ended);
          }
        }
      } catch {
        socket.destroy(); // not the supervisor speaking
      }
    });
    socket.on('error', () => undefined); // 'close' follows
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        resolve(this.ended ? 'exit' : this.detaching ? 'detached' : 'lost');
        this.emit('close');
      }),
    );
  }

  /** Connects to the run's terminal, or throws a UserError saying why there is none. */
  static async open(stateDir: string, run: Run, size?: { cols: number; rows: number }): Promise<AttachConnection> {
    if (!isActive(run.status)) {
      const end = exitRecord(stateDir, run.id);
      throw new UserError(`${run.priority} (run ${run.id}) has ended (${run.status}${end?.code != null ? `, exit code ${end.code}` : ''}): there is no agent to attach to; its output is in ${run.logPath}.`, 'NOT_ACTIVE');
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
        'NO_TERMINAL',
      );
    }
    const c = new AttachConnection(run, socket);
    socket.write(controlFrame({ type: 'hello', ...size }));
    return c;
  }

  get exit(): AgentExit | undefined {
    return this.ended;
  }

  input(data: string | Buffer): void {
    if (!this.socket.destroyed && data.length) this.socket.write(dataFrame(data));
  }

  resize(cols: number, rows: number): void {
    if (!this.socket.destroyed && cols > 0 && rows > 0) this.socket.write(controlFrame({ type: 'resize', cols, rows }));
  }

  /** Leaves the agent running; the supervisor hangs up. */
  detach(): void {
    if (this.socket.destroyed) return;
    this.detaching = true;
    this.socket.end(controlFrame({ type: 'detach' }));
    // A supervisor that does not answer (frozen) does not keep this side open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }
}

/** "exit code 5", "signal SIGTERM". */
export const describeExit = (e: AgentExit) => (e.signal ? `signal ${e.signal}` : `exit code ${e.code}`);
