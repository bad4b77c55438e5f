// 5. Activation and size: time to require dist/extension.js (the entry; the body,
// dist/extensionMain.js, loads after activate() returns) and to run activate(), and until
// the agents tree has its roots, each in a fresh process with a fake `vscode` module
// (fakeVscode.cjs): our code's share of activation, not a real extension host's. Sizes
// of the bundles, of a minified production bundle, and of the VSIX if one was packaged.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { EXTENSION, NODE, ROOT, generateRepo, median, rmrf, tempDir } from './lib';

const execFileP = promisify(execFile);

export interface ActivationResult {
  samples: number;
  require: number;
  activate: number;
  treeReady: number;
  /** Baseline: the same fresh process requiring only better-sqlite3 (the native part every load pays). */
  requireSqlite: number;
  error?: string;
  sizes: {
    /** The entry VS Code loads (dist/extension.js) and the body it loads after activate() (dist/extensionMain.js). */
    extension: number;
    extensionMain?: number;
    cli: number;
    extensionMin?: number;
    extensionMainMin?: number;
    cliMin?: number;
    vsix?: { file: string; bytes: number; olderThanDist: boolean; nativeBytes: number; nativeFiles: number };
  };
}

export async function measureActivation(samples: number): Promise<ActivationResult> {
  const dir = tempDir('activation');
  const repo = generateRepo(dir, 5, 3);
  const child = path.join(__dirname, 'activationChild.cjs');
  const runs: Array<{ require: number; activate: number; treeReady: number; error: string | null }> = [];
  const sqlite: number[] = [];
  const sqliteProbe = `const t=performance.now();require(${JSON.stringify(require.resolve('better-sqlite3'))});process.stdout.write(String(performance.now()-t))`;
  try {
    for (let i = 0; i < samples; i++) {
      const state = path.join(dir, `state-${i}`);
      const { stdout } = await execFileP(NODE, [child, EXTENSION, repo, state], { timeout: 60_000 });
      runs.push(JSON.parse(stdout.trim().split('\n').pop()!));
      sqlite.push(Number((await execFileP(NODE, ['-e', sqliteProbe])).stdout));
    }
  } finally {
    rmrf(dir);
  }
  const error = runs.find((r) => r.error)?.error ?? undefined;
  return {
    samples,
    require: median(runs.map((r) => r.require)),
    activate: median(runs.map((r) => r.activate)),
    treeReady: median(runs.map((r) => r.treeReady)),
    requireSqlite: median(sqlite),
    error: error ?? undefined,
    sizes: await sizes(),
  };
}

async function sizes(): Promise<ActivationResult['sizes']> {
  const size = (f: string) => fs.statSync(f).size;
  const mainFile = path.join(ROOT, 'dist', 'extensionMain.js');
  const out: ActivationResult['sizes'] = { extension: size(EXTENSION), extensionMain: fs.existsSync(mainFile) ? size(mainFile) : undefined, cli: size(path.join(ROOT, 'dist', 'cli.js')) };
  // What `npm run package` ships is minified: build that into a temp folder (dist/ is not touched).
  const tmp = tempDir('minify');
  try {
    const esbuild = require('esbuild') as typeof import('esbuild');
    const common = { bundle: true, platform: 'node' as const, target: 'node22', format: 'cjs' as const, minify: true, external: ['vscode', 'better-sqlite3'], logLevel: 'silent' as const };
    await esbuild.build({ ...common, entryPoints: [path.join(ROOT, 'src', 'extension.ts')], outfile: path.join(tmp, 'extension.js') });
    await esbuild.build({ ...common, entryPoints: [path.join(ROOT, 'src', 'cli.ts')], outfile: path.join(tmp, 'cli.js') });
    out.extensionMin = size(path.join(tmp, 'extension.js'));
    if (fs.existsSync(path.join(ROOT, 'src', 'extensionMain.ts'))) {
      await esbuild.build({ ...common, entryPoints: [path.join(ROOT, 'src', 'extensionMain.ts')], outfile: path.join(tmp, 'extensionMain.js') });
      out.extensionMainMin = size(path.join(tmp, 'extensionMain.js'));
    }
    out.cliMin = size(path.join(tmp, 'cli.js'));
  } catch {
    // sizes of dist/ are still reported
  } finally {
    rmrf(tmp);
  }
  const vsix = fs.readdirSync(ROOT).filter((f) => f.endsWith('.vsix')).map((f) => path.join(ROOT, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (vsix) {
    const native = zipEntries(vsix).filter((e) => e.name.endsWith('.node'));
    out.vsix = {
      file: path.basename(vsix),
      bytes: size(vsix),
      olderThanDist: fs.statSync(vsix).mtimeMs < fs.statSync(EXTENSION).mtimeMs,
      nativeBytes: native.reduce((a, e) => a + e.compressed, 0),
      nativeFiles: native.length,
    };
  }
  return out;
}

/** Entries of a zip file (a VSIX), from its central directory. */
export function zipEntries(file: string): Array<{ name: string; compressed: number }> {
  const buf = fs.readFileSync(file);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) return [];
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out: Array<{ name: string; compressed: number }> = [];
  for (let i = 0; i < count && p + 46 <= buf.length; i++) {
    const nameLen = buf.readUInt16LE(p + 28);
    out.push({ name: buf.toString('utf8', p + 46, p + 46 + nameLen), compressed: buf.readUInt32LE(p + 20) });
    p += 46 + nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return out;
}
