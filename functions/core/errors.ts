/**
 * Every error fieldlens raises on purpose is a {@link FieldlensError}: a fixed
 * `name`, a stable machine-readable `code` (what tests, logs, alarms and the
 * result document key on) and the original failure as `cause`.
 *
 * A field's failure is data in the result document, so most of these never
 * escape an invocation; they are caught at the field boundary and recorded
 * as `{ code, message }`.
 */

/** Stable codes. Renaming one is a breaking change for users' alarms and queries. */
export const ErrorCode = {
  /** The Lambda environment is missing a variable or holds a bad value. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** The field set (`FIELDS` or the built-in set) is not valid. */
  FIELDS_INVALID: 'FIELDS_INVALID',
  /** One attempt took longer than `MODEL_TIMEOUT_MS`. */
  MODEL_TIMEOUT: 'MODEL_TIMEOUT',
  /** The invocation's deadline arrived before the field had an answer. */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  /** The endpoint could not be reached, or the connection broke. */
  MODEL_CONNECTION: 'MODEL_CONNECTION',
  /** 429 that stayed after every retry. */
  MODEL_RATE_LIMITED: 'MODEL_RATE_LIMITED',
  /** 429 with `insufficient_quota`: retrying cannot help. */
  MODEL_QUOTA_EXCEEDED: 'MODEL_QUOTA_EXCEEDED',
  /** 5xx (or 408/409) that stayed after every retry. */
  MODEL_SERVER_ERROR: 'MODEL_SERVER_ERROR',
  /** 400/404/413/422 and other client errors: the request itself is wrong. */
  MODEL_BAD_REQUEST: 'MODEL_BAD_REQUEST',
  /** 401/403: the key is missing or refused. */
  MODEL_UNAUTHORIZED: 'MODEL_UNAUTHORIZED',
  /** The response was not an OpenAI chat completion. */
  MODEL_BAD_RESPONSE: 'MODEL_BAD_RESPONSE',
  /** `finish_reason: "length"`: the answer was cut off by the token limit. */
  MODEL_TRUNCATED: 'MODEL_TRUNCATED',
  /** The answer was not valid JSON or failed the field's schema, even after the re-ask. */
  ANSWER_INVALID: 'ANSWER_INVALID',
  /** A required field came back `null`. */
  ANSWER_MISSING: 'ANSWER_MISSING',
  /** The object is empty. */
  INPUT_EMPTY: 'INPUT_EMPTY',
  /** The object's bytes are not JPEG, PNG, WebP or GIF. */
  INPUT_NOT_IMAGE: 'INPUT_NOT_IMAGE',
  /** The object is larger than `MAX_IMAGE_BYTES`. */
  INPUT_TOO_LARGE: 'INPUT_TOO_LARGE',
  /**
   * The source key cannot have a result at its own place: the result key
   * would pass S3's 1,024-byte limit, or the key has `.`, `..` or empty path
   * segments. Its `rejected` document goes to a fallback key instead.
   */
  INPUT_KEY_INVALID: 'INPUT_KEY_INVALID',
  /** The object was gone (deleted or replaced) when it was read. */
  OBJECT_NOT_FOUND: 'OBJECT_NOT_FOUND',
  /** The event is not an S3 event fieldlens understands. */
  EVENT_INVALID: 'EVENT_INVALID',
  /**
   * A Step Functions task failed as a whole (its Lambda crashed, timed out or
   * was throttled past its retries); the message names the task's error.
   */
  TASK_FAILED: 'TASK_FAILED',
  /** A result document could not be written: the invocation fails so the event is retried. */
  RESULT_WRITE_FAILED: 'RESULT_WRITE_FAILED',
  /**
   * A conditional write found the object changed (S3's 412 Precondition
   * Failed, or 409 for a concurrent conditional write): someone else wrote
   * first. Never final on its own; the writer looks again and decides.
   */
  WRITE_CONFLICT: 'WRITE_CONFLICT',
  /**
   * An object (the image, or an earlier result's metadata) could not be read
   * for a reason other than its absence (permissions, throttling, a broken
   * connection): the invocation fails so the event is retried.
   */
  OBJECT_READ_FAILED: 'OBJECT_READ_FAILED',
  /** The Step Functions starter could not start a run: the invocation fails so the event is retried. */
  RUN_START_FAILED: 'RUN_START_FAILED',
  /**
   * The document was written, but every field failed for a passing reason:
   * the invocation fails on purpose so the platform retries it (and, in the
   * end, the dead-letter queue has it); the retry asks only the failed fields.
   */
  RESULT_RETRYABLE: 'RESULT_RETRYABLE',
  /** Something failed that has no more specific code. */
  INTERNAL: 'INTERNAL',
  /** A CDK context value is missing or invalid; the message names the key and what it expected. */
  CONTEXT_INVALID: 'CONTEXT_INVALID',
  /** Stack or construct props that cannot describe a working deployment, rejected at synth. */
  PROPS_INVALID: 'PROPS_INVALID',
  /**
   * The model endpoint's response body was larger than the client's limit
   * (8 MiB by default): reading stopped at the limit. Not retried: the same
   * request sends the same body again, and a body that large means a
   * misconfigured endpoint.
   */
  MODEL_RESPONSE_TOO_LARGE: 'MODEL_RESPONSE_TOO_LARGE',
  /**
   * Every item of a backfill batch failed (the bucket unreadable, the
   * results unwritable): the batch fails as a whole, so the Distributed
   * Map retries it and counts it against its tolerated failures. Items that
   * fail alone are listed in the batch's output instead.
   */
  BACKFILL_BATCH_FAILED: 'BACKFILL_BATCH_FAILED',
  /**
   * The fleet gate's store (the shared in-flight count, DynamoDB in the
   * stack) failed: the invocation goes on under its local limit alone, with
   * the endpoint's throttling and the retry rules still in force. A warning,
   * never a field's error.
   */
  FLEET_GATE_UNAVAILABLE: 'FLEET_GATE_UNAVAILABLE',
  /** A command (`npm run backfill`, `npm run redrive`) cannot run as asked: its arguments, or the stack it needs; the message says what to change. */
  COMMAND_INVALID: 'COMMAND_INVALID',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Failures for a passing reason: another try later may succeed. A document
 * with a field failed for one of these is `retryable`; every other failure
 * (a refused request, an invalid answer after the re-ask, a rejected input)
 * is final and is never asked again for the same image and configuration.
 */
export const TRANSIENT_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.MODEL_CONNECTION,
  ErrorCode.MODEL_TIMEOUT,
  ErrorCode.MODEL_SERVER_ERROR,
  ErrorCode.MODEL_RATE_LIMITED,
  ErrorCode.DEADLINE_EXCEEDED,
  ErrorCode.TASK_FAILED,
]);

