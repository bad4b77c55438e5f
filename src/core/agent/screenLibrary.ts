// @xterm/headless and its serializer, bundled apart (dist/screenLibrary.js, see esbuild.mjs):
// the supervisor loads them only when it builds an agent's screen (agentScreen.ts), so its own
// start does not parse their 300 KB (supervisor start to its claim 39 -> 33 ms; bench: poolsetup).
export { Terminal } from '@xterm/headless';
export { SerializeAddon } from '@xterm/addon-serialize';
