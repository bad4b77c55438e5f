import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitForGo } from '../../src/core/agent/supervisor';

// A warm-pool take is about as quick as a supervisor's start, so the leader's 'go' often lands
// while the supervisor is just starting to wait for it. Landing between its first look and
// its watch, it was heard only by the 250 ms poll: the agent started a quarter second late
// (1 in 5 warm-pool spawns in the bench).
describe('waitForGo: the supervisor hears a go written while it starts to wait', () => {
  // The module object itself (an `import *` here is a read-only view of it).
  const nodeFs = require('node:fs') as { watch: typeof fs.watch };
  const realWatch = nodeFs.watch;
  afterEach(() => {
    nodeFs.watch = realWatch;
  });

  it('a go written after the first look, before the watch is set, is heard at once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-go-'));
    try {
      // The go lands in the window: after waitForGo looked (nothing there), before the watch starts.
      nodeFs.watch = ((...args: Parameters<typeof fs.watch>) => {
        fs.writeFileSync(path.join(dir, 'go'), '{}');
        return realWatch(...args);
      }) as typeof fs.watch;
      const started = performance.now();
      assert.equal(await waitForGo(dir, 5000), 'go');
      assert.ok(performance.now() - started < 150, `heard after ${(performance.now() - started).toFixed(0)} ms`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('still waits while there is no go, and says timeout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wto-go-'));
    try {
      assert.equal(await waitForGo(dir, 300), 'timeout');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
