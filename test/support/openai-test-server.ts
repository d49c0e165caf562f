/**
 * A loopback HTTP server that speaks the OpenAI Chat Completions protocol,
 * for integration tests and the benchmark. It records every chat request
 * (without keeping image bytes), answers through a pluggable {@link Handler}
 * and has knobs for latency, capacity, rate limiting and connection faults.
 *
 * Only `node:http`: the point is to exercise the real client stack (undici,
 * sockets, keep-alive) against a server whose behaviour the test controls.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { AttemptCounter, listenOnLoopback, readBody, RequestLedger, sleep, waitForAbort } from './model-test-server-kit';

/** Token counts as a chat completion reports them (total is derived). */
export interface TestUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
}

/** One chat request as the server received it. */
export interface RecordedRequest {
  /** Arrival order since start or the last {@link OpenAITestServer.reset}, from 0. */
  readonly index: number;
  /** `response_format.json_schema.name`, else the `prompts` option's match, else undefined. */
  readonly field: string | undefined;
  /** The first text part of the first user message. */
  readonly prompt: string;
  /** The parsed JSON body, with every data URI replaced by `"<image>"` so memory stays small. */
  readonly body: any;
  readonly headers: IncomingHttpHeaders;
  /** Length of the base64 part of the first image's data URI (0 if none). */
  readonly imageBase64Length: number;
  /** sha256 hex of that base64 text ('' if none): equal across fields means one shared image. */
  readonly imageSha256: string;
  /** The `content-length` header equals the bytes actually received (false when absent). */
  readonly contentLengthOk: boolean;
  /** 1 for the first request for this field since reset, 2 for the next, … */
  readonly attempt: number;
  /** Number of messages (3+ means a re-ask). */
  readonly turns: number;
  /** `performance.now()` when the body had been read. */
  readonly receivedAt: number;
  /** Answered 429 by the capacity limit (`overCapacity: 'reject'`); the handler never saw it. */
  readonly rejectedByCapacity: boolean;
}

/**
 * How the server fills `choices[0].logprobs` when a request asks for them
 * (`logprobs: true`): the reply is cut into plausible tokens
 * ({@link tokenise}), each with its UTF-8 `bytes` and a log-probability.
 */
export interface LogprobsKnob {
  /** The log-probability of every token that `tokens` does not name. @default -0.0005 */
  readonly base?: number;
  /** Token text → log-probability, for every token containing that text (the lowest of those that match applies). */
  readonly tokens?: Readonly<Record<string, number>>;
  /** Send `logprobs: null` although they were asked for (a server that does not support them). */
  readonly omit?: boolean;
  /** Cut each non-ASCII character into two byte tokens, spelled the way vLLM does (`bytes:\xe4\xb9`). */
  readonly splitMultibyte?: boolean;
}

/** What the server does with one request. `latencyMs` delays it (default: the server's latency). */
export type Behaviour =
  /** A well-formed completion whose content is `JSON.stringify({ value })`. `usage: null` omits usage. */
  | { kind: 'answer'; value: unknown; latencyMs?: number; usage?: TestUsage | null; logprobs?: LogprobsKnob }
  /** Raw assistant content: malformed JSON, prose, fences, or a cut-off answer with `finishReason: 'length'`. */
  | { kind: 'text'; content: string; latencyMs?: number; finishReason?: string; usage?: TestUsage | null; logprobs?: LogprobsKnob }
  /**
   * Any status. `body` defaults to an OpenAI error object; a string body is sent as text/plain,
   * anything else as JSON (a 200 with a broken completion is possible too).
   */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown; latencyMs?: number }
  /** Reset the connection (TCP RST) without a response. */
  | { kind: 'reset'; latencyMs?: number }
  /**
   * Send the status (default 200) and then body bytes (JSON whitespace) for
   * as long as the client reads them: a body that never ends. Only the
   * client closing the connection, or `close()`, stops it.
   */
  | { kind: 'endless'; status?: number; latencyMs?: number }
  /** Never answer; only the client's timeout, its disconnect or `close()` ends it. */
  | { kind: 'hang' };

/** Decides the behaviour for one request; may be async. */
export type Handler = (req: RecordedRequest) => Behaviour | Promise<Behaviour>;

