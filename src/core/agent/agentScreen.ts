import type { SerializeAddon, Terminal } from './screenLibrary';

export const DEFAULT_COLS = 120;
export const DEFAULT_ROWS = 32;
const SCROLLBACK_LINES = 2000;

/**
 * What the agent prints before anyone attaches is kept for the screen up to this many
 * characters (UTF-16 units, as JavaScript counts them: 256 KiB of ASCII); past it, the screen is built.
 */
export const EARLY_OUTPUT_MAX_CHARS = 256 * 1024;

/**
 * The headless screen whoever attaches sees first. Built when the first client attaches, or
 * once the output kept for it passes EARLY_OUTPUT_MAX_CHARS: @xterm/headless takes ~15 ms
 * to load and build, which competed with the agent's own start on a two-core machine (the
 * agent's first line 35 -> 26 ms after its spawn; bench: poolsetup), and a run nobody
 * attaches to with little output never needs it. What came before is written into it first.
 */
export class AgentScreen {
  cols = DEFAULT_COLS;
  rows = DEFAULT_ROWS;
  private screen: Terminal | undefined;
  private serializer: SerializeAddon | undefined;
  /** Output until the screen is built; null once it is (or could not be). */
  private early: string[] | null = [];
  private earlyChars = 0;

  get built(): boolean {
    return this.early === null;
  }

  private build(): void {
    try {
      // require, not import(): its own bundle, loaded only now (screenLibrary.ts).
      const { Terminal, SerializeAddon } = require('./screenLibrary') as typeof import('./screenLibrary');
      const screen = new Terminal({ cols: this.cols, rows: this.rows, scrollback: SCROLLBACK_LINES, allowProposedApi: true });
      const serializer = new SerializeAddon();
      screen.loadAddon(serializer);
      for (const data of this.early ?? []) screen.write(data);
      this.screen = screen;
      this.serializer = serializer;
    } catch {
      // no screen: a client sees the live output only
    } finally {
      this.early = null;
    }
  }

  write(data: string): void {
    if (this.early) {
      this.early.push(data);
      this.earlyChars += data.length;
      if (this.earlyChars > EARLY_OUTPUT_MAX_CHARS) this.build();
    } else this.screen?.write(data);
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
    this.screen?.resize(cols, rows);
  }

  /** The screen and scrollback serialized once everything written so far is parsed. */
  serialize(done: (text: string) => void): void {
    if (this.early) this.build();
    const { screen, serializer } = this;
    if (!screen || !serializer) return done('');
    screen.write('', () => done(serializer.serialize({ scrollback: SCROLLBACK_LINES })));
  }
}
