/**
 * Metrics of the model requests, measured behind the `ModelClient` port:
 * every request the core makes passes through {@link ModelMeter.wrap}, so
 * retries, rate limits, re-asks and tokens are counted where they happen,
 * the same in direct mode, the backfill and the Step Functions task, and
 * without a line of telemetry in the core.
 */
import { ErrorCode, FieldlensError } from '../core/errors';
import type { ImagePayload, ModelClient, ModelReply, ModelRequest } from '../core/ports';
import { errorCodeDimension, metric, type MetricRecord } from './catalogue';

/** Prices per million tokens, in one currency (the same shape as the pipeline's prices). */
export interface MeterPrices {
  readonly currency: string;
  readonly inputPerMillion: number;
  /** @default inputPerMillion */
  readonly cachedInputPerMillion?: number;
  readonly outputPerMillion: number;
}

/** Counts the requests of one invocation. */
export interface ModelMeter {
  /** `model`, with every request counted into this meter. */
  wrap(model: ModelClient): ModelClient;
  /**
   * What was counted, as metric records (empty when no request was made).
   * With `prices`, the tokens' cost as well.
   */
  records(prices?: MeterPrices): MetricRecord[];
}

/** Token counts of one reply: the prompt (cached part included), its cached part, the answer. */
export interface ReplyTokens {
  readonly input: number;
  readonly cached?: number;
  readonly output: number;
}

/**
 * A reply's tokens. OpenAI-compatible servers count cached tokens inside
 * the prompt; Bedrock reports its cache reads and writes apart, so they are
 * added back here (reads as cached).
 */
export function replyTokens(reply: Pick<ModelReply, 'usage' | 'cache'>): ReplyTokens | undefined {
  const u = reply.usage as (ModelReply['usage'] & { readonly cachedTokens?: number }) | undefined;
  const c = reply.cache;
  if (!u && !c) return undefined;
  const cached = u?.cachedTokens !== undefined || c ? (u?.cachedTokens ?? 0) + (c?.readTokens ?? 0) : undefined;
  return {
    input: (u?.promptTokens ?? 0) + (c ? c.readTokens + c.writeTokens : 0),
    output: u?.completionTokens ?? 0,
    ...(cached !== undefined ? { cached } : {}),
  };
}

/**
 * A meter for one invocation.
 *
 * @param now the clock the latency is measured with.
 * @example
 * ```ts
 * const meter = createModelMeter(() => Date.now());
 * await processObject({ ...deps, model: meter.wrap(deps.model) }, record, invocation);
 * telemetry.publish(meter.records());
 * ```
 */
export function createModelMeter(now: () => number): ModelMeter {
  let requests = 0;
  let rateLimited = 0;
  let retries = 0;
  let reasks = 0;
  let input = 0;
  let cached: number | undefined;
  let output = 0;
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  // Per image (the payload every field of one image shares) and field: the
  // last request failed, so the next one for it is a retry; and whether its
  // re-ask was already counted (a re-ask sent again after a failure is one re-ask).
  const failed = new WeakMap<ImagePayload, Set<string>>();
  const reasked = new WeakMap<ImagePayload, Set<string>>();
  const setOf = (map: WeakMap<ImagePayload, Set<string>>, image: ImagePayload): Set<string> => {
    let s = map.get(image);
    if (!s) map.set(image, (s = new Set()));
    return s;
  };

  const count = (request: ModelRequest): void => {
    requests++;
    const field = request.schemaName;
    const pending = setOf(failed, request.image);
    if (pending.delete(field)) retries++;
    if (request.followUp.length > 0) {
      const seen = setOf(reasked, request.image);
      if (!seen.has(field)) {
        seen.add(field);
        reasks++;
      }
    }
  };

  return {
    wrap(model) {
      return {
        modelName: model.modelName,
        async complete(request, options) {
          count(request);
          const started = now();
          try {
            const reply = await model.complete(request, options);
            const tokens = replyTokens(reply);
            if (tokens) {
              input += tokens.input;
              output += tokens.output;
              if (tokens.cached !== undefined) cached = (cached ?? 0) + tokens.cached;
            }
            return reply;
          } catch (err) {
            const code = err instanceof FieldlensError ? err.code : ErrorCode.INTERNAL;
            if (code === ErrorCode.MODEL_RATE_LIMITED) rateLimited++;
            errors.set(errorCodeDimension(code), (errors.get(errorCodeDimension(code)) ?? 0) + 1);
            setOf(failed, request.image).add(request.schemaName);
            throw err;
          } finally {
            latencies.push(Math.max(0, Math.round(now() - started)));
          }
        },
      };
    },
    records(prices) {
      if (requests === 0) return [];
      const records: MetricRecord[] = [
        ...metric('ModelRequests', requests),
        ...latencies.flatMap((ms) => metric('ModelLatency', ms)),
        ...metric('RateLimited', rateLimited),
        ...metric('Retries', retries),
        ...metric('ReAsks', reasks),
        ...metric('InputTokens', input),
        ...metric('OutputTokens', output),
      ];
      if (cached !== undefined) records.push(...metric('CachedInputTokens', cached));
      let errorTotal = 0;
      for (const [code, n] of errors) {
        errorTotal += n;
        records.push(...metric('ModelErrors', n, code).slice(1));
      }
      records.push(...metric('ModelErrors', errorTotal));
      if (prices) records.push(...metric('Cost', costOf({ input, cached: cached ?? 0, output }, prices)));
      return records;
    },
  };
}

/** Cost at `prices`, to 8 decimal places (far below any bill's, free of float noise). */
function costOf(t: { input: number; cached: number; output: number }, p: MeterPrices): number {
  const cached = Math.min(t.input, t.cached);
  const total =
    ((t.input - cached) * p.inputPerMillion + cached * (p.cachedInputPerMillion ?? p.inputPerMillion) + t.output * p.outputPerMillion) / 1e6;
  return Math.round(total * 1e8) / 1e8;
}