export interface TestServerOptions {
  /** Default: answer `{ value: null }`. */
  handler?: Handler;
  /** Prompt text → field name, for requests without `response_format.json_schema`. */
  prompts?: Record<string, string>;
  /** Requests served at once; default unlimited. */
  capacity?: number;
  /** Beyond capacity: wait in FIFO order (default) or answer 429 `rate_limit_exceeded`. */
  overCapacity?: 'queue' | 'reject';
  /** Sent with capacity 429s as `retry-after-ms` and as `Retry-After` seconds rounded up. Default 100. */
  retryAfterMs?: number;
  /** Latency for behaviours that have no `latencyMs`. Default 0. */
  defaultLatencyMs?: number;
  /** Uniform ±jitter added to the default latency (never below 0). */
  jitterMs?: number;
  /** When set, requests without `authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  /** Log-probabilities for behaviours that have no `logprobs` of their own. Default: every token -0.0005. */
  logprobs?: LogprobsKnob;
}

/** A running test server. Counters cover chat requests only (POST /v1/chat/completions). */
export interface OpenAITestServer {
  /** `http://127.0.0.1:PORT/v1` */
  readonly baseUrl: string;
  /** Parsed, authorised chat requests in arrival order (capacity-rejected ones included). */
  readonly requests: readonly RecordedRequest[];
  /** Requests being served now (holding a capacity slot). */
  readonly inFlight: number;
  /** Requests waiting for a capacity slot now. */
  readonly queued: number;
  /** Requests received (headers arrived) and not yet answered now, queued ones included. */
  readonly pending: number;
  /** High-water mark of {@link pending}: "the server saw N requests in flight at once". */
  readonly maxInFlight: number;
  /** High-water mark of {@link inFlight}: never above `capacity`. */
  readonly maxServing: number;
  /** 429s sent because of capacity. */
  readonly rejected: number;
  setHandler(h: Handler): void;
  /** Clears requests, attempt numbers and counters (high-water marks restart from the current values). */
  reset(): void;
  /** Ends hanging and waiting requests, cancels latency timers, closes every socket. */
  close(): Promise<void>;
}

const DEFAULT_USAGE: TestUsage = { prompt_tokens: 100, completion_tokens: 10 };

/** An OpenAI-style error body, so clients can classify by `type`/`code` as with the real API. */
export function openAIError(message: string, type: string, code: string | null = null): unknown {
  return { error: { message, type, param: null, code } };
}

/**
 * A handler answering by field name from `values`; fields not in the map get `null`.
 *
 * @example
 * ```ts
 * const server = await startOpenAITestServer({ handler: answerByField({ product_name: 'Acme' }, { latencyMs: 50 }) });
 * ```
 */
export function answerByField(
  values: Record<string, unknown>,
  opts: { latencyMs?: number; usage?: TestUsage | null } = {},
): Handler {
  return (req) => ({
    kind: 'answer',
    value: req.field !== undefined && Object.hasOwn(values, req.field) ? values[req.field] : null,
    ...opts,
  });
}

