import type { Terminal } from '@xterm/headless';
import type { SerializeAddon } from '@xterm/addon-serialize';

export const DEFAULT_COLS = 120;
export const DEFAULT_ROWS = 32;
const SCROLLBACK_LINES = 2000;

/**
 * The headless screen whoever attaches sees first. Built once the agent has started:
 * @xterm/headless takes ~15 ms to load and build, which the agent's start need not wait for
 * (bench: poolsetup). What the agent prints before then is written into it first.
 */
export class AgentScreen {
  cols = DEFAULT_COLS;
  rows = DEFAULT_ROWS;
  private screen: Terminal | undefined;
  private serializer: SerializeAddon | undefined;
  /** Output until the screen is built; null once it is (or could not be). */
  private early: string[] | null = [];
  private readonly whenBuilt: Array<() => void> = [];

  constructor() {
    setImmediate(() => this.build()); // after the supervisor has recorded the agent (agent.json)
  }

  private build(): void {
    try {
      // require, not import(): bundled, evaluated only now (see recordAgentExit).
      const { Terminal } = require('@xterm/headless') as typeof import('@xterm/headless');
      const { SerializeAddon } = require('@xterm/addon-serialize') as typeof import('@xterm/addon-serialize');
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
      for (const f of this.whenBuilt.splice(0)) f();
    }
  }

  write(data: string): void {
    if (this.screen) this.screen.write(data);
    else this.early?.push(data);
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
    this.screen?.resize(cols, rows);
  }

  /** The screen and scrollback serialized once everything written so far is parsed. */
  serialize(done: (text: string) => void): void {
    if (this.early) {
      this.whenBuilt.push(() => this.serialize(done));
      return;
    }
    const { screen, serializer } = this;
    if (!screen || !serializer) return done('');
    screen.write('', () => done(serializer.serialize({ scrollback: SCROLLBACK_LINES })));
  }
}
