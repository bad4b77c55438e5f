/**
 * Test hooks for the crash-at-every-step and frozen-leader suites, at named steps:
 * after-claim, after-worktree-add, after-spawn, before-status-update, before-kill,
 * before-merge, before-remove.
 *   WTO_CRASH_AT=<step>  SIGKILL to this process at that step, exactly as a crash would;
 *   WTO_PAUSE_AT=<step>  SIGSTOP to this process at that step (the first time only), as a
 *                        debugger, a suspended laptop or a starved VM freezes it; SIGCONT wakes it.
 */
let paused = false;

export function crashPoint(step: string): void {
  if (process.env.WTO_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
  if (process.env.WTO_PAUSE_AT === step && !paused) {
    paused = true;
    process.kill(process.pid, 'SIGSTOP');
  }
}
