/**
 * Waits until `done` holds, polling; fails naming what it waited for after `timeoutMs`. Fault tests
 * wait for the condition they need (a worker reached a stage, a file was written), never a fixed
 * time; the bound is generous, for a loaded 2-core machine.
 */
export async function waitUntil(
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = 'the condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs / 1000} s for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
