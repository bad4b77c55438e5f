// Bundles the in-host mocha suite (test/vscode/suite/**/*.ts) to plain CommonJS in
// out/test/vscode/suite/, one file per entry so index.js can hand each *.test.js to mocha.
// `vscode` comes from the extension host; mocha and better-sqlite3 resolve from the
// project's node_modules at run time (the host runs on this same machine).
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const suiteSrc = join(here, 'suite');
export const suiteOut = resolve(here, '..', '..', 'out', 'test', 'vscode', 'suite');

export async function buildSuite() {
  rmSync(suiteOut, { recursive: true, force: true });
  const entryPoints = readdirSync(suiteSrc, { recursive: true })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(suiteSrc, f));
  await esbuild.build({
    entryPoints,
    outdir: suiteOut,
    outbase: suiteSrc,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    sourcemap: 'inline',
    external: ['vscode', 'mocha', 'better-sqlite3'],
    logLevel: 'warning',
  });
  return join(suiteOut, 'index.js');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await buildSuite());
}
