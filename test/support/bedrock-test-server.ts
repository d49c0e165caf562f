/**
 * A loopback HTTP/2 server that speaks the Bedrock Runtime Converse REST
 * protocol (`POST /model/{modelId}/converse`, JSON), for integration tests
 * of the Bedrock adapter through the real AWS SDK: its HTTP/2 handler (the
 * SDK's default for Bedrock Runtime; over `http://` it speaks cleartext
 * HTTP/2), its SigV4 signing, its JSON serialisation and its error
 * deserialiser.
 *
 * Errors are sent the way the AWS restJson1 protocol sends them: a status,
 * an `x-amzn-errortype` header (`Name:namespace-url`, which the SDK cuts at
 * the colon) and a `{"message": …}` body, so the SDK raises its own
 * exception classes (`ThrottlingException`, …) exactly as against AWS.
 *
 * Like the OpenAI test server it records every request (image bytes
 * replaced by a hash), answers through a pluggable handler and has knobs for
 * latency, capacity and faults. It also imitates prompt caching: a request
 * with a `cachePoint` writes the prefix before it to a cache the first time
 * and reads it afterwards, and says so in `usage`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants as h2, createServer } from 'node:http2';
import type {
  Http2ServerRequest as IncomingMessage,
  Http2ServerResponse as ServerResponse,
  Http2Session,
  IncomingHttpHeaders,
} from 'node:http2';
import { AttemptCounter, listenOnLoopback, readBody, RequestLedger, sleep, waitForAbort } from './model-test-server-kit';

/** The exceptions of Bedrock Runtime's Converse operation. */
export type ConverseErrorType =
  | 'ThrottlingException'
  | 'ServiceUnavailableException'
  | 'ModelTimeoutException'
  | 'ModelNotReadyException'
  | 'ModelErrorException'
  | 'InternalServerException'
  | 'AccessDeniedException'
  | 'ValidationException'
  | 'ResourceNotFoundException'
  | 'ServiceQuotaExceededException';

/** The status Bedrock sends each exception with. */
export const ERROR_STATUS: Readonly<Record<ConverseErrorType, number>> = {
  ThrottlingException: 429,
  ServiceUnavailableException: 503,
  ModelTimeoutException: 408,
  ModelNotReadyException: 429,
  ModelErrorException: 424,
  InternalServerException: 500,
  AccessDeniedException: 403,
  ValidationException: 400,
  ResourceNotFoundException: 404,
  ServiceQuotaExceededException: 400,
};

const ERROR_MESSAGE: Readonly<Record<ConverseErrorType, string>> = {
  ThrottlingException: 'Too many requests, please wait before trying again.',
  ServiceUnavailableException: 'Service is temporarily unavailable. Please try again later.',
  ModelTimeoutException: 'Model has timed out in processing the request. Try your request again.',
  ModelNotReadyException: 'Model is not ready to serve inference requests.',
  ModelErrorException: 'The model returned an error.',
  InternalServerException: 'The server encountered an internal error.',
  AccessDeniedException: "You don't have access to the model with the specified model ID.",
  ValidationException: 'Malformed input request, please reformat your input and try again.',
  ResourceNotFoundException: 'The provided model identifier is invalid.',
  ServiceQuotaExceededException: 'Your request exceeds the service quota for your account.',
};

/** Token counts as Converse reports them (`totalTokens` is derived). */
export interface ConverseUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadInputTokens?: number;
  readonly cacheWriteInputTokens?: number;
}

/** One Converse request as the server received it. */
export interface RecordedConverse {
  /** Arrival order since start or the last {@link BedrockTestServer.reset}, from 0. */
  readonly index: number;
  /** The model id from the path, URL-decoded (an id, a profile id or an ARN). */
  readonly modelId: string;
  /** The `prompts` option's match for {@link prompt}, else undefined. */
  readonly field: string | undefined;
  /** The last text block of the first user message: the field's question. */
  readonly prompt: string;
  /** The kinds of the first user message's blocks in order, e.g. `['image', 'cachePoint', 'text']`. */
  readonly layout: readonly string[];
  /** The texts of the `system` blocks. */
  readonly system: readonly string[];
  /** The first image: its format and the sha256 hex of its raw bytes; undefined without one. */
  readonly image: { readonly format: string; readonly bytes: number; readonly sha256: string } | undefined;
  /** The parsed JSON body, image bytes replaced by `"<image>"`. */
  readonly body: any;
  readonly headers: IncomingHttpHeaders;
  /** Parsed from a SigV4 `authorization` header; undefined when the request was not signed so. */
  readonly signature: { readonly accessKeyId: string; readonly region: string; readonly service: string } | undefined;
  /** Hash of everything before the first user message's cachePoint (tools, system, blocks); undefined without one. */
  readonly cacheKey: string | undefined;
  /** 1 for the first request with this prompt since reset, 2 for the next, … */
  readonly attempt: number;
  /** Number of messages (3 means a re-ask). */
  readonly turns: number;
  /** Answered ThrottlingException by the capacity limit; the handler never saw it. */
  readonly rejectedByCapacity: boolean;
}

