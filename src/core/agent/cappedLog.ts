import * as fs from 'node:fs';
import { UserError } from '../model/userError';

/** worktreeOrchestrator.agentLogMaxMiB's default. */
export const DEFAULT_AGENT_LOG_MAX_MIB = 50;
const MiB = 1024 * 1024;

/** The setting or flag (MiB, fractions allowed; 0: no cap) as bytes, or a clear message. */
export function agentLogMaxBytes(mib: unknown, what = 'worktreeOrchestrator.agentLogMaxMiB'): number {
  const n = typeof mib === 'string' && mib.trim() !== '' ? Number(mib) : mib;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new UserError(`${what} must be a number of MiB, at least 0 (0: no cap), got "${String(mib)}".`, 'BAD_VALUE');
  // Below 64 KiB a head and a tail would hold a few lines each: not worth a log.
  return n === 0 ? 0 : Math.max(64 * 1024, Math.round(n * MiB));
}

/**
 * The agent's log, kept to about `maxBytes`: the first half as it came (how the run began),
 * then one marker line saying how many bytes were cut there, then the newest output. The
 * file is rewritten in place (cut, copy the tail down, truncate) whenever the tail outgrows
 * its half, keeping between a quarter and a half of the cap as tail, so each byte is copied
 * about once. Writes are synchronous: the file is always what was said so far, in order.
 * With maxBytes 0 it only appends (to a file the agent may write to as well).
 */
export class CappedLog {
  private size: number;
  /** Once cut: where the marker starts (the end of the head) and where the kept tail starts. */
  private headEnd = -1;
  private tailStart = -1;
  private cut = 0;
  /** Output a full disk refused since the last write that landed. */
  private dropped = 0;

  constructor(
    private readonly fd: number,
    private readonly maxBytes: number,
  ) {
    this.size = fs.fstatSync(fd).size;
  }

  write(data: string | Buffer): void {
    let buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.dropped) buf = Buffer.concat([Buffer.from(`[orchestrator] ${new Date().toISOString()} … ${this.dropped} bytes of output lost here: the disk was full …\n`), buf]);
    try {
      this.writeAt(buf, this.size);
    } catch (e) {
      // A full disk must not end the supervisor (it would lose the exit code): drop, say so later.
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC' && (e as NodeJS.ErrnoException).code !== 'EDQUOT') throw e;
      this.dropped += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      return;
    }
    this.dropped = 0;
    this.size += buf.length;
    if (this.maxBytes > 0 && this.size > this.maxBytes) this.compact();
  }

  /** Bytes cut so far. */
  get bytesCut(): number {
    return this.cut;
  }

  private compact(): void {
    const half = Math.floor(this.maxBytes / 2);
    if (this.headEnd < 0) {
      // The head ends at a line end near the half, if there is one.
      this.headEnd = this.lineEndBefore(half, 4096) ?? half;
      this.tailStart = this.headEnd;
    }
    let keepFrom = this.size - Math.floor(half / 2);
    keepFrom = this.lineStartAfter(keepFrom, 4096) ?? keepFrom;
    this.cut += keepFrom - this.tailStart;
    const marker = Buffer.from(`\n[orchestrator] ${new Date().toISOString()} … ${this.cut} bytes cut here (the log is kept to ${this.maxBytes} bytes, head and tail: worktreeOrchestrator.agentLogMaxMiB) …\n`);
    // The marker and the tail both move down (the kept part starts well after the marker ends):
    // copying front to back in chunks never overwrites what is still to be read.
    const to = this.headEnd + marker.length;
    const chunk = Buffer.allocUnsafe(Math.min(MiB, this.size - keepFrom) || 1);
    for (let from = keepFrom, dest = to; from < this.size; ) {
      const n = fs.readSync(this.fd, chunk, 0, Math.min(chunk.length, this.size - from), from);
      if (n <= 0) break;
      this.writeAt(chunk.subarray(0, n), dest);
      from += n;
      dest += n;
    }
    this.writeAt(marker, this.headEnd);
    this.tailStart = to;
    this.size = to + (this.size - keepFrom);
    fs.ftruncateSync(this.fd, this.size);
  }

  private writeAt(buf: Buffer, position: number): void {
    // Uncapped, the file may be shared with the agent (opened to append): no positions then.
    for (let off = 0; off < buf.length; ) off += fs.writeSync(this.fd, buf, off, buf.length - off, this.maxBytes ? position + off : null);
  }

  /** The offset just after the last '\n' in (at - window, at], or undefined. */
  private lineEndBefore(at: number, window: number): number | undefined {
    const start = Math.max(0, at - window);
    const buf = Buffer.alloc(at - start);
    const n = fs.readSync(this.fd, buf, 0, buf.length, start);
    const i = buf.subarray(0, n).lastIndexOf(0x0a);
    return i < 0 ? undefined : start + i + 1;
  }

  /** The offset just after the first '\n' in [at, at + window), or undefined. */
  private lineStartAfter(at: number, window: number): number | undefined {
    const buf = Buffer.alloc(Math.min(window, this.size - at));
    const n = fs.readSync(this.fd, buf, 0, buf.length, at);
    const i = buf.subarray(0, n).indexOf(0x0a);
    return i < 0 || at + i + 1 >= this.size ? undefined : at + i + 1;
  }
}
