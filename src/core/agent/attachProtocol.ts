import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/**
 * The attach protocol: how a terminal (the CLI's `attach`, a VS Code terminal) talks to the
 * supervisor that holds an agent's pseudo-terminal, over a local socket in the run folder
 * (`runs/<id>/attach.sock`, mode 0600 in a 0700 folder; on Windows a named pipe).
 *
 * Both ways the stream is a sequence of frames: 1 byte kind, 4 bytes payload length (big
 * endian), the payload.
 *   kind 0x01 DATA     client -> supervisor: input for the agent's terminal (raw bytes)
 *                      supervisor -> client: what the terminal shows (raw bytes, UTF-8)
 *   kind 0x02 CONTROL  a JSON object:
 *     client -> supervisor: {"type":"hello","cols":N,"rows":N} (optional; sizes the terminal)
 *                           {"type":"resize","cols":N,"rows":N}
 *                           {"type":"detach"}  (the supervisor closes the connection)
 *     supervisor -> client: {"type":"hello","runId":..,"pid":..,"cols":N,"rows":N}, first;
 *                           then one DATA frame with the current screen and recent scrollback
 *                           (serialized as escape sequences), then the live output;
 *                           {"type":"exit","code":N|null,"signal":S|null} when the agent ended,
 *                           after which the supervisor closes the connection.
 * A payload over MAX_FRAME_BYTES, an unknown kind or a control frame that is not such JSON
 * ends that one connection; the agent and the other clients never notice.
 */
export const FRAME_DATA = 0x01;
export const FRAME_CONTROL = 0x02;
export const MAX_FRAME_BYTES = 1024 * 1024;
const HEADER_BYTES = 5;

export type ClientControl = { type: 'hello'; cols?: number; rows?: number } | { type: 'resize'; cols: number; rows: number } | { type: 'detach' };
export type ServerControl = { type: 'hello'; runId: string; pid: number; cols: number; rows: number } | { type: 'exit'; code: number | null; signal: string | null };
export type Frame = { kind: typeof FRAME_DATA; data: Buffer } | { kind: typeof FRAME_CONTROL; message: Record<string, unknown> };

export function encodeFrame(kind: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = kind;
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

export const dataFrame = (data: Buffer | string) => encodeFrame(FRAME_DATA, data);
export const controlFrame = (message: ClientControl | ServerControl) => encodeFrame(FRAME_CONTROL, JSON.stringify(message));

/** Splits a byte stream into frames; `push` throws ProtocolError on anything malformed. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.pending.length >= HEADER_BYTES) {
      const kind = this.pending[0];
      const length = this.pending.readUInt32BE(1);
      if (kind !== FRAME_DATA && kind !== FRAME_CONTROL) throw new ProtocolError(`unknown frame kind 0x${kind.toString(16)}`);
      if (length > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`);
      if (this.pending.length < HEADER_BYTES + length) break;
      const payload = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.pending = this.pending.subarray(HEADER_BYTES + length);
      if (kind === FRAME_DATA) {
        frames.push({ kind, data: Buffer.from(payload) });
      } else {
        let message: unknown;
        try {
          message = JSON.parse(payload.toString('utf8'));
        } catch {
          throw new ProtocolError('control frame is not JSON');
        }
        if (!message || typeof message !== 'object' || Array.isArray(message) || typeof (message as { type?: unknown }).type !== 'string') throw new ProtocolError('control frame has no type');
        frames.push({ kind, message: message as Record<string, unknown> });
      }
    }
    return frames;
  }
}

export class ProtocolError extends Error {}

/** A terminal size from a client, or undefined when it is not two sane whole numbers. */
export function terminalSize(m: Record<string, unknown>): { cols: number; rows: number } | undefined {
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 1000;
  return ok(m.cols) && ok(m.rows) ? { cols: m.cols, rows: m.rows } : undefined;
}

export const ATTACH_SOCKET = 'attach.sock';
/** sun_path holds 108 bytes on Linux, 104 on macOS (with the terminating NUL). */
const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

/**
 * Where the run's attach socket is, as a path this process can bind or connect to, and a
 * function to call once the bind or connect is done. A state dir deep enough to push the
 * path past sun_path's limit (VS Code's global storage often is) is reached on Linux through
 * an open handle on the run folder (/proc/self/fd/N/attach.sock); on Windows the endpoint is
 * a named pipe named after the run folder.
 */
export function attachEndpoint(runFolder: string): { path: string; done: () => void } {
  if (process.platform === 'win32') {
    const hash = crypto.createHash('sha256').update(path.resolve(runFolder).toLowerCase()).digest('hex').slice(0, 24);
    return { path: `\\\\.\\pipe\\worktree-orchestrator-${hash}`, done: () => undefined };
  }
  const full = path.join(runFolder, ATTACH_SOCKET);
  if (Buffer.byteLength(full) <= MAX_SOCKET_PATH) return { path: full, done: () => undefined };
  if (process.platform !== 'linux') throw new Error(`The attach socket path ${full} is longer than this system allows (${MAX_SOCKET_PATH} bytes): choose a shorter state folder.`);
  const fd = fs.openSync(runFolder, 'r');
  let open = true;
  const done = () => {
    if (open) fs.closeSync(fd);
    open = false;
  };
  return { path: `/proc/self/fd/${fd}/${ATTACH_SOCKET}`, done };
}

/** Connects to the run's attach socket; rejects (ENOENT, ECONNREFUSED) when nothing serves it. */
export function connectAttach(runFolder: string): Promise<net.Socket> {
  const endpoint = attachEndpoint(runFolder);
  return new Promise((resolve, reject) => {
    const socket = net.connect(endpoint.path);
    socket.once('connect', () => {
      endpoint.done();
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (e) => {
      endpoint.done();
      reject(e);
    });
  });
}
