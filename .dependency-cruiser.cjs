// The layer rules, checked by `npm run lint:deps` (part of `npm test`). See docs/ARCHITECTURE.md.
/** Folders that may start processes: git only through core/git, agents and the setup command only through core/agent. */
const PROCESS_STARTERS = '^src/core/(git|agent)/';

module.exports = {
  forbidden: [
    {
      name: 'core-without-vscode',
      comment: 'src/core is plain Node: the CLI, the supervisor and the tests run it without VS Code.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: ['^vscode$', '(^|/)node_modules/@types/vscode/'] },
    },
    {
      name: 'core-without-ui',
      comment: 'Data flows one way: the UI uses the core, never the reverse.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/ui/' },
    },
    {
      name: 'cli-without-ui',
      comment: 'The CLI runs in a terminal: nothing of the extension.',
      severity: 'error',
      from: { path: '^src/cli\\.ts$' },
      to: { path: ['^src/ui/', '^vscode$', '(^|/)node_modules/@types/vscode/'] },
    },
    {
      name: 'processes-only-from-their-owners',
      comment: 'Only core/git starts git; only core/agent starts agents and setup commands.',
      severity: 'error',
      from: { path: '^src/', pathNot: PROCESS_STARTERS },
      to: { path: ['^(child_process|node:child_process)$', '(^|/)node_modules/execa/', '^src/core/(git|agent)/loadExeca\\.ts$'] },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|test|bench)/' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
