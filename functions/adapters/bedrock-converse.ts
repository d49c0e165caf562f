/**
 * Amazon Bedrock as a {@link ModelClient}: one Converse call per field over
 * `@aws-sdk/client-bedrock-runtime`, signed with the function's IAM role.
 *
 * Every field of an image is asked with the same leading bytes: the tool
 * (in tool mode), the system prompt, the image and, with prompt caching, a
 * cache point; only the field's own question follows. So a model with
 * prompt caching reads the image's tokens from its cache for every field
 * after the first (in tool mode: every field with the same answer schema,
 * because the tool comes first in the prompt).
 *
 * The SDK's own retries are off (`maxAttempts: 1`): retries, backoff and
 * rate-limit waits are the core's, as for every model client.
 *
 * The bundle keeps `@aws-sdk/*` external, so in Lambda this runs on the
 * SDK the nodejs22.x runtime provides. Its `CachePointBlock` (prompt
 * caching) and the usage's cache figures first appear in
 * `@aws-sdk/client-bedrock-runtime` 3.779.0; a runtime SDK older than that
 * does not know the block, so `promptCache` needs either a runtime at or
 * above it or this client bundled with the function.
 */
import type {
  BedrockRuntimeClient,
  BedrockRuntimeClientConfig,
  ContentBlock,
  ConverseCommandInput,
  ConverseCommandOutput,
  ImageFormat,
  Message,
  ToolInputSchema,
} from '@aws-sdk/client-bedrock-runtime';
import { ErrorCode, ModelError } from '../core/errors';
import { once } from '../core/once';
import type { CompleteOptions, ImageMime, ImagePayload, ModelClient, ModelReply, ModelRequest } from '../core/ports';
import { classifyBedrockError } from './bedrock-errors';

/**
 * How the answer object is asked for: `tool` forces a tool whose input
 * schema is the field's answer schema (Claude, Nova, Mistral Large and
 * other models with forced tool choice); `prompt` relies on the system
 * prompt's JSON instruction alone (any model).
 */
export type StructuredOutputMode = 'tool' | 'prompt';

export interface BedrockConverseOptions {
  /**
   * A model id (`anthropic.claude-3-5-sonnet-20241022-v2:0`), an inference
   * profile id (`eu.anthropic.claude-3-5-sonnet-20240620-v1:0`) or the ARN of
   * either.
   */
  readonly modelId: string;
  /** The region of the calls; with `client`, only named in error messages. */
  readonly region: string;
  /** A client to use instead of one from {@link createBedrockRuntimeClient} (tests: a loopback endpoint). */
  readonly client?: BedrockRuntimeClient;
  /** @default 'tool' */
  readonly structuredOutput?: StructuredOutputMode;
  /** Put a cache point after the image, so fields after the first read it from the model's cache. @default false */
  readonly promptCache?: boolean;
}

/** The name of the forced tool; the same for every field so fields with one answer schema share a prefix. */
export const ANSWER_TOOL = 'answer';

const ANSWER_TOOL_DESCRIPTION = 'Record the answer to the question about the image.';

const FORMATS: Readonly<Record<ImageMime, ImageFormat>> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
};

/**
 * The SDK, imported when the first Bedrock client is made rather than when
 * the bundle loads: a function that talks to an OpenAI-compatible endpoint
 * never pays for it (it is a dynamic import of an external module, which
 * esbuild leaves as it is; a static one would load at every cold start).
 */
const loadSdk = once(() => import('@aws-sdk/client-bedrock-runtime'));

/**
 * A Bedrock Runtime client as fieldlens needs it: the SDK's retries off,
 * its default HTTP/2 handler. Create it once per process.
 *
 * That handler opens one connection per request (`disableConcurrentStreams`),
 * so every field pays a TLS handshake: tens of milliseconds against a
 * model's seconds, and in exchange no pooled connection can go stale while a
 * Lambda environment is frozen.
 *
 * @param options.endpoint a different endpoint (a VPC endpoint's DNS name, or a loopback test server).
 */
