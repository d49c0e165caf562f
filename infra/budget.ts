/**
 * The model endpoint's capacity, turned into limits the platform enforces.
 *
 * An endpoint serves `C` requests at once; every image asks `F` questions.
 * One invocation keeps `perImage` requests in flight (`MODEL_MAX_CONCURRENCY`)
 * and the platform runs at most `concurrentImages` invocations at once
 * (reserved concurrency, an SQS event source's maximum concurrency), so the
 * whole deployment never has more than `perImage × concurrentImages ≤ C`
 * requests in flight.
 *
 * With Step Functions, `perImage` is the Map state's `MaxConcurrency`. That
 * limit counts the iterations of one execution only, so it cannot bound the
 * runs at once; the ExtractField function's reserved concurrency of
 * `maxInFlight` does (one request per invocation), and a throttled field task
 * waits in Step Functions' retry until a slot is free. An inline Map runs at
 * most {@link INLINE_MAP_MAX_CONCURRENCY} iterations at once, so its
 * `MaxConcurrency` is capped there (with a synth warning).
 *
 * The split favours the latency of one image: all of an image's fields go out
 * together when the endpoint can take them (`perImage = min(F, C)`), and the
 * rest of the capacity decides how many images run side by side. A 10-request
 * endpoint with 5 fields therefore processes 2 images at a time.
 *
 * Pure: no CDK, no I/O, so the Step Functions pipeline can reuse it.
 */

/**
 * The most iterations a Step Functions inline Map runs at once, whatever its
 * `MaxConcurrency` says.
 */
export const INLINE_MAP_MAX_CONCURRENCY = 40;

/** How images reach the function; each trigger bounds how many run at once differently. */
export type TriggerKind = 'direct' | 'queue';

/** The range of concurrently running images a trigger's platform limit can express. */
export interface ConcurrentImageLimits {
  /** Fewest images the platform limit can allow at once. */
  readonly min: number;
  /** Most images the platform limit can allow at once. */
  readonly max: number;
}

/**
 * What each trigger's platform limit can express.
 *
 * - `direct`: reserved concurrency, 1 or more.
 * - `queue`: an SQS event source mapping's `maximumConcurrency`, 2 to 1000.
 */
