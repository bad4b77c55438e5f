// 5b. Activation in a real extension host: code-server (VS Code 1.139) started fresh for
// each sample on a new git repository, the extension installed from the VSIX, and VS Code's
// own "Startup Performance" report read by test/vscode/suite/activation.test.ts. The
// baseline is the built-in git extension (vscode.git) in the same window: it activates at
// the same moment, for the same reason (a git repository), so the ratio is machine-neutral.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { NODE, ROOT, median, rmrf, tempDir } from './lib';

const execFileP = promisify(execFile);

interface Row {
  loadCode: number;
  callActivate: number;
  finishActivate: number;
}

export interface HostActivationResult {
  samples: number;
  ours: Row;
  git?: Row;
  /** agentsTree.getChildren() right after activation, in the host. */
  treeMs: number;
  /** What activate() deferred, as the extension timed it when it ran: loading the body and opening the database, then joining the election. */
  bodyMs?: number;
  startMs?: number;
  extensions: number;
}

const medianRow = (rows: Row[]): Row => ({
  loadCode: median(rows.map((r) => r.loadCode)),
  callActivate: median(rows.map((r) => r.callActivate)),
  finishActivate: median(rows.map((r) => r.finishActivate)),
});

/** Provisions code-server and packages the VSIX as `npm run test:vscode` does, then samples. */
export async function measureHostActivation(samples: number, log: (l: string) => void = () => undefined): Promise<HostActivationResult> {
  const run = (script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    execFileP(NODE, [path.join(ROOT, script), ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 }).catch(
      (e: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`${script} failed: ${(e.stderr || e.stdout || e.message).trim().split('\n').slice(-5).join(' | ')}`);
      },
    );
  await run('scripts/provision-code-server.mjs');
  await run('scripts/package-vsix.mjs');
  const dir = tempDir('host-activation');
  const out = path.join(dir, 'activation.jsonl');
  try {
    for (let i = 0; i < samples; i++) {
      await run('test/vscode/run-code-server.mjs', ['--skip-package', '--grep', 'startup performance report'], { WTO_BENCH_ACTIVATION_OUT: out });
      log(`  activation: host sample ${i + 1}/${samples}`);
    }
    const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ours: Row; git?: Row; treeMs: number; extensions: number; deferred?: { bodyMs?: number; startMs?: number } });
    const deferred = (k: 'bodyMs' | 'startMs') => (lines.every((l) => l.deferred?.[k] !== undefined) ? median(lines.map((l) => l.deferred![k]!)) : undefined);
    if (lines.length !== samples) throw new Error(`expected ${samples} samples, the host wrote ${lines.length}`);
    const gits = lines.map((l) => l.git).filter((g): g is Row => !!g);
    return {
      samples,
      ours: medianRow(lines.map((l) => l.ours)),
      git: gits.length === lines.length ? medianRow(gits) : undefined,
      treeMs: median(lines.map((l) => l.treeMs)),
      bodyMs: deferred('bodyMs'),
      startMs: deferred('startMs'),
      extensions: median(lines.map((l) => l.extensions)),
    };
  } finally {
    rmrf(dir);
  }
}