export async function createBedrockRuntimeClient(
  options: Pick<BedrockRuntimeClientConfig, 'region' | 'endpoint' | 'credentials'> & { readonly region: string },
): Promise<BedrockRuntimeClient> {
  const { BedrockRuntimeClient } = await loadSdk();
  return new BedrockRuntimeClient({ ...options, maxAttempts: 1 });
}

const decoded = new WeakMap<Buffer, Uint8Array>();

/**
 * The image's raw bytes, decoded from its base64 once and shared by every
 * field's request (keyed by the payload's own base64 buffer, so it lives
 * exactly as long as the image does).
 *
 * The SDK's JSON protocol turns these bytes back into base64 text inside
 * each request's body (restJson1 has no binary framing), and SigV4 hashes
 * that body: per field in flight, one base64 copy of the image (4/3 of its
 * size; at Bedrock's per-image limit of 3.75 MB, 5 MB) plus the serialised
 * body, and the CPU to encode and hash them. That is the per-field copy the
 * OpenAI adapter avoids with its shared buffer; Converse gives no way around
 * it, so the concurrency cap is what bounds it.
 */
export function imageBytes(image: ImagePayload): Uint8Array {
  let raw = decoded.get(image.base64);
  if (raw === undefined) {
    raw = Buffer.from(image.base64.toString('latin1'), 'base64');
    decoded.set(image.base64, raw);
  }
  return raw;
}

/**
 * @example
 * ```ts
 * const model = new BedrockConverseClient({ modelId: 'eu.amazon.nova-lite-v1:0', region: 'eu-west-1', promptCache: true });
 * const reply = await model.complete(request, { signal: deadline.signal, timeoutMs: 60_000 });
 * ```
 */
export class BedrockConverseClient implements ModelClient {
  readonly modelName: string;
  readonly #region: string;
  readonly #client: Promise<BedrockRuntimeClient>;
  readonly #mode: StructuredOutputMode;
  readonly #promptCache: boolean;