/** Starts a server on 127.0.0.1 with a free port. */
export async function startOpenAITestServer(options: TestServerOptions = {}): Promise<OpenAITestServer> {
  let handler: Handler = options.handler ?? (() => ({ kind: 'answer', value: null }));
  const capacity = options.capacity ?? Infinity;
  const retryAfterMs = options.retryAfterMs ?? 100;
  // One controller per live chat request; close() aborts them all, which cancels
  // latency timers, queue waits and hangs. (A Set rather than AbortSignal.any
  // on a server-wide signal, so nothing accumulates over a long benchmark.)
  const ledger = new RequestLedger();
  let closed: Promise<void> | undefined;

  let requests: RecordedRequest[] = [];
  const attempts = new AttemptCounter();
  let serving = 0;
  let maxServing = 0;
  let rejected = 0;
  let completionId = 0;
  // FIFO of requests waiting for a slot; a released slot is handed over directly.
  const waiters: Array<() => void> = [];

  function acquire(signal: AbortSignal): Promise<boolean> {
    if (serving < capacity && waiters.length === 0) {
      serving++;
      maxServing = Math.max(maxServing, serving);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        signal.removeEventListener('abort', cancel);
        resolve(true);
      };
      const cancel = (): void => {
        const i = waiters.indexOf(grant);
        if (i >= 0) waiters.splice(i, 1);
        resolve(false);
      };
      if (signal.aborted) {
        resolve(false);
        return;
      }
      waiters.push(grant);
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  function release(): void {
    const next = waiters.shift();
    // The slot passes to the next waiter without dropping `serving`, so FIFO order holds.
    if (next) next();
    else serving--;
  }

  function latencyOf(b: Behaviour): number {
    if ('latencyMs' in b && b.latencyMs !== undefined) return b.latencyMs;
    const jitter = options.jitterMs ? (Math.random() * 2 - 1) * options.jitterMs : 0;
    return Math.max(0, (options.defaultLatencyMs ?? 0) + jitter);
  }

  async function handleChat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A model's latency runs from the request's arrival, like a real server's:
    // the rig's own reading and parsing of the body must not add to it.
    const arrivedAt = performance.now();
    const signal = ledger.track(res);

    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch {
      return; // the client disconnected mid-body
    }
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendJson(res, 401, openAIError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
    }
    let body: any;
    try {
      body = JSON.parse(raw.toString('utf8'));
      if (typeof body !== 'object' || body === null || !Array.isArray(body.messages)) throw new Error('no messages');
    } catch (err) {
      const message = `We could not parse the JSON body of your request: ${(err as Error).message}`;
      return sendJson(res, 400, openAIError(message, 'invalid_request_error'));
    }

    const image = stripImages(body);
    const prompt = firstUserText(body.messages);
    const schemaName = body.response_format?.json_schema?.name;
    const field = typeof schemaName === 'string' ? schemaName : options.prompts?.[prompt];
    // Requests without a known field still get attempt numbers, keyed by their prompt.
    const key = field ?? `prompt:${prompt}`;
    const attempt = attempts.next(key);
    const overCapacity = options.overCapacity === 'reject' && (serving >= capacity || waiters.length > 0);
    const declared = req.headers['content-length'];
    const record: RecordedRequest = {
      index: requests.length,
      field,
      prompt,
      body,
      headers: req.headers,
      imageBase64Length: image.length,
      imageSha256: image.sha256,
      contentLengthOk: declared !== undefined && Number(declared) === raw.length,
      attempt,
      turns: body.messages.length,
      receivedAt: performance.now(),
      rejectedByCapacity: overCapacity,
    };
    requests.push(record);

    if (overCapacity) {
      rejected++;
      return sendJson(
        res,
        429,
        openAIError('Rate limit reached for requests (test server capacity).', 'rate_limit_exceeded', 'rate_limit_exceeded'),
        { 'retry-after-ms': String(retryAfterMs), 'retry-after': String(Math.ceil(retryAfterMs / 1000)) },
      );
    }
    const queued = !(serving < capacity && waiters.length === 0);
    if (!(await acquire(signal))) return;
    try {
      // A request that waited for capacity starts its latency when served.
      await serve(record, res, signal, queued ? performance.now() : arrivedAt);
    } finally {
      release();
    }
  }

  async function serve(record: RecordedRequest, res: ServerResponse, signal: AbortSignal, since: number): Promise<void> {
    let b: Behaviour;
    try {
      b = await handler(record);
    } catch (err) {
      return sendJson(res, 500, openAIError(`test server handler failed: ${String(err)}`, 'server_error'));
    }
    if (b.kind === 'hang') return waitForAbort(signal);
    if (!(await sleep(Math.max(0, latencyOf(b) - (performance.now() - since)), signal))) return;
    switch (b.kind) {
      case 'reset':
        // RST rather than FIN, so the client sees ECONNRESET like a crashed proxy would cause.
        res.socket?.resetAndDestroy();
        return;
      case 'endless':
        return sendEndless(res, b.status ?? 200, signal);
      case 'status': {
        const body = b.body ?? openAIError(`test server status ${b.status}`, errorTypeFor(b.status));
        return typeof body === 'string'
          ? send(res, b.status, body, { 'content-type': 'text/plain; charset=utf-8', ...b.headers })
          : sendJson(res, b.status, body, b.headers);
      }
      case 'answer':
      case 'text': {
        const content = b.kind === 'answer' ? JSON.stringify({ value: b.value }) : b.content;
        const finishReason = b.kind === 'text' ? (b.finishReason ?? 'stop') : 'stop';
        const usage = b.usage === undefined ? DEFAULT_USAGE : b.usage;
        const knob = b.logprobs ?? options.logprobs ?? {};
        const logprobs = record.body.logprobs === true && !knob.omit ? { content: tokenLogprobs(content, knob) } : null;
        return sendJson(res, 200, {
          id: `chatcmpl-test-${++completionId}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: typeof record.body.model === 'string' ? record.body.model : 'test-model',
          choices: [{ index: 0, message: { role: 'assistant', content }, logprobs, finish_reason: finishReason }],
          ...(usage === null
            ? {}
            : { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }),
        });
      }
    }
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      handleChat(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, openAIError(`test server failed: ${String(err)}`, 'server_error'));
        else res.destroy();
      });
      return;
    }
    req.resume(); // drain so the keep-alive connection stays usable
    sendJson(res, 404, openAIError(`Unknown request URL: ${req.method} ${req.url}`, 'invalid_request_error'));
  });

  const port = await listenOnLoopback(server);

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    get requests() { return requests; },
    get inFlight() { return serving; },
    get queued() { return waiters.length; },
    get pending() { return ledger.pending; },
    get maxInFlight() { return ledger.maxInFlight; },
    get maxServing() { return maxServing; },
    get rejected() { return rejected; },
    setHandler(h) { handler = h; },
    reset() {
      requests = [];
      attempts.reset();
      rejected = 0;
      ledger.resetHighWater();
      maxServing = serving;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        ledger.abortAll();
        server.close(() => resolve());
        // server.close() alone waits for keep-alive and hanging sockets; end them now.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/**
 * Cuts text into tokens the way a BPE tokenizer roughly does: runs of JSON
 * punctuation (`{"`, `":"`, `"]}`), words with their leading space, digits
 * in threes, and each other character alone. Joined, they are the text.
 */
export function tokenise(text: string): string[] {
  return text.match(/[{}[\]":,]+|\s?[A-Za-z]+|\d{1,3}|\s+|./gsu) ?? [];
}

const encoder = new TextEncoder();

/** OpenAI's `logprobs.content` for `text`: every token with its bytes and the knob's log-probability. */
export function tokenLogprobs(
  text: string,
  knob: LogprobsKnob = {},
): Array<{ token: string; logprob: number; bytes: number[]; top_logprobs: [] }> {
  const base = knob.base ?? -0.0005;
  const named = Object.entries(knob.tokens ?? {});
  const out: Array<{ token: string; logprob: number; bytes: number[]; top_logprobs: [] }> = [];
  for (const token of tokenise(text)) {
    const matches = named.filter(([t]) => token.includes(t)).map(([, lp]) => lp);
    const logprob = matches.length > 0 ? Math.min(...matches) : base;
    const bytes = [...encoder.encode(token)];
    if (knob.splitMultibyte && bytes.length > 1 && [...token].length === 1) {
      const cut = Math.ceil(bytes.length / 2);
      for (const part of [bytes.slice(0, cut), bytes.slice(cut)]) {
        const spelled = `bytes:${part.map((x) => `\\x${x.toString(16).padStart(2, '0')}`).join('')}`;
        out.push({ token: spelled, logprob, bytes: part, top_logprobs: [] });
      }
      continue;
    }
    out.push({ token, logprob, bytes, top_logprobs: [] });
  }
  return out;
}


/** Replaces data URIs in `body` with "<image>" and returns the first one's base64 length and hash. */
function stripImages(body: any): { length: number; sha256: string } {
  let first: { length: number; sha256: string } | undefined;
  for (const message of body.messages) {
    if (!Array.isArray(message?.content)) continue;
    for (const part of message.content) {
      const url = part?.image_url?.url;
      if (typeof url !== 'string' || !url.startsWith('data:')) continue;
      const base64 = url.slice(url.indexOf(',') + 1);
      first ??= { length: base64.length, sha256: createHash('sha256').update(base64).digest('hex') };
      part.image_url.url = '<image>';
    }
  }
  return first ?? { length: 0, sha256: '' };
}

function firstUserText(messages: any[]): string {
  const user = messages.find((m) => m?.role === 'user');
  if (typeof user?.content === 'string') return user.content;
  if (!Array.isArray(user?.content)) return '';
  const part = user.content.find((p: any) => p?.type === 'text' && typeof p.text === 'string');
  return part?.text ?? '';
}

function errorTypeFor(status: number): string {
  if (status === 429) return 'rate_limit_exceeded';
  if (status === 401 || status === 403) return 'authentication_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return; // the client is gone; nothing to answer
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const FILLER = Buffer.alloc(64 * 1024, 0x20);

/** Writes filler with backpressure until `signal` aborts (the client went away, or close()). */
async function sendEndless(res: ServerResponse, status: number, signal: AbortSignal): Promise<void> {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  while (!signal.aborted && !res.destroyed) {
    if (res.write(FILLER)) continue;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      res.once('drain', done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
