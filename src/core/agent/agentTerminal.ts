import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { IPty } from '@lydell/node-pty';
import type { ExitRecord } from './agents';
import { AgentScreen, DEFAULT_COLS, DEFAULT_ROWS } from './agentScreen';
import { attachEndpoint, controlFrame, dataFrame, FRAME_CONTROL, FRAME_DATA, FrameReader, terminalSize } from './attachProtocol';

/**
 * The agent in a pseudo-terminal, held by its supervisor (issue 16): interactive agents need
 * a terminal. The supervisor keeps the screen in a headless terminal so that whoever attaches
 * (the CLI's `attach`, a VS Code terminal, from any window, after any reload) first sees the
 * current screen and recent scrollback, then the live output; input and resizes from every
 * client reach the agent. agent.log stays plain text.
 */
export type PtyModule = typeof import('@lydell/node-pty');

export interface StartedAgent {
  pid: number | undefined;
  /** The session the agent's processes are in, for the leftover scan (its own: the pty's). */
  session: number | undefined;
  /** Forwards a stop signal to the agent's process group (the terminal's foreground). */
  signal(sig: NodeJS.Signals): void;
  /** Whether the agent has exited (its exit may still be being recorded). */
  ended(): boolean;
  exit: Promise<ExitRecord>;
  /** Resolves once no more output will come. */
  drained: Promise<void>;
  /** Tells attached clients how the run ended and stops serving attach. */
  finish(exit: ExitRecord): void;
}

/** A client that does not read (its socket buffers this much) is dropped, not waited for. */
const MAX_CLIENT_BACKLOG = 8 * 1024 * 1024;

/** node-pty, or why it cannot load here (its prebuilt binary is missing or refuses this platform). */
export function loadPty(): PtyModule | string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@lydell/node-pty') as PtyModule;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

export interface TerminalOptions {
  runId: string;
  runFolder: string;
  argv: string[];
  cwd: string;
  /** Where plain text goes (agent.log). */
  log: (text: string) => void;
  /** The agent's own output as plain text (not the supervisor's notes): run facts, silences. */
  onOutput?: (text: string) => void;
}

/** An agent that never started, as a StartedAgent whose exit says why. */
function notStarted(error: string): StartedAgent {
  const exit: ExitRecord = { code: null, signal: null, error, at: Date.now() };
  return { pid: undefined, session: undefined, signal: () => undefined, ended: () => true, exit: Promise.resolve(exit), drained: Promise.resolve(), finish: () => undefined };
}

export function startInTerminal(pty: PtyModule, o: TerminalOptions): StartedAgent {
  const missing = missingProgram(o.argv[0], o.cwd);
  if (missing) return notStarted(`could not start ${o.argv[0]}: ${missing}`);
  let child: IPty;
  try {
    child = pty.spawn(o.argv[0], o.argv.slice(1), { name: 'xterm-256color', cols: DEFAULT_COLS, rows: DEFAULT_ROWS, cwd: o.cwd, env: process.env as Record<string, string> });
  } catch (e) {
    return notStarted(`could not start ${o.argv[0]}: ${(e as Error).message}`);
  }
  const screen = new AgentScreen();
  const plain = new PlainText();
  const server = new AttachServer(o.runId, o.runFolder, child, screen);
  child.onData((data) => {
    // The replay and the clients are extras: whatever goes wrong there, the agent's host stays.
    // The clients first: a keystroke's echo leaves before the log's disk write (bench: attach).
    try {
      server.broadcast(data);
      screen.write(data);
    } catch {
      // a client is dropped on its own socket's error; nothing else is expected here
    }
    const text = plain.push(data);
    o.log(text);
    o.onOutput?.(text);
  });
  let exited = false;
  const exit = new Promise<ExitRecord>((resolve) => {
    child.onExit(({ exitCode, signal }) => {
      exited = true;
      const name = signal ? (Object.entries(os.constants.signals).find(([, n]) => n === signal)?.[0] ?? String(signal)) : null;
      resolve({ code: name ? null : exitCode, signal: name, error: null, at: Date.now() });
    });
  });
  server.listen((message) => o.log(`[orchestrator] ${new Date().toISOString()} ${message}\n`));
  return {
    pid: child.pid,
    session: process.platform === 'win32' ? undefined : child.pid,
    signal: (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        try {
          child.kill(sig);
        } catch {
          // gone
        }
      }
    },
    ended: () => exited,
    exit,
    // node-pty reports the exit only once the terminal's output is read to the end (or 200 ms on).
    drained: exit.then(() => o.log(plain.flush())),
    finish: (record) => server.close(record),
  };
}

