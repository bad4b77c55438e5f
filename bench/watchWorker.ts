// The other process of the change-latency bench (see treeScale.ts): prints "runs <ms>" when
// its ChangeWatcher reports a run change, and "fs <ms>" for each raw fs.watch wake-up on
// the database files (the baseline: the earliest another process can know of a write).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChangeWatcher } from '../src/core/db/changeWatcher';
import { Store } from '../src/core/db/store';

const now = (): number => performance.timeOrigin + performance.now();
const store = Store.open(process.argv[2]);
const dbName = path.basename(store.file);
const raw = fs.watch(path.dirname(store.file), (_event, file) => {
  if (!file || String(file).startsWith(dbName)) process.stdout.write(`fs ${now()}\n`);
});
raw.on('error', () => undefined);
const watcher = new ChangeWatcher(store).start();
watcher.on('runs', () => process.stdout.write(`runs ${now()}\n`));
process.stdout.write('ready\n');
process.stdin.on('data', (d) => {
  if (String(d).includes('quit')) {
    watcher.dispose();
    raw.close();
    store.close();
    process.exit(0);
  }
});