/** What the server does with one request. `latencyMs` delays it (default: the server's latency). */
export type ConverseBehaviour =
  /**
   * A well-formed answer `{ value }`: as a `toolUse` block when the request
   * forces a tool (or `as: 'tool'`), else as text. `usage` replaces the
   * server's own figures; `null` leaves usage out.
   */
  | { kind: 'answer'; value: unknown; as?: 'text' | 'tool'; latencyMs?: number; usage?: ConverseUsage | null }
  /** Raw assistant text (prose, broken JSON) with a stop reason (default `end_turn`; `max_tokens` cuts). */
  | { kind: 'text'; text: string; stopReason?: string; latencyMs?: number; usage?: ConverseUsage | null }
  /** An AWS error: status (default the exception's own), `x-amzn-errortype`, `{"message"}`. */
  | {
      kind: 'error';
      type: ConverseErrorType;
      message?: string;
      status?: number;
      headers?: Record<string, string>;
      latencyMs?: number;
    }
  /** Any status and body as they are (a malformed 200, a proxy's HTML page). */
  | { kind: 'raw'; status: number; body: string; headers?: Record<string, string>; latencyMs?: number }
  /**
   * No response: `stream` resets the request's HTTP/2 stream (RST_STREAM,
   * what a failing proxy or server sends); `connection` closes the whole
   * connection under it.
   */
  | { kind: 'reset'; scope?: 'stream' | 'connection'; latencyMs?: number }
  /** Never answer; only the client's abort or `close()` ends it. */
  | { kind: 'hang' };

export type ConverseHandler = (req: RecordedConverse) => ConverseBehaviour | Promise<ConverseBehaviour>;

export interface BedrockTestServerOptions {
  /** Default: answer `{ value: null }`. */
  handler?: ConverseHandler;
  /** Question text → field name, for {@link RecordedConverse.field}. */
  prompts?: Record<string, string>;
  /** Requests served at once; beyond it a ThrottlingException (429). Default unlimited. */
  capacity?: number;
  /** A `retry-after` header sent with capacity throttles (Bedrock itself sends none). */
  retryAfter?: string;
  /** Latency for behaviours without `latencyMs`. Default 0. */
  defaultLatencyMs?: number;
  /** Tokens of the prefix before a cachePoint, reported as cache read or write. Default 1000. */
  prefixTokens?: number;
}

/** A running test server. Counters cover Converse requests only. */
export interface BedrockTestServer {
  /** `http://127.0.0.1:PORT`, for the SDK's `endpoint`. */
  readonly endpoint: string;
  readonly requests: readonly RecordedConverse[];
  /** Requests being served now (holding a capacity slot). */
  readonly inFlight: number;
  /** Requests received and not yet answered now. */
  readonly pending: number;
  /** High-water mark of {@link pending}. */
  readonly maxInFlight: number;
  /** High-water mark of {@link inFlight}: never above `capacity`. */
  readonly maxServing: number;
  /** ThrottlingExceptions sent because of capacity. */
  readonly rejected: number;
  setHandler(h: ConverseHandler): void;
  /** Clears requests, attempt numbers, counters and the prompt cache. */
  reset(): void;
  /** Ends hanging requests, cancels latency timers, closes every socket. */
  close(): Promise<void>;
}

/** Uncached prompt tokens the server reports besides the prefix. */
const QUESTION_TOKENS = 100;
const OUTPUT_TOKENS = 10;

/**
 * A handler answering by field name from `values` (fields found through
 * the `prompts` option); others get `null`.
 */
export function answerByField(values: Record<string, unknown>, opts: { latencyMs?: number } = {}): ConverseHandler {
  return (req) => ({
    kind: 'answer',
    value: req.field !== undefined && Object.hasOwn(values, req.field) ? values[req.field] : null,
    ...opts,
  });
}

