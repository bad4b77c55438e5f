/**
 * Test hook for the crash-at-every-step suites: `WTO_CRASH_AT=<step>` kills this process
 * with SIGKILL at that step, exactly as a crash would. Steps: after-claim,
 * after-worktree-add, after-spawn, before-status-update, before-kill, before-merge,
 * before-remove.
 */
export function crashPoint(step: string): void {
  if (process.env.WTO_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}
