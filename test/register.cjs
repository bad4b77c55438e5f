// Lets mocha load TypeScript: each .ts file is transpiled by esbuild (already a dependency)
// as CommonJS. ESM-only packages such as execa are then loaded by Node 24's own
// require(esm), untouched — tsx's CommonJS transform breaks on their "import"-only exports.
const fs = require('node:fs');
const { transformSync } = require('esbuild');

require.extensions['.ts'] = function (module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    loader: 'ts',
    format: 'cjs',
    target: 'node22',
    sourcemap: 'inline',
    sourcefile: filename,
  });
  module._compile(code, filename);
};
