/**
 * Every metric fieldlens publishes: its name, unit and the dimensions it
 * may carry. One table, read by the code that derives the metrics, by the
 * stack's dashboard and alarms, and by the docs, so a name cannot drift
 * between them.
 *
 * Pure: no Powertools, no SDK. The values become CloudWatch metrics through
 * the Embedded Metric Format in Lambda (`adapters/emf-metrics.ts`) and a
 * printed summary locally (`summary.ts`).
 *
 * Cardinality stays bounded by construction: besides the `service`
 * dimension every line carries (the stack's name), a metric has at most one
 * dimension, and its values come from a fixed set (a document status, a
 * field outcome, an error code of the one error table). Keys, field names
 * and values never become dimensions.
 */
import { ErrorCode } from '../core/errors';

/** The CloudWatch namespace of every fieldlens metric. */
export const METRICS_NAMESPACE = 'fieldlens';

/** The units fieldlens uses (CloudWatch's names). */
export type MetricUnit = 'Count' | 'Milliseconds' | 'None';

/** The dimensions a metric may carry besides `service`. */
export type MetricDimension = 'status' | 'outcome' | 'errorCode';

/** A metric's entry in the table. */
export interface MetricSpec {
  readonly unit: MetricUnit;
  /** The one dimension the metric is also published by, beside its total. */
  readonly by?: MetricDimension;
  /** What one value means. */
  readonly description: string;
}

/** The metric table. */
export const METRICS = {
  Documents: { unit: 'Count', by: 'status', description: 'result documents written, by status (complete, partial, failed, rejected)' },
  Fields: { unit: 'Count', by: 'outcome', description: 'fields asked in this run, by outcome (ok, error); kept and cached fields are not asked' },
  FieldErrors: { unit: 'Count', by: 'errorCode', description: 'failed fields, by error code' },
  FieldLatency: { unit: 'Milliseconds', description: "one field's time from its first request to its answer, retries included" },
  SlowestFieldLatency: { unit: 'Milliseconds', description: 'the slowest field of each image: what the image waited for' },
  ImageDuration: { unit: 'Milliseconds', description: "one image's time from admission to its document, rejected inputs left out" },
  ModelRequests: { unit: 'Count', description: 'HTTP requests to the model endpoint (retries and re-asks included)' },
  ModelErrors: { unit: 'Count', by: 'errorCode', description: 'requests that failed, by error code' },
  ModelLatency: { unit: 'Milliseconds', description: "one request's time, answered or failed" },
  RateLimited: { unit: 'Count', description: 'requests the endpoint refused with a rate limit; each is waited out and asked again while the deadline allows' },
  Retries: { unit: 'Count', description: 'requests sent again after a failed one for the same field (rate limits included)' },
  ReAsks: { unit: 'Count', description: 'fields asked once more after an invalid answer' },
  InputTokens: { unit: 'Count', description: 'prompt tokens the endpoint reported, cached ones included' },
  CachedInputTokens: { unit: 'Count', description: "the part of InputTokens served from the endpoint's prompt cache" },
  OutputTokens: { unit: 'Count', description: 'completion tokens the endpoint reported' },
  Cost: { unit: 'None', description: 'what the tokens of one invocation cost at the configured prices (their currency), when prices are set' },
  DuplicatesSkipped: { unit: 'Count', description: 'deliveries that cost no model call: a current final result existed, or another invocation held the lease' },
  CacheHits: { unit: 'Count', description: 'documents answered from the content cache, with no model call' },
  ReviewNeeded: { unit: 'Count', description: 'documents written with review.needed = true' },
  FleetGateUnavailable: {
    unit: 'Count',
    description: "invocations whose fleet gate store failed (FLEET_GATE_UNAVAILABLE): their requests went under the invocation's own limit",
  },
} as const satisfies Record<string, MetricSpec>;

/** A metric's name. */
export type MetricName = keyof typeof METRICS;

/** One value of one metric, with the dimension it is published by (if any). */
export interface MetricRecord {
  readonly name: MetricName;
  readonly unit: MetricUnit;
  readonly value: number;
  /** At most one, and only the metric's own `by` dimension. */
  readonly dimensions?: Readonly<Partial<Record<MetricDimension, string>>>;
}

/**
 * A value of `name`: its total, and (when `by` is given and the metric has a
 * breakdown) the same value once more under its dimension.
 *
 * @example
 * ```ts
 * metric('Documents', 1, 'complete')
 * // [{ name: 'Documents', unit: 'Count', value: 1 }, { name: 'Documents', unit: 'Count', value: 1, dimensions: { status: 'complete' } }]
 * ```
 */
export function metric(name: MetricName, value: number, by?: string): MetricRecord[] {
  const spec: MetricSpec = METRICS[name];
  const total: MetricRecord = { name, unit: spec.unit, value };
  if (by === undefined || spec.by === undefined) return [total];
  return [total, { name, unit: spec.unit, value, dimensions: { [spec.by]: by } }];
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/**
 * An error code as a dimension value: one of the error table's codes, or
 * `OTHER`, so an unexpected string can never add a dimension value.
 */
export function errorCodeDimension(code: string | undefined): string {
  return code !== undefined && KNOWN_CODES.has(code) ? code : 'OTHER';
}
