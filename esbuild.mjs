// Bundles the extension and the CLI into dist/. `vscode` is provided by the host;
// better-sqlite3 and @lydell/node-pty stay external: they load prebuilt native binaries at run time.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'better-sqlite3', '@lydell/node-pty'],
  logLevel: 'warning',
};

// The supervisor's screen library stays a file of its own, loaded only when a screen is built
// (src/core/agent/screenLibrary.ts): required at run time from beside dist/supervisor.js.
const screenLibraryApart = {
  name: 'screen-library-apart',
  setup(build) {
    build.onResolve({ filter: /^\.\/screenLibrary$/ }, () => ({ path: './screenLibrary.js', external: true }));
  },
};

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' },
  // The extension's body, loaded by dist/extension.js once activate() has returned.
  { ...common, entryPoints: ['src/extensionMain.ts'], outfile: 'dist/extensionMain.js' },
  { ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // The parent of every agent: its own small bundle, since it starts on each spawn.
  { ...common, entryPoints: ['src/supervisor.ts'], outfile: 'dist/supervisor.js', plugins: [screenLibraryApart] },
  { ...common, entryPoints: ['src/core/agent/screenLibrary.ts'], outfile: 'dist/screenLibrary.js' },
];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
