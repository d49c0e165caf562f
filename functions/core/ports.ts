/**
 * The ports the core talks through. Adapters implement them over undici and
 * the AWS SDK; tests implement them over real local servers or small fakes.
 * Nothing here imports an SDK.
 */
import type { TokenLogprob } from './confidence';
import type { JsonSchema } from './fields';
import type { Usage } from './document';

/** Image formats fieldlens accepts, recognised by their bytes. */
export type ImageMime = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif';

/**
 * An image ready to send: base64-encoded once, shared by every field's
 * request. Adapters must send `base64` as it is (no copy per request).
 */
export interface ImagePayload {
  readonly mime: ImageMime;
  /** Size of the raw image in bytes. */
  readonly bytes: number;
  /** The base64 text of the image as ASCII bytes. */
  readonly base64: Buffer;
}

/** One extra turn of the conversation, used by the re-ask after an invalid answer. */
export interface ChatTurn {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

/** One question about one image. */
export interface ModelRequest {
  readonly image: ImagePayload;
  /** The instruction shared by every field: answer with `{"value": …}`. */
  readonly system: string;
  /** The field's own question. */
  readonly prompt: string;
  /** Turns after the first question (the model's invalid answer and the correction). */
  readonly followUp: readonly ChatTurn[];
  /** Name for `response_format.json_schema.name` (`[A-Za-z0-9_-]`, ≤ 64). */
  readonly schemaName: string;
  /** JSON Schema of the whole answer object `{"value": …}`. */
  readonly answerSchema: JsonSchema;
  readonly maxTokens: number;
}

/** The model's reply to one request. */
export interface ModelReply {
  readonly text: string;
  /** `stop`, `length`, … as the endpoint reports it; `null` when absent. */
  readonly finishReason: string | null;
  readonly usage?: Usage;
  /**
   * Prompt-cache figures, where the endpoint reports them apart from
   * `usage` (Bedrock: `cacheReadInputTokens` / `cacheWriteInputTokens`,
   * which its `inputTokens`, and so `usage.promptTokens`, do not include).
   */
  readonly cache?: { readonly readTokens: number; readonly writeTokens: number };
  /**
   * The reply's tokens with their log-probabilities (OpenAI's
   * `choices[0].logprobs.content`), when the client asked for them; `null`
   * when it asked and the endpoint sent none; absent when it did not ask.
   */
  readonly logprobs?: readonly TokenLogprob[] | null;
}

export interface CompleteOptions {
  /** The invocation's deadline: when it aborts, fail with `DEADLINE_EXCEEDED`. */
  readonly signal: AbortSignal;
  /** This attempt's own limit: when it passes, fail with `MODEL_TIMEOUT`. */
  readonly timeoutMs: number;
}

/**
 * A chat model endpoint. `complete` makes exactly one HTTP request and
 * throws a {@link import('./errors').ModelError} classified as retryable or not;
 * retries are the core's job.
 */
export interface ModelClient {
  /** The `model` sent with each request, recorded in the result document. */
  readonly modelName: string;
  complete(request: ModelRequest, options: CompleteOptions): Promise<ModelReply>;
}

/** Where an object lives. Keys are always decoded (never URL-encoded). */
export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
}

export interface ObjectInfo extends ObjectRef {
  /** The ETag as S3 returns it, quotes removed. */
  readonly etag: string;
  readonly bytes: number;
  readonly contentType?: string;
  /** User metadata (`x-amz-meta-*`), keys lower-case. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ReadOptions {
  /** Refuse (do not read) an object larger than this. */
  readonly maxBytes: number;
  /** Read only if the object still has this ETag (it may have been replaced since the event). */
  readonly etag?: string;
  /** Read only the first `firstBytes` bytes (for sniffing the format). */
  readonly firstBytes?: number;
}

/** Every store call takes the invocation's signal: a stuck call must not eat the time kept for writing the result. */
export interface StoreCallOptions {
  /** Aborts the call (and its retries) when the invocation must move on. */
  readonly signal?: AbortSignal;
}

/**
 * A conditional write: only if the key is absent (`ifNoneMatch: '*'`), or
 * only if it still has the ETag seen earlier (`ifMatch`). A failed condition
 * throws {@link import('./errors').WriteConflictError}.
 */
export type WriteCondition = { readonly ifNoneMatch: '*' } | { readonly ifMatch: string };

export interface PutOptions extends StoreCallOptions {
  readonly condition?: WriteCondition;
}

/** Object storage (S3 or any S3-compatible server). */
export interface ObjectStore {
  /**
   * The object's metadata, or `undefined` if it does not exist.
   *
   * S3 answers 403, not 404, for a missing key when the caller may not list
   * the bucket (and fieldlens's role may not). Pass `forbiddenMeansAbsent`
   * where a wrong "absent" only costs a recomputation (the result check);
   * never for the source, where it could hide a permission problem.
   */
  head(ref: ObjectRef, options?: StoreCallOptions & { readonly forbiddenMeansAbsent?: boolean }): Promise<ObjectInfo | undefined>;
  /** The object's bytes, or `undefined` if it does not exist (or no longer has `etag`). */
  read(ref: ObjectRef, options: ReadOptions & StoreCallOptions): Promise<{ info: ObjectInfo; body: Buffer } | undefined>;
  /**
   * Writes a JSON document with user metadata and returns its new ETag.
   *
   * @throws {import('./errors').WriteConflictError} when `condition` fails (S3's 412, or 409 for a concurrent conditional write).
   * @throws {import('./errors').ResultWriteError} when it cannot write for any other reason.
   */
  putJson(
    ref: ObjectRef,
    value: unknown,
    metadata: Readonly<Record<string, string>>,
    options?: PutOptions,
  ): Promise<{ readonly etag: string }>;
  /**
   * Deletes an object; absent is fine. With `ifMatch`, only while it still
   * has that ETag (a lost condition is a no-op, not an error).
   */
  delete(ref: ObjectRef, options?: StoreCallOptions & { readonly ifMatch?: string }): Promise<void>;
}

/** Structured logging: one JSON line per call. Never pass image bytes or secrets. */
export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
  /** A logger that adds `data` to every line (request id, key, …). */
  child(data: Record<string, unknown>): Logger;
}

/** Time, injectable so retry and deadline logic is testable without waiting. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What became of a request to start a run. */
export type StartResult =
  | { readonly kind: 'started'; readonly executionArn: string }
  /** A run with this name exists already (or existed in the last 90 days): nothing was started. */
  | { readonly kind: 'duplicate' };

/**
 * Starts a run of the Step Functions pipeline for one object. The adapter
 * reports `ExecutionAlreadyExists` as `duplicate`, not as an error: a
 * repeated name means the object version has (had) its run already.
 */
export interface ExecutionStarter {
  /**
   * @param name the execution name; `undefined` lets Step Functions choose one
   *   (no duplicate detection then).
   * @param input the execution input, serialised as JSON.
   */
  start(name: string | undefined, input: unknown): Promise<StartResult>;
}