/**
 * Why argv[0] cannot be started, as node's spawn would say it, or undefined. A pseudo-terminal's
 * child only learns that after its fork (and would report it as exit code 1), so the
 * supervisor looks first: where the agent is missing the run says so, as with pipes.
 */
function missingProgram(program: string, cwd: string): string | undefined {
  if (process.platform === 'win32') return undefined; // node-pty throws at spawn there
  const enoent = `spawn ${program} ENOENT`;
  try {
    if (!fs.statSync(cwd).isDirectory()) return enoent;
  } catch {
    return enoent;
  }
  const runnable = (file: string) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes('/')) return runnable(path.resolve(cwd, program)) ? undefined : enoent;
  const dirs = (process.env.PATH ?? '').split(path.delimiter);
  return dirs.some((d) => runnable(path.resolve(cwd, d || '.', program))) ? undefined : enoent;
}

/**
 * Terminal output as plain text for agent.log: escape sequences (CSI, OSC, DCS and the like)
 * removed, CR LF as LF, other control characters but tab dropped. A sequence split across
 * two chunks is still removed whole.
 */
export class PlainText {
  private state: 'text' | 'esc' | 'csi' | 'string' | 'stringEsc' = 'text';
  private cr = false;

  push(data: string): string {
    let out = '';
    for (const ch of data) {
      const c = ch.codePointAt(0)!;
      switch (this.state) {
        case 'text':
          if (c === 0x1b) this.state = 'esc';
          else if (c === 0x9b) this.state = 'csi';
          else if (c === 0x0d) {
            if (this.cr) out += '\r';
            this.cr = true;
            continue;
          } else if (c === 0x0a || c === 0x09 || c >= 0x20) {
            if (this.cr && c !== 0x0a) out += '\r';
            out += ch;
          }
          break;
        case 'esc':
          // ESC [ : CSI; ESC ] P X ^ _ : strings ended by BEL or ESC \; ESC ( ) etc.: one more char.
          if (ch === '[') this.state = 'csi';
          else if (']PX^_'.includes(ch)) this.state = 'string';
          else if (c >= 0x20 && c <= 0x2f) this.state = 'esc'; // intermediate: wait for the final byte
          else this.state = 'text';
          break;
        case 'csi':
          if (c >= 0x40 && c <= 0x7e) this.state = 'text';
          break;
        case 'string':
          if (c === 0x07) this.state = 'text';
          else if (c === 0x1b) this.state = 'stringEsc';
          break;
        case 'stringEsc':
          this.state = ch === '\\' ? 'text' : 'string';
          break;
      }
      this.cr = false;
    }
    return out;
  }

  /** A lone CR held back at the very end (it may have been the first half of CR LF). */
  flush(): string {
    const out = this.cr ? '\r' : '';
    this.cr = false;
    return out;
  }
}

interface Client {
  socket: net.Socket;
  /** Live output that came while the screen was being serialized for this client. */
  queued: string[] | null;
}

/** Serves the run's attach socket (attachProtocol.ts); nothing a client sends can hurt the agent. */
class AttachServer {
  private readonly clients = new Set<Client>();
  private server: net.Server | undefined;
  private socketPath: string | undefined;

