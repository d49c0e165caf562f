/**
 * An OpenAI-compatible Chat Completions client over undici: OpenAI, vLLM,
 * Ollama, LM Studio, DashScope compatible mode, or any server that speaks
 * the protocol.
 *
 * Two things matter for fieldlens's speed and memory:
 * - one keep-alive connection pool per origin per process, reused across
 *   invocations of a warm Lambda;
 * - the request body is sent as three buffers, `prefix + image + suffix`,
 *   where the image is the one base64 buffer shared by every field, so N
 *   fields never hold N copies of the image;
 * - everything the fields of one image share comes first, in the same bytes
 *   (the request settings, the system prompt, then the image) and the
 *   field's own question after it, so a server that caches prompt prefixes
 *   (vLLM, SGLang, OpenAI, DashScope) computes the image once per image, not
 *   once per field. Re-asks append their turns and keep that prefix.
 *
 * `complete` makes exactly one HTTP request and classifies any failure as a
 * retryable or final {@link ModelError} (`openai-errors.ts`); the response
 * is read within a size limit and parsed by `openai-response.ts`. The retry
 * loop lives in the core.
 */
import { randomUUID } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import type { CompleteOptions, ModelClient, ModelReply, ModelRequest } from '../core/ports';
import { classifyStatus, classifyTransportError, type AttemptSignals } from './openai-errors';
import {
  declaredLength,
  DEFAULT_MAX_RESPONSE_BYTES,
  ERROR_BODY_BYTES,
  parseCompletion,
  readBounded,
  responseTooLarge,
  type BoundedBody,
} from './openai-response';

export type ResponseFormatMode = 'json_schema' | 'json_object' | 'none';

export interface OpenAIChatOptions {
  /** Base URL including the API version path, e.g. `http://10.0.0.5:8000/v1`. */
  readonly baseUrl: string;
  /** The `model` sent in every request. */
  readonly model: string;
  /** Sent as `Authorization: Bearer …`; never logged. */
  readonly apiKey?: string;
  /** @default 'json_schema' */
  readonly responseFormat?: ResponseFormatMode;
  /** Most connections to the endpoint; match the invocation's concurrency cap. @default 10 */
  readonly connections?: number;
  /** A dispatcher to use instead of the shared pool (tests, proxies). */
  readonly dispatcher?: Dispatcher;
  /**
   * Largest response body read; a longer one fails the attempt with
   * `MODEL_RESPONSE_TOO_LARGE` and is never read to its end.
   * @default 8 MiB
   */
  readonly maxResponseBytes?: number;
  /**
   * Ask for the tokens' log-probabilities (`logprobs: true`), from which the
   * core computes each field's confidence. vLLM, OpenAI and others support
   * it; a server that ignores it makes the reply's `logprobs` `null`.
   * @default false
   */
  readonly logprobs?: boolean;
  /**
   * Where the field's question goes: after the image (`image-first`, so
   * every field of an image shares one prompt prefix), or before it
   * (`question-first`, which shares nothing past the system prompt and is
   * there to measure what the prefix saves: `npm run bench`).
   * @default 'image-first'
   */
  readonly promptLayout?: PromptLayout;
}

/** The order of the first user message's parts; see {@link OpenAIChatOptions.promptLayout}. */
export type PromptLayout = 'image-first' | 'question-first';

const pools = new Map<string, Pool>();

/**
 * The process-wide pool for `origin`, created on first use. A warm Lambda
 * keeps its connections between invocations; a frozen environment's stale
 * sockets fail fast and are retried as connection errors.
 */