  constructor(options: BedrockConverseOptions) {
    if (typeof options.modelId !== 'string' || options.modelId.trim() === '') {
      throw new TypeError(`Expected modelId to be a model id, inference profile id or ARN, got ${JSON.stringify(options.modelId)}`);
    }
    if (typeof options.region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(options.region)) {
      throw new TypeError(`Expected region to be an AWS region such as eu-west-1, got ${JSON.stringify(options.region)}`);
    }
    const mode = options.structuredOutput ?? 'tool';
    if (mode !== 'tool' && mode !== 'prompt') {
      throw new TypeError(`Expected structuredOutput to be 'tool' or 'prompt', got ${JSON.stringify(mode)}`);
    }
    this.modelName = options.modelId;
    this.#region = options.region;
    this.#mode = mode;
    this.#promptCache = options.promptCache ?? false;
    this.#client = options.client ? Promise.resolve(options.client) : createBedrockRuntimeClient({ region: options.region });
    // A failed import surfaces in the first call; until then it is not an unhandled rejection.
    this.#client.catch(() => undefined);
  }

  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelReply> {
    const input = this.#input(request);
    const attemptTimeout = AbortSignal.timeout(Math.max(1, options.timeoutMs));
    const abortSignal = AbortSignal.any([options.signal, attemptTimeout]);
    const startedAt = Date.now();
    let output: ConverseCommandOutput;
    try {
      const [{ ConverseCommand }, client] = await Promise.all([loadSdk(), this.#client]);
      output = await client.send(new ConverseCommand(input), { abortSignal });
    } catch (err) {
      throw classifyBedrockError(err, {
        modelId: this.modelName,
        region: this.#region,
        deadline: options.signal,
        attemptTimeout,
        timeoutMs: options.timeoutMs,
        startedAt,
      });
    }
    return this.#reply(output);
  }

  /** System, then one user message: image, (cache point), the field's question; then the re-ask's turns. */
  #input(request: ModelRequest): ConverseCommandInput {
    const first: ContentBlock[] = [
      { image: { format: FORMATS[request.image.mime], source: { bytes: imageBytes(request.image) } } },
      ...(this.#promptCache ? [{ cachePoint: { type: 'default' as const } }] : []),
      { text: request.prompt },
    ];
    const messages: Message[] = [
      { role: 'user', content: first },
      ...request.followUp.map((turn): Message => ({ role: turn.role, content: [{ text: nonBlank(turn.content) }] })),
    ];
    return {
      modelId: this.modelName,
      system: [{ text: request.system }],
      messages,
      inferenceConfig: { temperature: 0, maxTokens: request.maxTokens },
      ...(this.#mode === 'tool'
        ? {
            toolConfig: {
              tools: [
                {
                  toolSpec: {
                    name: ANSWER_TOOL,
                    description: ANSWER_TOOL_DESCRIPTION,
                    // A JSON Schema is JSON, which is what the SDK's document type describes.
                    inputSchema: { json: request.answerSchema as ToolInputSchema.JsonMember['json'] },
                  },
                },
              ],
              toolChoice: { tool: { name: ANSWER_TOOL } },
            },
          }
        : {}),
    };
  }

  #reply(output: ConverseCommandOutput): ModelReply {
    const content = output.output?.message?.content;
    if (!Array.isArray(content)) {
      throw new ModelError(ErrorCode.MODEL_BAD_RESPONSE, 'the Converse response has no output message', {
        retryable: false,
      });
    }
    const stop = output.stopReason;
    if (stop === 'guardrail_intervened' || stop === 'content_filtered') {
      // The text is the filter's own message; taken as an answer it would
      // become a string field's value.
      throw new ModelError(ErrorCode.MODEL_BAD_RESPONSE, `Bedrock withheld the answer (stopReason ${stop})`, {
        retryable: false,
      });
    }
    const toolUse = this.#mode === 'tool' ? content.find((b) => b.toolUse?.name === ANSWER_TOOL)?.toolUse : undefined;
    const text =
      toolUse !== undefined
        ? toolAnswerText(toolUse.input)
        : content.map((b) => (typeof b.text === 'string' ? b.text : '')).join('');
    const u = output.usage;
    const usage =
      u && isCount(u.inputTokens) && isCount(u.outputTokens)
        ? { promptTokens: u.inputTokens, completionTokens: u.outputTokens }
        : undefined;
    const cache =
      u && (isCount(u.cacheReadInputTokens) || isCount(u.cacheWriteInputTokens))
        ? { readTokens: u.cacheReadInputTokens ?? 0, writeTokens: u.cacheWriteInputTokens ?? 0 }
        : undefined;
    return {
      text,
      finishReason: finishReasonOf(stop),
      ...(usage ? { usage } : {}),
      ...(cache ? { cache } : {}),
    };
  }
}

/**
 * The tool's input as the text the core parses: `{"value": …}` when the
 * input has a value, else the input as it is, so the core's validation
 * reports what is wrong and re-asks.
 */
function toolAnswerText(input: unknown): string {
  if (typeof input === 'object' && input !== null && !Array.isArray(input) && 'value' in input) {
    return JSON.stringify({ value: (input as { value: unknown }).value });
  }
  return JSON.stringify(input ?? null);
}

/** Converse's stop reason in the chat protocol's words; the core reads `length` as truncation. */
function finishReasonOf(stop: string | undefined): string | null {
  switch (stop) {
    case undefined:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'end_turn':
    case 'stop_sequence':
    case 'tool_use':
      return 'stop';
    default:
      return stop;
  }
}

/** Converse refuses a blank text block; an empty invalid reply is still a turn of the re-ask. */
function nonBlank(text: string): string {
  return text.trim() === '' ? '(empty reply)' : text;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}
