/**
 * The fan-out: every field of one image asked at once, under a concurrency
 * cap and one deadline. Total time ≈ the slowest single field.
 *
 * A field never throws out of here: its failure becomes a `FieldOutcome`
 * with an error code, and the other fields are kept.
 */
import { answerJsonSchema, parseAnswer, reaskTurns, SYSTEM_PROMPT } from './answer';
import { valueConfidence } from './confidence';
import { AnswerError, ErrorCode, FieldlensError, ModelError, toErrorInfo } from './errors';
import type { FieldSet, FieldSpec } from './fields';
import type { Limit } from './limit';
import type { ChatTurn, Clock, ImagePayload, Logger, ModelClient, ModelReply } from './ports';
import type { FieldOutcome, Usage } from './document';
import { decideRetry } from './retry';
import type { ModelSettings } from './settings';

export interface ExtractOptions extends ModelSettings {
  readonly image: ImagePayload;
  readonly fields: FieldSet;
  readonly model: ModelClient;
  /** The invocation's deadline; every request and wait honours it. */
  readonly deadline: AbortSignal;
  /** When the deadline's signal fires, in the clock's epoch milliseconds. */
  readonly deadlineAt: number;
  /**
   * The invocation's request gate: every request of this image (and of the
   * other images of the same invocation) passes through it, so the cap holds
   * for the invocation as a whole.
   */
  readonly limit: Limit;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Source of jitter; injectable for tests. @default Math.random */
  readonly random?: () => number;
}

/**
 * Asks every field at once and returns one outcome per field, in field order.
 *
 * @example
 * ```ts
 * const outcomes = await extractFields({ image, fields, model, deadline: d.signal, deadlineAt: d.at,
 *   limit: createLimit(5), timeoutMs: 60_000, maxRetries: 3, maxTokens: 1024, clock: systemClock, logger });
 * ```
 */
export async function extractFields(options: ExtractOptions): Promise<FieldOutcome[]> {
  return Promise.all(options.fields.map((field) => options.limit(() => extractField(field, options))));
}

/**
 * One field, start to finish: transport retries with backoff, one re-ask on
 * an invalid answer, usage summed over every attempt.
 */
