// Entry point VS Code loads inside the extension host (extensionTestsPath): runs every
// *.test.js next to it with mocha and reports back through run()'s promise (resolve = exit 0).
// Bundled to out/test/vscode/suite/ by test/vscode/build-suite.mjs (the host needs plain JS).
//
// The host's console does not reach the runner's terminal reliably, so the spec reporter's
// lines also go to $WTO_TEST_RESULTS (the runner streams that file) and a JSON summary to
// $WTO_TEST_RESULTS.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format, stripVTControlCharacters } from 'node:util';
import Mocha from 'mocha';

export async function run(): Promise<void> {
  const resultsFile = process.env.WTO_TEST_RESULTS;
  const write = (line: string) => {
    if (resultsFile) fs.appendFileSync(resultsFile, line + '\n');
  };
  const baseLog = Mocha.reporters.Base.consoleLog;
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => {
    // Plain text (mocha's ✔ comes pre-coloured when CI=true): it lands in a file and a CI log.
    write(stripVTControlCharacters(format(...args)));
    baseLog(...args);
  };

  const mocha = new Mocha({
    ui: 'bdd',
    color: false,
    timeout: Number(process.env.WTO_TEST_TIMEOUT ?? 60_000),
    ...(process.env.WTO_TEST_GREP ? { grep: process.env.WTO_TEST_GREP } : {}),
  });
  // In name order: the suites share one window, and later ones build on what earlier ones left.
  for (const f of (fs.readdirSync(__dirname, { recursive: true }) as string[]).sort()) {
    if (f.endsWith('.test.js')) mocha.addFile(path.join(__dirname, f));
  }

  const stats = await new Promise<Mocha.Stats | undefined>((resolve, reject) => {
    try {
      const runner = mocha.run(() => resolve(runner.stats));
    } catch (e) {
      reject(e);
    }
  }).catch((e: unknown) => {
    write(`suite failed to load: ${e instanceof Error ? e.stack : String(e)}`);
    throw e;
  });
  const summary = { passed: stats?.passes ?? 0, failed: stats?.failures ?? 0, pending: stats?.pending ?? 0 };
  if (resultsFile) fs.writeFileSync(resultsFile + '.json', JSON.stringify(summary));
  if (summary.failed > 0) throw new Error(`${summary.failed} test(s) failed`);
}
