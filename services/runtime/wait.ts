/**
 * Bounded waits of the runtime: a promise or a deadline, whichever comes first, without a timer left
 * behind (so nothing keeps the process alive after the wait).
 */

/** Resolves when `promise` settles or after `ms`, whichever is first; true when the promise settled. */
export function waitAtMost(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}