export const TRIGGER_LIMITS: Readonly<Record<TriggerKind, ConcurrentImageLimits>> = Object.freeze({
  direct: Object.freeze({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  queue: Object.freeze({ min: 2, max: 1000 }),
});

/** Inputs of {@link endpointBudget}. */
export interface EndpointBudgetInput {
  /** Requests the endpoint serves at once (`C`, the `modelMaxConcurrency` context key). */
  readonly capacity: number;
  /** Questions asked per image (`F`, the size of the field set). */
  readonly fieldCount: number;
  /**
   * What the platform limit can express.
   * @default TRIGGER_LIMITS.direct
   */
  readonly limits?: ConcurrentImageLimits;
  /**
   * The most requests one image can have in flight, whatever the capacity
   * (the Step Functions fan-out: {@link INLINE_MAP_MAX_CONCURRENCY}).
   * @default no limit
   */
  readonly perImageMax?: number;
}

/** The limits derived from an endpoint's capacity. */
export interface EndpointBudget {
  /** Requests one invocation keeps in flight: the function's `MODEL_MAX_CONCURRENCY`. */
  readonly perImage: number;
  /** Images processed at once: reserved concurrency or the event source's maximum concurrency. */
  readonly concurrentImages: number;
  /** `perImage × concurrentImages`: the most requests the deployment sends at once, never above `capacity`. */
  readonly maxInFlight: number;
  /** Waves of requests one image needs, `ceil(F / perImage)`: 1 means every field is asked at once. */
  readonly roundsPerImage: number;
}

/**
 * Splits an endpoint's capacity between fields of one image and images at once.
 *
 * @throws {TypeError} when an argument is not a positive whole number.
 * @throws {RangeError} when the capacity is below what the platform limit can
 *   express (an SQS event source always allows 2 invocations, so a 1-request
 *   endpoint cannot be protected by it).
 * @example
 * ```ts
 * endpointBudget({ capacity: 10, fieldCount: 5 });
 * // → { perImage: 5, concurrentImages: 2, maxInFlight: 10, roundsPerImage: 1 }
 * ```
 */
export function endpointBudget(input: EndpointBudgetInput): EndpointBudget {
  const { capacity, fieldCount, limits = TRIGGER_LIMITS.direct, perImageMax = Number.MAX_SAFE_INTEGER } = input;
  requirePositiveInteger('capacity', capacity);
  requirePositiveInteger('fieldCount', fieldCount);
  requirePositiveInteger('perImageMax', perImageMax);
  requirePositiveInteger('limits.min', limits.min);
  requirePositiveInteger('limits.max', limits.max);
  if (limits.max < limits.min) {
    throw new TypeError(`expected limits.max (${limits.max}) to be at least limits.min (${limits.min})`);
  }
  if (capacity < limits.min) {
    throw new RangeError(
      `an endpoint capacity of ${capacity} cannot be kept: the platform limit runs at least ${limits.min} ` +
        `invocations at once, so the capacity must be at least ${limits.min}`,
    );
  }

  let perImage = Math.min(fieldCount, capacity, perImageMax);
  const concurrentImages = clamp(Math.floor(capacity / perImage), limits.min, limits.max);
  // Raising the image count to the platform's minimum leaves less for each image.
  perImage = Math.min(perImage, Math.floor(capacity / concurrentImages));

  return Object.freeze({
    perImage,
    concurrentImages,
    maxInFlight: perImage * concurrentImages,
    roundsPerImage: Math.ceil(fieldCount / perImage),
  });
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`expected ${name} to be a whole number of at least 1, got ${String(value)}`);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** An Amazon Bedrock quota for one model in one region (Service Quotas: "On-demand model inference …"). */
export interface BedrockQuota {
  /** Requests per minute the account may send the model. */
  readonly requestsPerMinute: number;
  /** Tokens per minute (input + output) the account may spend on the model. */
  readonly tokensPerMinute: number;
  /** Tokens one field's request costs, input and output (an image is about 1,600 for Claude at 1.15 MP). @default 2000 */
  readonly tokensPerRequest?: number;
  /** Seconds one request takes, on average. @default 3 */
  readonly secondsPerRequest?: number;
}

/** What {@link bedrockCapacity} assumes for the figures a quota leaves out. */
export const BEDROCK_QUOTA_DEFAULTS = Object.freeze({ tokensPerRequest: 2000, secondsPerRequest: 3 });

/**
 * The requests in flight a Bedrock quota sustains, by Little's law
 * (in flight = arrival rate × time in the system):
 *
 * `C = floor(min(RPM, TPM / tokensPerRequest) × secondsPerRequest / 60)`, at least 1.
 *
 * The assumption is `secondsPerRequest`: a faster model drains the quota
 * with fewer requests in flight, so overestimating it overshoots the quota
 * and the surplus comes back as ThrottlingException, which the core retries.
 *
 * @example
 * ```ts
 * bedrockCapacity({ requestsPerMinute: 200, tokensPerMinute: 200_000, tokensPerRequest: 2_000, secondsPerRequest: 3 }); // 5
 * ```
 */
export function bedrockCapacity(quota: BedrockQuota): number {
  const { requestsPerMinute: rpm, tokensPerMinute: tpm } = quota;
  const tokensPerRequest = quota.tokensPerRequest ?? BEDROCK_QUOTA_DEFAULTS.tokensPerRequest;
  const seconds = quota.secondsPerRequest ?? BEDROCK_QUOTA_DEFAULTS.secondsPerRequest;
  for (const [name, v] of Object.entries({ requestsPerMinute: rpm, tokensPerMinute: tpm, tokensPerRequest, secondsPerRequest: seconds })) {
    if (!Number.isFinite(v) || v <= 0) throw new TypeError(`Expected ${name} to be a positive number, got ${v}`);
  }
  const requestsPerMinute = Math.min(rpm, tpm / tokensPerRequest);
  return Math.max(1, Math.floor((requestsPerMinute * seconds) / 60));
}
