import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeSandbox, ROOT } from './helpers';

// activate() returns before it opens the database or starts a git process: a window's
// start-up waits for neither (VS Code times the synchronous call). Both happen right after,
// and the views, the status bar and the election work as before.
describe('activation defers the database and git until activate() has returned', function () {
  this.timeout(60_000);

  it('opens no database and spawns nothing synchronously; leads and lists the repository right after', () => {
    const s = makeSandbox();
    const state = path.join(s.dir, 'fresh-state');
    try {
    const out = JSON.parse(
      execFileSync(process.execPath, [path.join(ROOT, 'test', 'fixtures', 'activationProbe.cjs'), path.join(ROOT, 'dist', 'extension.js'), s.repo, state], { encoding: 'utf8', timeout: 30_000 })
        .trim()
        .split('\n')
        .pop()!,
    ) as { error?: string; during: { spawned: string[]; dbOpened: boolean; returnedApi: boolean }; after: { spawned: number; dbOpened: boolean; roots: number; isLeader: boolean; status: string } };
    assert.equal(out.error, undefined, out.error);
    assert.deepEqual(out.during, { spawned: [], dbOpened: false, returnedApi: true });
    assert.equal(out.after.dbOpened, true);
    assert.ok(out.after.spawned > 0, 'the repository scan ran git after activate returned');
    assert.equal(out.after.isLeader, true);
    assert.match(out.after.status, /Orchestrator: leader · 0 running/);
    assert.equal(out.after.roots, 0);
    assert.ok(fs.existsSync(path.join(state, 'state.db')));
    } finally {
      s.cleanup();
    }
  });
});
