import type * as net from 'node:net';
import { connectAttach, controlFrame, dataFrame, FRAME_CONTROL, FrameReader } from '../../src/core/agent/attachProtocol';

/** A test client of a run's attach socket: collects what the agent's terminal shows. */
export interface TestClient {
  socket: net.Socket;
  /** Everything the data frames carried, as text (the screen replay first). */
  text(): string;
  controls: Array<Record<string, unknown>>;
  closed: Promise<void>;
  type(text: string): void;
  resize(cols: number, rows: number): void;
  detach(): void;
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

export async function attachClient(runFolder: string, hello?: { cols: number; rows: number }): Promise<TestClient> {
  const socket = await connectAttach(runFolder);
  const reader = new FrameReader();
  let text = '';
  const controls: Array<Record<string, unknown>> = [];
  const changed: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    for (const f of reader.push(chunk)) {
      if (f.kind === FRAME_CONTROL) controls.push(f.message);
      else text += f.data.toString('utf8');
    }
    for (const w of changed.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  if (hello) socket.write(controlFrame({ type: 'hello', ...hello }));
  return {
    socket,
    text: () => text,
    controls,
    closed,
    type: (t) => socket.write(dataFrame(t)),
    resize: (cols, rows) => socket.write(controlFrame({ type: 'resize', cols, rows })),
    detach: () => socket.write(controlFrame({ type: 'detach' })),
    waitFor: (re, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = () => {
          if (re.test(text)) return resolve();
          if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${re} in ${JSON.stringify(text.slice(-500))}`));
          changed.push(check);
          setTimeout(check, 200);
        };
        check();
      }),
  };
}
