/**
 * The fan-out: every field of one image asked at once, under a concurrency
 * cap and one deadline. Total time ≈ the slowest single field.
 *
 * A field never throws out of here: its failure becomes a `FieldOutcome`
 * with an error code, and the other fields are kept.
 */
import { answerJsonSchema, parseAnswer, reaskTurns, SYSTEM_PROMPT } from './answer';
import { valueConfidence } from './confidence';
import type { Gate } from './adaptive-limit';
import { AnswerError, ErrorCode, FieldlensError, ModelError, toErrorInfo } from './errors';
import type { FieldSet, FieldSpec } from './fields';
import type { ChatTurn, Clock, ImagePayload, Logger, ModelClient, ModelReply } from './ports';
import type { FieldOutcome, Usage } from './document';
import { decideRetry } from './retry';
import type { ModelSettings } from './settings';
import { addUsage, replyUsage } from './usage';

export interface ExtractOptions extends ModelSettings {
  readonly image: ImagePayload;
  readonly fields: FieldSet;
  readonly model: ModelClient;
  /** The invocation's deadline; every request and wait honours it. */
  readonly deadline: AbortSignal;
  /** When the deadline's signal fires, in the clock's epoch milliseconds. */
  readonly deadlineAt: number;
  /**
   * The invocation's request gate (`createLimit`, or `createAdaptiveLimit`
   * to back off under throttling): every attempt of this image (and of the
   * other images of the same invocation) passes through it, so the cap holds
   * for the invocation as a whole. It wraps each attempt, not the field: a
   * field waiting to retry holds no slot.
   */
  readonly limit: Gate;
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
  return Promise.all(options.fields.map((field) => extractField(field, options)));
}

/** Whether a failed attempt was the endpoint refusing for load: what makes an adaptive gate back off. */
export function isThrottle(err: unknown): boolean {
  return err instanceof ModelError && (err.code === ErrorCode.MODEL_RATE_LIMITED || err.status === 503);
}

const ungated: Gate = (task) => task();

/**
 * One field, start to finish: transport retries with backoff, one re-ask on
 * an invalid answer, usage summed over every attempt. Each attempt passes
 * through `o.limit` when given (the Step Functions task asks one field and
 * has none).
 */
export async function extractField(
  field: FieldSpec,
  o: Omit<ExtractOptions, 'fields' | 'limit'> & { readonly limit?: Gate },
): Promise<FieldOutcome> {
  // Latency runs from the field's first request, not from when it was
  // queued behind other fields: with a cap of 1 each field still reports its
  // own time. Until it is admitted, it runs from here.
  let started = o.clock.now();
  let admitted = false;
  const gate = o.limit ?? ungated;
  const random = o.random ?? Math.random;
  let usage: Usage | undefined;
  let attempts = 0;
  let retries = 0;
  let rateLimitWaits = 0;
  // The last attempt was refused for load: the next one goes by hand-off (see adaptive-limit.ts).
  let refusedForLoad = false;
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
      ...(usage ? { usage } : {}),
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
    let limitIsDeadline = false;
    let reply: ModelReply;
    try {
      reply = await gate(async (feedback) => {
        if (!admitted) {
          admitted = true;
          started = o.clock.now();
        }
        // The deadline may have passed while the attempt waited for a slot.
        if (o.deadline.aborted) throw deadlineError(o.deadline);
        const remaining = o.deadlineAt - o.clock.now();
        // When the deadline is nearer than MODEL_TIMEOUT_MS it is the attempt's
        // limit, and the attempt timing out means the deadline passed (the two
        // timers fire together; either may be seen first).
        const attemptMs = Math.max(1, Math.min(o.timeoutMs, remaining));
        limitIsDeadline = attemptMs < o.timeoutMs;
        attempts++;
        try {
          const answered = await o.model.complete(
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
          feedback?.succeeded();
          return answered;
        } catch (err) {
          if (isThrottle(err)) feedback?.throttled();
          throw err;
        }
      }, { handOff: refusedForLoad });
    } catch (err) {
      refusedForLoad = isThrottle(err);
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

    refusedForLoad = false;
    const used = replyUsage(reply);
    if (used) usage = addUsage(usage, used);
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
