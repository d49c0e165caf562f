/**
 * Memoising a cold start. Kept apart from the runtime wiring so a handler
 * that needs only this (the Step Functions starter) does not bundle the
 * model client.
 */

/**
 * Memoises an async factory for the life of the execution environment. A
 * failed start is not cached, so the next invocation tries again (a secret
 * filled in after deploy starts working without a redeploy).
 */
export function once<T>(factory: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= factory().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
