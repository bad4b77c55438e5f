import * as assert from 'node:assert/strict';
import { AgentScreen } from '../../src/core/agent/agentScreen';

// The supervisor starts the agent before the headless screen is built (it takes ~15 ms to
// load): nothing the agent prints meanwhile may be missing from what an attaching client sees.
describe('AgentScreen: the screen built after the agent started', () => {
  const serialized = (screen: AgentScreen) => new Promise<string>((resolve) => screen.serialize(resolve));

  it('keeps what came before it was built, and a client asking meanwhile waits for it', async () => {
    const screen = new AgentScreen();
    screen.write('early line\r\n');
    screen.resize(90, 20); // a client's size, before the screen exists
    const asked = serialized(screen); // synchronously: the screen is not built yet
    screen.write('\x1b[1mbold\x1b[0m then plain');
    const text = await asked;
    assert.match(text, /early line/);
    assert.match(text, /bold/);
    assert.match(text, /then plain/);
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