/** Extra facts worth logging with an error; never secrets, never image bytes. */
export type ErrorContext = Readonly<Record<string, unknown>>;

export interface FieldlensErrorOptions extends ErrorOptions {
  readonly context?: ErrorContext;
}

/**
 * Base class of every fieldlens error.
 *
 * @example
 * ```ts
 * try { … } catch (err) {
 *   if (err instanceof FieldlensError && err.code === ErrorCode.INPUT_TOO_LARGE) …
 * }
 * ```
 */
export class FieldlensError extends Error {
  override name = 'FieldlensError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: FieldlensErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
  }

  /** The `{ code, message }` pair the result document records. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/**
 * The base of an error class whose code is fixed: the class names itself
 * and its code once, and takes a message and options like any error.
 *
 * @example
 * ```ts
 * export class ConfigError extends withCode(ErrorCode.CONFIG_INVALID, 'ConfigError') {}
 * ```
 */
export function withCode(code: ErrorCode, name: string) {
  return class extends FieldlensError {
    override name = name;
    constructor(message: string, options: FieldlensErrorOptions = {}) {
      super(code, message, options);
    }
  };
}

/** Bad configuration: stops start-up, naming the variable and what it expected. */
export class ConfigError extends withCode(ErrorCode.CONFIG_INVALID, 'ConfigError') {}

/** A field set that cannot be used, naming the field and the problem. */
export class FieldSetError extends withCode(ErrorCode.FIELDS_INVALID, 'FieldSetError') {}

