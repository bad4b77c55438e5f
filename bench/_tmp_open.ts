import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '/work/h-open/src/core/db/store';
import { populate } from '/work/h-open/bench/treeScale';
for (const n of [100, 10000, 100000]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ot-'));
  const s = Store.open(dir); populate(s, '/repo', n); s.close();
  const times: number[] = [];
  for (let i = 0; i < 31; i++) { const t = performance.now(); const st = Store.open(dir); times.push(performance.now() - t); st.close(); }
  times.sort((a, b) => a - b);
  const first = Store.open(dir); console.log(n, 'median', times[15].toFixed(2), 'ms', fs.statSync(path.join(dir, 'state.db')).size, first.openCheck); first.close();
  fs.rmSync(dir, { recursive: true });
}