/** Starts a server on 127.0.0.1 with a free port. */
export async function startBedrockTestServer(options: BedrockTestServerOptions = {}): Promise<BedrockTestServer> {
  let handler: ConverseHandler = options.handler ?? (() => ({ kind: 'answer', value: null }));
  const capacity = options.capacity ?? Infinity;
  const prefixTokens = options.prefixTokens ?? 1000;
  const ledger = new RequestLedger();
  let closed: Promise<void> | undefined;

  let requests: RecordedConverse[] = [];
  const attempts = new AttemptCounter();
  let cache = new Set<string>();
  let serving = 0;
  let maxServing = 0;
  let rejected = 0;
  let toolUseId = 0;

  async function handleConverse(req: IncomingMessage, res: ServerResponse, modelId: string): Promise<void> {
    const signal = ledger.track(res);

    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch {
      return; // the client went away mid-body
    }
    let body: any;
    try {
      body = JSON.parse(raw.toString('utf8'));
      if (typeof body !== 'object' || body === null || !Array.isArray(body.messages)) throw new Error('no messages');
    } catch (err) {
      return sendError(res, 'ValidationException', `Malformed input request: ${(err as Error).message}`);
    }

    const first = body.messages.find((m: any) => m?.role === 'user');
    const blocks: any[] = Array.isArray(first?.content) ? first.content : [];
    // Keyed before the images are stripped, so the key covers their bytes.
    const cacheKey = cacheKeyOf(body, blocks);
    const image = stripImages(body);
    const prompt = [...blocks].reverse().find((b) => typeof b?.text === 'string')?.text ?? '';
    const field = options.prompts?.[prompt];
    const key = field ?? `prompt:${prompt}`;
    const attempt = attempts.next(key);
    const overCapacity = serving >= capacity;
    const record: RecordedConverse = {
      index: requests.length,
      modelId,
      field,
      prompt,
      layout: blocks.map((b) => Object.keys(b ?? {})[0] ?? '?'),
      system: Array.isArray(body.system) ? body.system.map((s: any) => s?.text).filter((t: unknown) => typeof t === 'string') : [],
      image,
      body,
      headers: req.headers,
      signature: parseSignature(req.headers.authorization),
      cacheKey,
      attempt,
      turns: body.messages.length,
      rejectedByCapacity: overCapacity,
    };
    requests.push(record);

    if (overCapacity) {
      rejected++;
      return sendError(res, 'ThrottlingException', ERROR_MESSAGE.ThrottlingException, {
        ...(options.retryAfter !== undefined ? { 'retry-after': options.retryAfter } : {}),
      });
    }
    serving++;
    maxServing = Math.max(maxServing, serving);
    try {
      await serve(record, res, signal);
    } finally {
      serving--;
    }
  }

  async function serve(record: RecordedConverse, res: ServerResponse, signal: AbortSignal): Promise<void> {
    let b: ConverseBehaviour;
    try {
      b = await handler(record);
    } catch (err) {
      return sendError(res, 'InternalServerException', `test server handler failed: ${String(err)}`);
    }
    if (b.kind === 'hang') return waitForAbort(signal);
    const latency = b.latencyMs ?? options.defaultLatencyMs ?? 0;
    if (!(await sleep(latency, signal))) return;
    switch (b.kind) {
      case 'reset':
        if (b.scope === 'connection') res.stream.session?.destroy();
        else res.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
        return;
      case 'error':
        return sendError(res, b.type, b.message ?? ERROR_MESSAGE[b.type], b.headers, b.status);
      case 'raw':
        return send(res, b.status, b.body, { 'content-type': 'application/json', ...b.headers });
      case 'answer':
      case 'text': {
        const forced: unknown = record.body.toolConfig?.toolChoice?.tool?.name;
        const asTool = b.kind === 'answer' && (b.as === 'tool' || (b.as === undefined && typeof forced === 'string'));
        const content = asTool
          ? [{ toolUse: { toolUseId: `tooluse_${++toolUseId}`, name: forced ?? 'answer', input: { value: (b as { value: unknown }).value } } }]
          : [{ text: b.kind === 'answer' ? JSON.stringify({ value: b.value }) : b.text }];
        const stopReason = b.kind === 'text' ? (b.stopReason ?? 'end_turn') : asTool ? 'tool_use' : 'end_turn';
        const usage = b.usage === undefined ? usageFor(record) : b.usage;
        return sendJson(res, 200, {
          output: { message: { role: 'assistant', content } },
          stopReason,
          ...(usage === null ? {} : { usage: withTotal(usage) }),
          metrics: { latencyMs: latency },
        });
      }
    }
  }

  /** Usage as Bedrock would report it, prompt caching included. */
  function usageFor(record: RecordedConverse): ConverseUsage {
    if (record.cacheKey === undefined) return { inputTokens: QUESTION_TOKENS + prefixTokens, outputTokens: OUTPUT_TOKENS };
    const hit = cache.has(record.cacheKey);
    cache.add(record.cacheKey);
    return {
      inputTokens: QUESTION_TOKENS,
      outputTokens: OUTPUT_TOKENS,
      cacheReadInputTokens: hit ? prefixTokens : 0,
      cacheWriteInputTokens: hit ? 0 : prefixTokens,
    };
  }

  const sessions = new Set<Http2Session>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const match = /^\/model\/([^/]+)\/converse$/.exec(path);
    if (req.method === 'POST' && match) {
      handleConverse(req, res, decodeURIComponent(match[1]!)).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, 'InternalServerException', `test server failed: ${String(err)}`);
        else res.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
      });
      return;
    }
    req.resume();
    send(res, 404, JSON.stringify({ message: `Unknown operation ${req.method} ${req.url}` }), {
      'content-type': 'application/json',
      'x-amzn-errortype': 'UnknownOperationException',
    });
  });
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  const port = await listenOnLoopback(server);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() { return requests; },
    get inFlight() { return serving; },
    get pending() { return ledger.pending; },
    get maxInFlight() { return ledger.maxInFlight; },
    get maxServing() { return maxServing; },
    get rejected() { return rejected; },
    setHandler(h) { handler = h; },
    reset() {
      requests = [];
      attempts.reset();
      cache = new Set();
      rejected = 0;
      ledger.resetHighWater();
      maxServing = serving;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        ledger.abortAll();
        server.close(() => resolve());
        // server.close() waits for open sessions; end them now.
        for (const session of sessions) session.destroy();
      });
      return closed;
    },
  };
}