function sharedPool(origin: string, connections: number): Pool {
  const key = `${origin}#${connections}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = new Pool(origin, {
      connections,
      // A non-streaming model sends headers only when it has finished, so
      // undici's 300 s defaults must not be the limit; each request sets its
      // own from the attempt timeout.
      keepAliveTimeout: 30_000,
    });
    pools.set(key, pool);
  }
  return pool;
}

/** Closes every shared pool (local runs and tests; Lambda never needs to). */
export async function closeSharedPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.close()));
}

/**
 * @example
 * ```ts
 * const model = new OpenAIChatClient({ baseUrl: 'http://10.0.0.5:8000/v1', model: 'qwen2.5-vl-7b', connections: 5 });
 * const reply = await model.complete(request, { signal: deadline.signal, timeoutMs: 60_000 });
 * ```
 */
export class OpenAIChatClient implements ModelClient {
  readonly modelName: string;
  readonly #origin: string;
  readonly #path: string;
  readonly #dispatcher: Dispatcher;
  readonly #headers: Record<string, string>;
  readonly #responseFormat: ResponseFormatMode;
  readonly #maxResponseBytes: number;
  readonly #logprobs: boolean;
  readonly #layout: PromptLayout;
  // Stands in for the image while the rest of the body is serialised; random
  // so no prompt text can ever collide with it.
  readonly #marker = `fieldlens-image-${randomUUID()}`;

  constructor(options: OpenAIChatOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new TypeError(`Expected baseUrl to be an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`Expected baseUrl to be an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 1) {
      throw new TypeError(`Expected maxResponseBytes to be a positive integer, got ${maxResponseBytes}`);
    }
    this.#maxResponseBytes = maxResponseBytes;
    this.modelName = options.model;
    this.#origin = url.origin;
    this.#path = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
    this.#dispatcher = options.dispatcher ?? sharedPool(url.origin, options.connections ?? 10);
    this.#responseFormat = options.responseFormat ?? 'json_schema';
    this.#logprobs = options.logprobs ?? false;
    this.#layout = options.promptLayout ?? 'image-first';
    if (this.#layout !== 'image-first' && this.#layout !== 'question-first') {
      throw new TypeError(`Expected promptLayout to be 'image-first' or 'question-first', got ${JSON.stringify(this.#layout)}`);
    }
    this.#headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    };
  }

  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelReply> {
    const body = this.#body(request);
    const length = body.reduce((n, b) => n + b.byteLength, 0);
    const attemptTimeout = AbortSignal.timeout(Math.max(1, options.timeoutMs));
    const signal = AbortSignal.any([options.signal, attemptTimeout]);
    const attempt: AttemptSignals = {
      deadline: options.signal,
      attemptTimeout,
      timeoutMs: options.timeoutMs,
      startedAt: Date.now(),
    };

    let res: Dispatcher.ResponseData;
    try {
      res = await this.#dispatcher.request({
        origin: this.#origin,
        path: this.#path,
        method: 'POST',
        headers: { ...this.#headers, 'content-length': String(length) },
        // undici writes any iterable of chunks straight to the socket
        // (client-h1 writeIterable), so the shared image is never copied;
        // its types only list single-chunk bodies.
        body: body as unknown as Uint8Array,
        signal,
        // undici's own 300 s timers start only once the request is on a
        // socket; the signal above is the real limit, these are a backstop.
        headersTimeout: options.timeoutMs + 1_000,
        bodyTimeout: options.timeoutMs + 1_000,
      });
    } catch (err) {
      throw classifyTransportError(err, attempt);
    }

    const ok = res.statusCode >= 200 && res.statusCode < 300;
    let read: BoundedBody;
    try {
      // An error body only lends its first words to the message, so it gets
      // a smaller limit and is cut, not refused.
      read = ok
        ? await readBounded(res.body, this.#maxResponseBytes, declaredLength(res.headers))
        : await readBounded(res.body, Math.min(ERROR_BODY_BYTES, this.#maxResponseBytes));
    } catch (err) {
      throw classifyTransportError(err, attempt);
    }
    if (!ok) throw classifyStatus(res.statusCode, res.headers, read.text);
    if (read.overflowed) throw responseTooLarge(this.#maxResponseBytes, res.statusCode);
    return parseCompletion(read.text, { logprobs: this.#logprobs });
  }

  /**
   * The request body as `[prefix, shared image, suffix]`. With the default
   * layout the prefix is the same bytes for every field of a configuration
   * (nothing field-specific precedes the image; `response_format` follows
   * `messages`), so the F bodies of one image share everything up to the
   * end of the image.
   */
  #body(request: ModelRequest): Buffer[] {
    const question = { type: 'text', text: request.prompt };
    const image = { type: 'image_url', image_url: { url: this.#marker } };
    const payload: Record<string, unknown> = {
      model: this.modelName,
      temperature: 0,
      // Some servers (Ollama's compatibility layer) default top_p to 1.0 only
      // when it is sent; send it so every server decodes the same way.
      top_p: 1,
      max_tokens: request.maxTokens,
      // Only the chosen tokens' own log-probabilities: `top_logprobs` is left
      // out, since alternatives are not used and some servers refuse 0.
      ...(this.#logprobs ? { logprobs: true } : {}),
      messages: [
        { role: 'system', content: request.system },
        {
          role: 'user',
          content: this.#layout === 'image-first' ? [image, question] : [question, image],
        },
        ...request.followUp.map((t) => ({ role: t.role, content: t.content })),
      ],
    };
    if (this.#responseFormat === 'json_schema') {
      payload.response_format = {
        type: 'json_schema',
        json_schema: { name: request.schemaName, schema: request.answerSchema, strict: true },
      };
    } else if (this.#responseFormat === 'json_object') {
      payload.response_format = { type: 'json_object' };
    }
    const json = JSON.stringify(payload);
    const at = json.indexOf(this.#marker);
    return [
      Buffer.from(`${json.slice(0, at)}data:${request.image.mime};base64,`, 'utf8'),
      request.image.base64,
      Buffer.from(json.slice(at + this.#marker.length), 'utf8'),
    ];
  }
}
