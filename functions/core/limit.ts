/**
 * A concurrency gate: at most `concurrency` tasks run at once, the rest wait
 * in arrival order. It lives inside one invocation, so it can never get
 * stuck across runs the way a shared counter can.
 */

export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * @throws {TypeError} when `concurrency` is not a whole number ≥ 1 (or Infinity).
 * @example
 * ```ts
 * const limit = createLimit(4);
 * const results = await Promise.all(fields.map((f) => limit(() => ask(f))));
 * ```
 */
export function createLimit(concurrency: number): Limit {
  if (!((Number.isInteger(concurrency) || concurrency === Infinity) && concurrency >= 1)) {
    throw new TypeError(`Expected concurrency to be a whole number ≥ 1, got ${concurrency}`);
  }
  const queue: Array<() => void> = [];
  let active = 0;

  const next = (): void => {
    if (active < concurrency) queue.shift()?.();
  };

  return <T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        active++;
        // A task that throws synchronously still releases its slot.
        Promise.resolve()
          .then(task)
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      });
      next();
    });
}