/** The object cannot be processed; becomes a `rejected` document, costs no model call. */
export class InputRejectedError extends FieldlensError {
  override name = 'InputRejectedError';
  constructor(
    code:
      | typeof ErrorCode.INPUT_EMPTY
      | typeof ErrorCode.INPUT_NOT_IMAGE
      | typeof ErrorCode.INPUT_TOO_LARGE
      | typeof ErrorCode.INPUT_KEY_INVALID,
    message: string,
    options: FieldlensErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/**
 * A failure talking to the model endpoint. The adapter classifies it once
 * (`retryable`, `retryAfterMs`) so the retry policy in the core never has to
 * know about HTTP libraries.
 */
export class ModelError extends FieldlensError {
  override name = 'ModelError';
  /** Whether another attempt may succeed (connection errors, 408, 409, 429, 5xx, timeouts). */
  readonly retryable: boolean;
  /** The server's own wait hint (`retry-after-ms` / `Retry-After`), if it gave one. */
  readonly retryAfterMs: number | undefined;
  /** HTTP status, when there was a response. */
  readonly status: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: FieldlensErrorOptions & { retryable: boolean; retryAfterMs?: number; status?: number },
  ) {
    super(code, message, options);
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}

/** The model's text could not be turned into a valid value for the field. */
export class AnswerError extends FieldlensError {
  override name = 'AnswerError';
  constructor(
    code: typeof ErrorCode.ANSWER_INVALID | typeof ErrorCode.ANSWER_MISSING | typeof ErrorCode.MODEL_TRUNCATED,
    message: string,
    options: FieldlensErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/** The object named by the event no longer exists (or changed under us). */
export class ObjectNotFoundError extends withCode(ErrorCode.OBJECT_NOT_FOUND, 'ObjectNotFoundError') {}

/**
 * One or more result documents of an invocation could not be written. It
 * fails the invocation on purpose: Lambda retries the event and, in the end,
 * the dead-letter queue has it.
 */
export class ResultWriteError extends withCode(ErrorCode.RESULT_WRITE_FAILED, 'ResultWriteError') {}

/** A conditional write lost a race; the caller looks again (see {@link ErrorCode.WRITE_CONFLICT}). */
export class WriteConflictError extends withCode(ErrorCode.WRITE_CONFLICT, 'WriteConflictError') {}

/**
 * An object could not be read for a reason other than its absence. It fails
 * the invocation on purpose, like {@link ResultWriteError}.
 */
export class ObjectReadError extends withCode(ErrorCode.OBJECT_READ_FAILED, 'ObjectReadError') {}

/** A document was written but failed for a passing reason; the platform retries the event. */
export class RetryableResultError extends withCode(ErrorCode.RESULT_RETRYABLE, 'RetryableResultError') {}

/** The starter could not start one or more runs; Lambda retries the event. */
export class RunStartError extends withCode(ErrorCode.RUN_START_FAILED, 'RunStartError') {}

/** Every item of a backfill batch failed; see {@link ErrorCode.BACKFILL_BATCH_FAILED}. */
export class BackfillBatchError extends withCode(ErrorCode.BACKFILL_BATCH_FAILED, 'BackfillBatchError') {}

/** A command cannot run as asked; see {@link ErrorCode.COMMAND_INVALID}. */
export class CommandError extends withCode(ErrorCode.COMMAND_INVALID, 'CommandError') {}

/**
 * Some records of an invocation could not be finished. It carries the code
 * of the first failure (a failed read stays `OBJECT_READ_FAILED`, a failed
 * write `RESULT_WRITE_FAILED`), so the logs and the dead-letter queue say
 * what actually went wrong.
 */
export class RecordsFailedError extends FieldlensError {
  override name = 'RecordsFailedError';
  constructor(failures: readonly unknown[]) {
    const first = toErrorInfo(failures[0]);
    super(first.code, `${failures.length} record(s) could not be finished: ${first.message}`, { cause: failures[0] });
  }
}

/**
 * Turns anything thrown into the `{ code, message }` the result document
 * records. Unknown errors keep their message but get `INTERNAL`.
 */
export function toErrorInfo(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof FieldlensError) return err.toJSON();
  if (err instanceof Error) return { code: ErrorCode.INTERNAL, message: err.message };
  return { code: ErrorCode.INTERNAL, message: String(err) };
}
