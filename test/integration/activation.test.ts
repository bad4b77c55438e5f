import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeSandbox, ROOT } from '../support/sandbox';

// activate() returns before it loads the extension's body (dist/extensionMain.js), opens
// the database or starts a git process: a window's start-up waits for none of them (VS
// Code times loading the entry and the call). They happen right after, and the views, the
// status bar, the commands and the election work as before.
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
      ) as { error?: string; during: { spawned: string[]; dbOpened: boolean; returnedApi: boolean; bodyLoaded: boolean }; after: { spawned: number; dbOpened: boolean; roots: number; isLeader: boolean; status: string } };
      assert.equal(out.error, undefined, out.error);
      assert.deepEqual(out.during, { spawned: [], dbOpened: false, returnedApi: true, bodyLoaded: false });
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

  it('a damaged database: the window offers only the reason, as before the split, and the file is kept aside', () => {
    const s = makeSandbox();
    const state = path.join(s.dir, 'damaged-state');
    try {
      fs.mkdirSync(state);
      fs.writeFileSync(path.join(state, 'state.db'), 'not a database, but long enough to look like a file of one'.repeat(20));
      const out = JSON.parse(
        execFileSync(process.execPath, [path.join(ROOT, 'test', 'fixtures', 'activationProbe.cjs'), path.join(ROOT, 'dist', 'extension.js'), s.repo, state, 'damaged'], { encoding: 'utf8', timeout: 30_000 })
          .trim()
          .split('\n')
          .pop()!,
      ) as { error?: string; damaged: { apiError: string | null; commands: number; stateFiles: string[] } };
      assert.equal(out.error, undefined, out.error);
      assert.match(out.damaged.apiError ?? '', /unavailable/);
      const contributed = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { contributes: { commands: unknown[] } }).contributes.commands.length;
      assert.equal(out.damaged.commands, contributed, 'every contributed command answers with the reason');
      assert.ok(out.damaged.stateFiles.some((f) => f !== 'state.db' && f.startsWith('state.db')), `kept aside: ${out.damaged.stateFiles}`);
    } finally {
      s.cleanup();
    }
  });

  it('a command run before the deferred load loads the body and runs as registered there', () => {
    const s = makeSandbox();
    try {
      const out = JSON.parse(
        execFileSync(process.execPath, [path.join(ROOT, 'test', 'fixtures', 'activationProbe.cjs'), path.join(ROOT, 'dist', 'extension.js'), s.repo, path.join(s.dir, 'fresh-state'), 'command-first'], { encoding: 'utf8', timeout: 30_000 })
          .trim()
          .split('\n')
          .pop()!,
      ) as { error?: string; commandFirst: { bodyLoaded: boolean; replaced: boolean } };
      assert.equal(out.error, undefined, out.error);
      assert.deepEqual(out.commandFirst, { bodyLoaded: true, replaced: true });
    } finally {
      s.cleanup();
    }
  });
});