  constructor(
    private readonly runId: string,
    private readonly runFolder: string,
    private readonly child: IPty,
    private readonly screen: AgentScreen,
  ) {}

  listen(say: (message: string) => void): void {
    let endpoint: ReturnType<typeof attachEndpoint>;
    try {
      endpoint = attachEndpoint(this.runFolder);
    } catch (e) {
      say(`no attach socket: ${(e as Error).message}`);
      return;
    }
    const server = net.createServer((socket) => this.accept(socket));
    server.on('error', (e) => say(`attach socket ${endpoint.path}: ${e.message}`));
    if (process.platform !== 'win32') fs.rmSync(path.join(this.runFolder, 'attach.sock'), { force: true }); // left by a supervisor killed -9: only one supervisor per run, ever
    // Only this user may connect: the socket is made 0600 (in a 0700 folder) from the start.
    const umask = process.umask(0o177);
    try {
      server.listen(endpoint.path, () => endpoint.done());
    } finally {
      process.umask(umask);
    }
    this.server = server;
    this.socketPath = process.platform === 'win32' ? undefined : path.join(this.runFolder, 'attach.sock');
  }

  broadcast(data: string): void {
    if (!this.clients.size) return;
    const frame = dataFrame(data);
    for (const c of this.clients) {
      if (c.queued) c.queued.push(data);
      else this.send(c, frame);
    }
  }

  close(exit: ExitRecord): void {
    const bye = controlFrame({ type: 'exit', code: exit.code, signal: exit.signal });
    for (const c of this.clients) {
      // Whatever was still queued for it comes first.
      if (c.queued) for (const data of c.queued.splice(0)) this.send(c, dataFrame(data));
      c.queued = null;
      c.socket.end(bye);
    }
    this.clients.clear();
    this.server?.close();
    if (this.socketPath) fs.rmSync(this.socketPath, { force: true });
  }

  private accept(socket: net.Socket): void {
    const client: Client = { socket, queued: [] };
    this.clients.add(client);
    const drop = () => {
      this.clients.delete(client);
      socket.destroy();
    };
    socket.on('error', drop);
    socket.on('close', drop);
    const reader = new FrameReader();
    const input = new StringDecoder('utf8');
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of reader.push(chunk)) {
          if (frame.kind === FRAME_DATA) {
            const text = input.write(frame.data);
            if (text) this.child.write(text);
          } else if (frame.kind === FRAME_CONTROL) {
            const m = frame.message;
            if (m.type === 'detach') return drop();
            if (m.type === 'resize' || m.type === 'hello') {
              const size = terminalSize(m);
              if (size) this.resize(size.cols, size.rows);
              else if (m.type === 'resize') return drop();
            } else {
              return drop();
            }
          }
        }
      } catch {
        drop(); // garbage or an oversized frame: that client goes, nothing else changes
      }
    });
    this.send(client, controlFrame({ type: 'hello', runId: this.runId, pid: this.child.pid, cols: this.screen.cols, rows: this.screen.rows }));
    // The screen as it is once everything written so far is parsed; what comes meanwhile waits.
    this.screen.serialize((text) => {
      if (!this.clients.has(client) || !client.queued) return;
      if (text) this.send(client, dataFrame(text));
      for (const data of client.queued.splice(0)) this.send(client, dataFrame(data));
      client.queued = null;
    });
  }

  private resize(cols: number, rows: number): void {
    if (cols === this.screen.cols && rows === this.screen.rows) return;
    try {
      this.child.resize(cols, rows);
      this.screen.resize(cols, rows);
    } catch {
      // the terminal is closing
    }
  }

  private send(c: Client, frame: Buffer): void {
    if (c.socket.destroyed) return;
    if (c.socket.writableLength > MAX_CLIENT_BACKLOG) {
      this.clients.delete(c);
      c.socket.destroy();
      return;
    }
    c.socket.write(frame);
  }
}
