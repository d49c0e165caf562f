/**
 * The local model behind the OpenAI Chat Completions protocol, on loopback.
 *
 * It answers each field question from the image's text: OCR once per image
 * (see `ocr.ts`), label rules (`rules.ts`), the field identified from the
 * question or the schema name (`questions.ts`). Through this one protocol the
 * pipeline runs exactly as it does against a real endpoint.
 *
 *   POST /v1/chat/completions   the answer, `{"value": …}` as the message content
 *   GET  /v1/models             the one model it serves
 *   GET  /health                200 when up
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ImageReader, createPaddleOcrEngine } from './ocr';
import type { OcrEngine } from './ocr';
import { answerValue, identifyField, valueShape } from './questions';
import { imageDimensions, imageTokens, textTokens } from './usage';

/** The model name reported when a request does not name one. */
export const LOCAL_MODEL_NAME = 'fieldlens-local-ocr';

/** Largest request body accepted: a 20 MiB image as base64 plus the JSON around it. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface LocalModelServerOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** Loopback only: the server has no authentication. @default '127.0.0.1' */
  readonly host?: '127.0.0.1' | 'localhost' | '::1';
  /** The OCR engine; default PP-OCRv4. Tests may pass another. */
  readonly ocr?: OcrEngine;
  /** Images whose readings are kept. @default 64 */
  readonly cacheEntries?: number;
  /** Called once per answered request (for a CLI's log). */
  readonly onRequest?: (event: RequestEvent) => void;
}

/** What the server did for one chat request. */
export interface RequestEvent {
  readonly status: number;
  /** The identified field kind, or `undefined` when no rule applies. */
  readonly field?: string;
  readonly schemaName?: string;
  readonly ms: number;
  readonly error?: string;
}

export interface LocalModelServer {
  /** OpenAI-compatible base URL, e.g. `http://127.0.0.1:41234/v1`: use it as `MODEL_BASE_URL`. */
  readonly baseUrl: string;
  /** The model name to send (`MODEL_NAME`); any name is accepted. */
  readonly modelName: string;
  /** OCR runs and cache hits since start. */
  readonly stats: () => { readonly ocrRuns: number; readonly hits: number; readonly cached: number };
  /** Stops accepting requests and closes open connections. */
  close(): Promise<void>;
}

/**
 * Starts the local model server.
 *
 * @example
 * ```ts
 * const model = await startLocalModelServer();
 * process.env.MODEL_BASE_URL = model.baseUrl;
 * process.env.MODEL_NAME = model.modelName;
 * // … run the pipeline …
 * await model.close();
 * ```
 */
export async function startLocalModelServer(options: LocalModelServerOptions = {}): Promise<LocalModelServer> {
  const engine = options.ocr ?? createPaddleOcrEngine();
  const reader = new ImageReader(engine, { maxEntries: options.cacheEntries ?? 64 });
  let counter = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Only a bug gets here; answer like a real endpoint would rather than hang the client.
      if (!res.headersSent) sendError(res, 500, 'server_error', (err as Error).message);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const path = url.pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/health' || path === '/v1/health')) {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
      sendJson(res, 200, { object: 'list', data: [{ id: LOCAL_MODEL_NAME, object: 'model', created: 0, owned_by: 'fieldlens' }] });
      return;
    }
    if (path !== '/v1/chat/completions' && path !== '/chat/completions') {
      sendError(res, 404, 'not_found', `no route for ${req.method} ${url.pathname}`);
      return;
    }
    if (req.method !== 'POST') {
      sendError(res, 405, 'invalid_request_error', 'use POST');
      return;
    }
    const started = performance.now();
    const event = (status: number, extra: Partial<RequestEvent> = {}) =>
      options.onRequest?.({ status, ms: Math.round(performance.now() - started), ...extra });

    const body = await readBody(req);
    if (body === 'too-large') {
      sendError(res, 413, 'invalid_request_error', `request body over ${MAX_BODY_BYTES} bytes`);
      event(413, { error: 'too large' });
      return;
    }
    let request: ChatRequest;
    try {
      request = parseChatRequest(JSON.parse(body.toString('utf8')));
    } catch (err) {
      sendError(res, 400, 'invalid_request_error', (err as Error).message);
      event(400, { error: (err as Error).message });
      return;
    }

    const kind = identifyField(request.question, request.schemaName);
    let value: unknown = null;
    let imageSize: { width: number; height: number } | undefined;
    if (request.image) {
      imageSize = imageDimensions(request.image);
      try {
        const reading = await reader.read(request.image);
        value = answerValue(kind, valueShape(request.schema), reading.label, request.question);
      } catch (err) {
        const message = `could not read the image: ${(err as Error).message}`;
        sendError(res, 400, 'invalid_request_error', message, 'invalid_image');
        event(400, { ...(kind ? { field: kind } : {}), error: message });
        return;
      }
    }

    const content = JSON.stringify({ value });
    const promptTokens = textTokens(request.allText) + (request.image ? imageTokens(imageSize) : 0);
    const completionTokens = textTokens(content);
    // Like a real endpoint: an answer longer than max_tokens is cut off.
    const truncated = request.maxTokens !== undefined && completionTokens > request.maxTokens;
    sendJson(res, 200, {
      id: `chatcmpl-local-${++counter}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: request.model ?? LOCAL_MODEL_NAME,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: truncated ? content.slice(0, request.maxTokens) : content },
          finish_reason: truncated ? 'length' : 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: truncated ? request.maxTokens : completionTokens,
        total_tokens: promptTokens + (truncated ? request.maxTokens! : completionTokens),
      },
    });
    event(200, { ...(kind ? { field: kind } : {}), ...(request.schemaName ? { schemaName: request.schemaName } : {}) });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    baseUrl: `http://${host}:${address.port}/v1`,
    modelName: LOCAL_MODEL_NAME,
    stats: () => reader.stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections from a client pool would hold close() open.
        server.closeAllConnections();
      }),
  };
}

