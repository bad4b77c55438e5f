// Issue 16: what the pseudo-terminal costs in the package. The newest .vsix in the repository
// root (npm run package builds it; it carries @lydell/node-pty and one prebuilt package per
// platform), its total size and the share of node-pty's files, compressed as shipped.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zipEntries } from './activation';
import { NODE, ROOT } from './lib';

export interface VsixSize {
  file: string;
  bytes: number;
  /** Compressed bytes of every entry under node_modules/@lydell/ (node-pty and its platform packages). */
  ptyBytes: number;
  ptyPlatforms: string[];
  packagedNow: boolean;
}

const newestVsix = () =>
  fs
    .readdirSync(ROOT)
    .filter((f) => f.endsWith('.vsix'))
    .map((f) => path.join(ROOT, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];

export function measureVsix(log: (l: string) => void): VsixSize {
  let file = newestVsix();
  const packagedNow = !file;
  if (!file) {
    log('no .vsix yet: npm run package');
    execFileSync(NODE, [path.join(ROOT, 'scripts', 'package-vsix.mjs')], { cwd: ROOT, stdio: 'ignore', timeout: 600_000 });
    file = newestVsix();
    if (!file) throw new Error('scripts/package-vsix.mjs made no .vsix');
  }
  const pty = zipEntries(file).filter((e) => e.name.startsWith('extension/node_modules/@lydell/'));
  const platforms = new Set(pty.map((e) => /^extension\/node_modules\/@lydell\/(node-pty-[^/]+)\//.exec(e.name)?.[1]).filter((x): x is string => !!x));
  return { file: path.basename(file), bytes: fs.statSync(file).size, ptyBytes: pty.reduce((a, e) => a + e.compressed, 0), ptyPlatforms: [...platforms].sort(), packagedNow };
}
