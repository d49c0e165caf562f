/**
 * Metrics of the model requests, measured behind the `ModelClient` port:
 * every request the core makes passes through {@link ModelMeter.wrap}, so
 * retries, rate limits, re-asks and tokens are counted where they happen,
 * the same in direct mode, the backfill and the Step Functions task, and
 * without a line of telemetry in the core.
 */
import { costOf, type TokenPrices } from '../core/cost';
import type { Usage } from '../core/document';
import { ErrorCode, FieldlensError } from '../core/errors';
import type { ImagePayload, ModelClient, ModelRequest } from '../core/ports';
import { addUsage, replyUsage } from '../core/usage';
import { errorCodeDimension, metric, type MetricRecord } from './catalogue';

/** Counts the requests of one invocation. */
export interface ModelMeter {
  /** `model`, with every request counted into this meter. */
  wrap(model: ModelClient): ModelClient;
  /**
   * What was counted, as metric records (empty when no request was made).
   * With `prices`, the tokens' cost as well (`cost.ts`, as in the documents).
   */
  records(prices?: TokenPrices): MetricRecord[];
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
  // Every reply's usage in the one meaning of `usage.ts` (Bedrock's cache reads and writes added back).
  let usage: Usage | undefined;
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
            const used = replyUsage(reply);
            if (used) usage = addUsage(usage, used);
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
        ...metric('InputTokens', usage?.promptTokens ?? 0),
        ...metric('OutputTokens', usage?.completionTokens ?? 0),
      ];
      if (usage?.cachedTokens !== undefined) records.push(...metric('CachedInputTokens', usage.cachedTokens));
      let errorTotal = 0;
      for (const [code, n] of errors) {
        errorTotal += n;
        records.push(...metric('ModelErrors', n, code).slice(1));
      }
      records.push(...metric('ModelErrors', errorTotal));
      if (prices) records.push(...metric('Cost', costOf(usage, prices).total));
      return records;
    },
  };
}
