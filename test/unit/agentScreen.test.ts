import * as assert from 'node:assert/strict';
import { AgentScreen, EARLY_OUTPUT_MAX_CHARS } from '../../src/core/agent/agentScreen';

// The supervisor starts the agent before the headless screen is built (it takes ~15 ms to
// load): nothing the agent prints meanwhile may be missing from what an attaching client sees,
// nor be in its snapshot twice (the attach server sends what comes after the ask live).
describe('AgentScreen: the screen built after the agent started', () => {
  const serialized = (screen: AgentScreen) => new Promise<string>((resolve) => screen.serialize(resolve));

  it('keeps what came before it was built; what comes after a client asked is not in its snapshot (the client gets it live)', async () => {
    const screen = new AgentScreen();
    screen.write('early line\r\n');
    screen.write('\x1b[1mbold\x1b[0m then plain');
    screen.resize(90, 20); // a client's size, before the screen exists
    const asked = serialized(screen);
    screen.write('\r\nafter the client asked');
    const text = await asked;
    assert.match(text, /early line/);
    assert.match(text, /bold/);
    assert.match(text, /then plain/);
    assert.doesNotMatch(text, /after the client asked/);
    assert.equal(screen.cols, 90);
    assert.equal(screen.rows, 20);
  });

  it('after it was built, writes go straight in and the serialized screen follows them', async () => {
    const screen = new AgentScreen();
    await serialized(screen);
    screen.write('\x1b[2J\x1b[Hcleared and rewritten');
    const text = await serialized(screen);
    assert.match(text, /cleared and rewritten/);
  });
});

// Nobody attached, nothing is built: the supervisor's ~15 ms of xterm does not compete with the
// agent's own start (bench: poolsetup), and a run nobody attaches to never loads it. What the
// agent prints meanwhile is kept, up to a bound: past it, the screen is built and takes it.
describe('AgentScreen: built on demand', () => {
  const serialized = (screen: AgentScreen) => new Promise<string>((resolve) => screen.serialize(resolve));
  const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('is not built while nobody asks for it, and is when a client attaches', async () => {
    const screen = new AgentScreen();
    screen.write('before anyone attached\r\n');
    await later(50);
    assert.equal(screen.built, false);
    const text = await serialized(screen);
    assert.equal(screen.built, true);
    assert.match(text, /before anyone attached/);
  });

  it('is built once the output kept for it passes its bound, and keeps the newest output', async () => {
    const screen = new AgentScreen();
    const line = `${'x'.repeat(98)}\r\n`;
    for (let i = 0; i < (EARLY_OUTPUT_MAX_CHARS / line.length) * 2; i++) screen.write(line);
    screen.write('the last line\r\n');
    assert.equal(screen.built, true);
    assert.match(await serialized(screen), /the last line/);
  });
});