/** The parts of a chat request the local model uses. */
interface ChatRequest {
  readonly model?: string;
  /** The field's question: the text beside the image in its user message, or the next user text. */
  readonly question: string;
  /** Every text part of every message, for the token estimate. */
  readonly allText: string;
  readonly image?: Buffer;
  readonly schemaName?: string;
  /** `response_format.json_schema.schema`: the answer object's schema. */
  readonly schema?: unknown;
  readonly maxTokens?: number;
}

/**
 * Validates the protocol envelope and pulls out the question, the image and
 * the schema.
 * @throws Error with a message for the 400 answer.
 */
export function parseChatRequest(raw: unknown): ChatRequest {
  if (!raw || typeof raw !== 'object') throw new Error('the body must be a JSON object');
  const body = raw as Record<string, unknown>;
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new Error('"messages" must be a non-empty array');
  }
  // The question is the text that goes with the image: the other parts of
  // its user message, in whatever order they come, or else the next user
  // message's text (a layout that puts the image first for prefix caching).
  const userTexts: { text: string; hasImage: boolean }[] = [];
  let image: Buffer | undefined;
  const allText: string[] = [];
  for (const message of body.messages as unknown[]) {
    if (!message || typeof message !== 'object') throw new Error('each message must be an object');
    const { role, content } = message as { role?: unknown; content?: unknown };
    if (typeof role !== 'string') throw new Error('each message needs a "role"');
    const texts: string[] = [];
    let imageUrl: string | undefined;
    if (typeof content === 'string') {
      texts.push(content);
    } else if (Array.isArray(content)) {
      for (const part of content as Array<Record<string, unknown>>) {
        if (part?.type === 'text' && typeof part.text === 'string') texts.push(part.text);
        if (part?.type === 'image_url') {
          const ref = part.image_url as { url?: unknown } | string | undefined;
          const url = typeof ref === 'string' ? ref : ref?.url;
          if (typeof url === 'string') imageUrl ??= url;
        }
      }
    }
    allText.push(...texts);
    if (role !== 'user') continue;
    const carriesImage = imageUrl !== undefined && !image;
    if (carriesImage) image = decodeDataUri(imageUrl!);
    userTexts.push({ text: texts.join('\n'), hasImage: carriesImage });
  }
  const at = userTexts.findIndex((m) => m.hasImage);
  const question =
    (at >= 0 ? userTexts.slice(at).find((m) => m.text.trim() !== '')?.text : undefined) ??
    userTexts.find((m) => m.text.trim() !== '')?.text ??
    '';
  const format = body.response_format as { type?: unknown; json_schema?: { name?: unknown; schema?: unknown } } | undefined;
  const jsonSchema = format?.type === 'json_schema' ? format.json_schema : undefined;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  return {
    ...(typeof body.model === 'string' ? { model: body.model } : {}),
    question,
    allText: allText.join('\n'),
    ...(image ? { image } : {}),
    ...(typeof jsonSchema?.name === 'string' ? { schemaName: jsonSchema.name } : {}),
    ...(jsonSchema?.schema !== undefined ? { schema: jsonSchema.schema } : {}),
    ...(typeof maxTokens === 'number' && maxTokens > 0 ? { maxTokens } : {}),
  };
}

function decodeDataUri(url: string): Buffer {
  const m = /^data:([^;,]*)(;base64)?,/.exec(url);
  if (!m) throw new Error('the local model reads images from data: URIs only (it has no network)');
  if (!m[2]) throw new Error('image data URIs must be base64');
  const image = Buffer.from(url.slice(m[0].length), 'base64');
  if (image.length === 0) throw new Error('the image data URI is empty');
  return image;
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // Keep draining so the client sees the 413 rather than a reset.
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? 'too-large' : Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, type: string, message: string, code?: string): void {
  sendJson(res, status, { error: { message, type, param: null, code: code ?? null } });
}
