/**
 * What the two model test servers (OpenAI-compatible over HTTP/1.1,
 * Bedrock's Converse over HTTP/2) share: the accounting of requests in
 * flight and their cancellation, attempt numbers per field, reading a body,
 * and waits that end when the client goes away.
 */
import type { Readable } from 'node:stream';

/**
 * Requests from their arrival until their response closes: how many are
 * in flight, the most at once, and a signal per request that aborts when
 * the client goes away or the server closes.
 */
export class RequestLedger {
  #pending = 0;
  #maxInFlight = 0;
  readonly #live = new Set<AbortController>();

  /** Requests in flight now (served or waiting). */
  get pending(): number {
    return this.#pending;
  }

  /** High-water mark of {@link pending}. */
  get maxInFlight(): number {
    return this.#maxInFlight;
  }

  /**
   * Counts one request; its signal aborts when `res` closes (the response
   * is done or the client went away: either way, stop waiting) or at
   * {@link abortAll}.
   */
  track(res: { once(event: 'close', listener: () => void): unknown }): AbortSignal {
    this.#pending++;
    this.#maxInFlight = Math.max(this.#maxInFlight, this.#pending);
    const done = new AbortController();
    this.#live.add(done);
    res.once('close', () => {
      this.#pending--;
      this.#live.delete(done);
      done.abort();
    });
    return done.signal;
  }

  /** Restarts the high-water mark from what is in flight now: live requests still count in the next phase. */
  resetHighWater(): void {
    this.#maxInFlight = this.#pending;
  }

  /** Ends every wait of every request in flight (the server is closing). */
  abortAll(): void {
    for (const c of this.#live) c.abort();
  }
}

/** Attempt numbers per key (a field, or a prompt): the first request for a key is attempt 1. */
export class AttemptCounter {
  #attempts = new Map<string, number>();

  next(key: string): number {
    const attempt = (this.#attempts.get(key) ?? 0) + 1;
    this.#attempts.set(key, attempt);
    return attempt;
  }

  reset(): void {
    this.#attempts = new Map();
  }
}

export async function readBody(req: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (clearing the timer). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Listens on 127.0.0.1 with a free port and returns the port. */
export async function listenOnLoopback(server: {
  once(event: 'error', listener: (err: Error) => void): unknown;
  listen(port: number, host: string, listener: () => void): unknown;
  address(): unknown;
}): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as { port: number }).port;
}