function withTotal(u: ConverseUsage): ConverseUsage & { totalTokens: number } {
  return {
    ...u,
    totalTokens: u.inputTokens + u.outputTokens + (u.cacheReadInputTokens ?? 0) + (u.cacheWriteInputTokens ?? 0),
  };
}

/** Replaces every image's bytes with "<image>" and describes the first one. */
function stripImages(body: any): RecordedConverse['image'] {
  let first: RecordedConverse['image'];
  for (const message of body.messages) {
    if (!Array.isArray(message?.content)) continue;
    for (const block of message.content) {
      const source = block?.image?.source;
      if (typeof source?.bytes !== 'string') continue;
      const bytes = Buffer.from(source.bytes, 'base64');
      first ??= { format: String(block.image.format), bytes: bytes.length, sha256: sha256(bytes) };
      source.bytes = '<image>';
    }
  }
  return first;
}

/**
 * What a prompt cache would key on: the tools, the system blocks and the
 * first user message's blocks before its cachePoint, an image by the hash
 * of its bytes.
 */
function cacheKeyOf(body: any, blocks: any[]): string | undefined {
  const at = blocks.findIndex((b) => b?.cachePoint !== undefined);
  if (at < 0) return undefined;
  const before = blocks
    .slice(0, at)
    .map((b) => (typeof b?.image?.source?.bytes === 'string' ? { image: b.image.format, sha256: sha256(Buffer.from(b.image.source.bytes)) } : b));
  return sha256(Buffer.from(JSON.stringify({ tools: body.toolConfig ?? null, system: body.system ?? null, before })));
}

function parseSignature(authorization: string | undefined): RecordedConverse['signature'] {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.exec(
    authorization ?? '',
  );
  return m ? { accessKeyId: m[1]!, region: m[2]!, service: m[3]! } : undefined;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}


function sendError(
  res: ServerResponse,
  type: ConverseErrorType,
  message: string,
  headers: Record<string, string> = {},
  status = ERROR_STATUS[type],
): void {
  // The shape AWS sends: the SDK reads the type from this header, up to the colon.
  sendJson(res, status, { message }, {
    'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    ...headers,
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
  if (res.headersSent || res.stream.destroyed) return;
  res.writeHead(status, { 'x-amzn-requestid': randomUUID(), ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
