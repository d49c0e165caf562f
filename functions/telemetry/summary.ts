/**
 * The metrics of a local run in a few lines: `npm start` and `npm run soak`
 * collect the same metric records the handler publishes in Lambda (see
 * `catalogue.ts`) and print this summary of them.
 */
import type { MetricName, MetricRecord } from './catalogue';

/** Where a runtime sends its metric records. */
export interface MetricsSink {
  publish(records: readonly MetricRecord[]): void;
}

/** A sink that keeps every record, for a summary at the end of a run. */
export interface MetricsCollector extends MetricsSink {
  readonly records: readonly MetricRecord[];
}

/** A {@link MetricsCollector}. */
export function createMetricsCollector(): MetricsCollector {
  const records: MetricRecord[] = [];
  return {
    records,
    publish: (r) => void records.push(...r),
  };
}

/** Totals of one metric: the sum of its values, their count, median and maximum. */
export interface MetricTotals {
  readonly sum: number;
  readonly count: number;
  readonly p50: number;
  readonly max: number;
}

/** The records, added up: per metric (totals only), and per metric and dimension value. */
export interface MetricsSummary {
  readonly totals: Readonly<Partial<Record<MetricName, MetricTotals>>>;
  /** `by.Documents.complete`: the sum of the Documents values published with `status=complete`. */
  readonly by: Readonly<Partial<Record<MetricName, Readonly<Record<string, number>>>>>;
}

/** Adds the records up. */
export function summariseMetrics(records: readonly MetricRecord[]): MetricsSummary {
  const values = new Map<MetricName, number[]>();
  const by: Partial<Record<MetricName, Record<string, number>>> = {};
  for (const r of records) {
    const dims = r.dimensions ? Object.values(r.dimensions) : [];
    if (dims.length === 0) {
      const list = values.get(r.name) ?? [];
      list.push(r.value);
      values.set(r.name, list);
    } else {
      const bucket = (by[r.name] ??= {});
      const dim = dims.join('/');
      bucket[dim] = (bucket[dim] ?? 0) + r.value;
    }
  }
  const totals: Partial<Record<MetricName, MetricTotals>> = {};
  for (const [name, list] of values) {
    const sorted = [...list].sort((a, b) => a - b);
    totals[name] = {
      sum: round(sorted.reduce((a, b) => a + b, 0)),
      count: sorted.length,
      p50: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
      max: sorted[sorted.length - 1] ?? 0,
    };
  }
  return { totals, by };
}

/**
 * The summary as a few lines of text.
 *
 * @example
 * ```ts
 * console.log(formatMetricsSummary(summariseMetrics(collector.records)).join('\n'));
 * // metrics: documents 8 (complete 8) · review needed 3 · duplicates skipped 0 · cache hits 0
 * //   fields 40 (ok 40) · field latency p50 812 ms, max 2101 ms · slowest field per image p50 2040 ms · image p50 2100 ms
 * //   model requests 40 · errors 0 · rate-limited 0 · retries 0 · re-asks 0 · tokens in 36000, cached 0, out 480
 * ```
 */
export function formatMetricsSummary(s: MetricsSummary): string[] {
  const sum = (n: MetricName) => s.totals[n]?.sum ?? 0;
  const parts = (n: MetricName) => {
    const entries = Object.entries(s.by[n] ?? {}).sort(([, a], [, b]) => b - a);
    return entries.length > 0 ? ` (${entries.map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
  };
  const latency = (label: string, n: MetricName) => {
    const t = s.totals[n];
    return t && t.count > 0 ? [`${label} p50 ${t.p50} ms, max ${t.max} ms`] : [];
  };
  const lines = [
    [
      `metrics: documents ${sum('Documents')}${parts('Documents')}`,
      `review needed ${sum('ReviewNeeded')}`,
      `duplicates skipped ${sum('DuplicatesSkipped')}`,
      `cache hits ${sum('CacheHits')}`,
    ].join(' · '),
    [
      `  fields ${sum('Fields')}${parts('Fields')}`,
      ...(s.by.FieldErrors ? [`errors${parts('FieldErrors')}`] : []),
      ...latency('field latency', 'FieldLatency'),
      ...latency('slowest field per image', 'SlowestFieldLatency'),
      ...latency('image', 'ImageDuration'),
    ].join(' · '),
    [
      `  model requests ${sum('ModelRequests')}`,
      `errors ${sum('ModelErrors')}${parts('ModelErrors')}`,
      `rate-limited ${sum('RateLimited')}`,
      `retries ${sum('Retries')}`,
      `re-asks ${sum('ReAsks')}`,
      `tokens in ${sum('InputTokens')}${s.totals.CachedInputTokens ? `, cached ${sum('CachedInputTokens')}` : ''}, out ${sum('OutputTokens')}`,
      ...(s.totals.Cost ? [`cost ${sum('Cost').toFixed(6)}`] : []),
    ].join(' · '),
  ];
  return lines;
}

function round(n: number): number {
  return Math.round(n * 1e8) / 1e8;
}