export async function extractField(field: FieldSpec, o: Omit<ExtractOptions, 'fields' | 'limit'>): Promise<FieldOutcome> {
  const started = o.clock.now();
  const random = o.random ?? Math.random;
  const usage: Usage = { promptTokens: 0, completionTokens: 0 };
  let sawUsage = false;
  let attempts = 0;
  let retries = 0;
  let rateLimitWaits = 0;
  let followUp: readonly ChatTurn[] = [];

  // `accepted`: the reply whose answer became the value, for its confidence.
  const finish = (value: unknown, error?: FieldlensError | unknown, accepted?: ModelReply): FieldOutcome => {
    const latencyMs = Math.max(0, Math.round(o.clock.now() - started));
    const reasked = followUp.length > 0;
    // Absent when log-probabilities were not asked for; `null` when asked and not sent.
    const confidence =
      accepted && accepted.logprobs !== undefined ? (valueConfidence(accepted.logprobs)?.confidence ?? null) : undefined;
    const result = {
      status: error === undefined ? ('ok' as const) : ('error' as const),
      attempts,
      latencyMs,
      ...(sawUsage ? { usage: { ...usage } } : {}),
      ...(error === undefined ? {} : { error: toErrorInfo(error) }),
      ...(confidence !== undefined ? { confidence } : {}),
      ...(reasked ? { reasked } : {}),
    };
    o.logger.info('field finished', {
      field: field.name,
      status: result.status,
      attempts,
      latencyMs,
      ...(result.error ? { error: result.error } : {}),
      ...(confidence !== undefined ? { confidence } : {}),
      ...(reasked ? { reasked } : {}),
    });
    return { name: field.name, value: error === undefined ? value : null, result };
  };

  for (;;) {
    if (o.deadline.aborted) return finish(null, deadlineError(o.deadline));
    const remaining = o.deadlineAt - o.clock.now();
    // When the deadline is nearer than MODEL_TIMEOUT_MS it is the attempt's
    // limit, and the attempt timing out means the deadline passed (the two
    // timers fire together; either may be seen first).
    const attemptMs = Math.max(1, Math.min(o.timeoutMs, remaining));
    const limitIsDeadline = attemptMs < o.timeoutMs;
    attempts++;
    let reply: ModelReply;
    try {
      reply = await o.model.complete(
        {
          image: o.image,
          system: SYSTEM_PROMPT,
          prompt: field.prompt,
          followUp,
          schemaName: field.name,
          answerSchema: answerJsonSchema(field),
          maxTokens: o.maxTokens,
        },
        { signal: o.deadline, timeoutMs: attemptMs },
      );
    } catch (err) {
      const timedOut = err instanceof ModelError && err.code === ErrorCode.MODEL_TIMEOUT;
      if (o.deadline.aborted || (limitIsDeadline && timedOut)) return finish(null, deadlineError(o.deadline, err));
      const modelErr = err instanceof ModelError ? err : undefined;
      // A rate limit is the endpoint asking us to wait, not a failure: it does
      // not use up MODEL_MAX_RETRIES and only the deadline ends it, so
      // throttling alone never fails a field.
      const rateLimited = modelErr?.code === ErrorCode.MODEL_RATE_LIMITED;
      const decision = decideRetry({
        retryable: modelErr?.retryable ?? false,
        retriesSoFar: rateLimited ? rateLimitWaits : retries,
        retryAfterMs: modelErr?.retryAfterMs,
        remainingMs: o.deadlineAt - o.clock.now(),
        policy: { maxRetries: rateLimited ? Number.POSITIVE_INFINITY : o.maxRetries },
        random: random(),
        throttled: rateLimited,
      });
      // `finish` tells success from failure by `error === undefined`; a client
      // that rejects with nothing must still count as failed.
      if (!decision.retry) {
        return finish(null, err ?? new FieldlensError(ErrorCode.INTERNAL, `the model client failed with ${err}`));
      }
      o.logger.debug('retrying field', {
        field: field.name,
        attempt: attempts,
        delayMs: decision.delayMs,
        error: toErrorInfo(err),
      });
      if (rateLimited) rateLimitWaits++;
      else retries++;
      try {
        await o.clock.sleep(decision.delayMs, o.deadline);
      } catch {
        return finish(null, deadlineError(o.deadline, err));
      }
      continue;
    }

    if (reply.usage) {
      sawUsage = true;
      usage.promptTokens += reply.usage.promptTokens;
      usage.completionTokens += reply.usage.completionTokens;
    }
    if (reply.finishReason === 'length') {
      // Truncated JSON can parse into a shorter, wrong list; never trust it.
      return finish(
        null,
        new AnswerError(ErrorCode.MODEL_TRUNCATED, `the answer was cut off at max_tokens (${o.maxTokens})`),
      );
    }
    const parsed = parseAnswer(reply.text, field);
    if (parsed.ok) {
      if (parsed.value === null && field.required) {
        return finish(null, new AnswerError(ErrorCode.ANSWER_MISSING, `required field "${field.name}" was not found`));
      }
      return finish(parsed.value, undefined, reply);
    }
    if (followUp.length > 0) {
      return finish(null, new AnswerError(ErrorCode.ANSWER_INVALID, `invalid answer after a re-ask: ${parsed.error}`));
    }
    followUp = reaskTurns(reply.text, parsed.error, field);
  }
}

function deadlineError(signal: AbortSignal, cause?: unknown): FieldlensError {
  const reason: unknown = signal.reason;
  if (reason instanceof FieldlensError) return reason;
  return new FieldlensError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed', { cause });
}
