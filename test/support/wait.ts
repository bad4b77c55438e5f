// Waiting for a condition, for every tier and the benchmarks: polls rather than sleeps a
// guessed time, so a slow machine only makes a test slower, never wrong.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The probe's first truthy value, or undefined after `timeoutMs`. */
export async function poll<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, stepMs = 50): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) return undefined;
    await sleep(stepMs);
  }
}

/** Whether `cond` became true within `timeoutMs`. */
export async function waitUntil(cond: () => boolean, timeoutMs = 15_000, stepMs = 50): Promise<boolean> {
  return (await poll(cond, timeoutMs, stepMs)) === true;
}

/** Waits for `cond`; throws (naming `what`) when it does not hold within `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 15_000, stepMs = 50, what = 'condition'): Promise<void> {
  if (!(await waitUntil(cond, timeoutMs, stepMs))) throw new Error(`${what} not met within ${timeoutMs} ms`);
}
