/**
 * Metrics from what the core returns: a written document (and which of its
 * fields this run asked), a skipped delivery, a Step Functions task's
 * status. The core stays untouched; the handlers turn its results into
 * metric records here.
 */
import type { ProcessOutcome } from '../core/direct';
import type { DocumentStatus, ResultDocument } from '../core/document';
import type { SkipReason } from '../core/keys';
import { errorCodeDimension, metric, type MetricRecord } from './catalogue';

/** Skips that are a duplicate delivery (no model call spent on it). */
const DUPLICATE_SKIPS: ReadonlySet<SkipReason> = new Set(['duplicate', 'in-flight']);

/**
 * The metrics of one written document.
 *
 * @param asked the fields this run asked the model: every field by
 *   default; a resumed run's kept fields and a content-cache hit's fields
 *   (`cache.hit`) were not asked and add no field metrics.
 */
export function documentMetrics(doc: ResultDocument, asked?: readonly string[]): MetricRecord[] {
  const records: MetricRecord[] = [...metric('Documents', 1, doc.status)];
  // A content-cache hit asked nothing: its field results are those of the run it was cached from.
  if (doc.cache?.hit) {
    records.push(...metric('CacheHits', 1));
    asked = [];
  }
  if (doc.review?.needed) records.push(...metric('ReviewNeeded', 1));
  if (doc.status !== 'rejected') records.push(...metric('ImageDuration', doc.durationMs));
  const names = new Set(asked ?? Object.keys(doc.fieldResults));
  let slowest: number | undefined;
  for (const [name, result] of Object.entries(doc.fieldResults)) {
    if (!names.has(name)) continue;
    records.push(...metric('Fields', 1, result.status));
    // A field that failed before any request (the run broke as a whole) has no latency to report.
    if (result.attempts > 0) {
      records.push(...metric('FieldLatency', result.latencyMs));
      slowest = Math.max(slowest ?? 0, result.latencyMs);
    }
    if (result.error) records.push(...metric('FieldErrors', 1, errorCodeDimension(result.error.code)));
  }
  if (slowest !== undefined) records.push(...metric('SlowestFieldLatency', slowest));
  return records;
}

/** The metrics of one object the direct path processed (on-upload, the backfill). */
export function outcomeMetrics(outcome: ProcessOutcome): MetricRecord[] {
  if (outcome.kind === 'skipped') return DUPLICATE_SKIPS.has(outcome.reason) ? metric('DuplicatesSkipped', 1) : [];
  const kept = new Set(outcome.kept);
  return documentMetrics(
    outcome.document,
    Object.keys(outcome.document.fieldResults).filter((name) => !kept.has(name)),
  );
}

/**
 * A document counted by its status alone, where a task knows only that
 * (Step Functions' Prepare, Merge and RecordFailure return references,
 * not the document).
 */
export function statusMetrics(status: DocumentStatus | 'skipped', reason?: string): MetricRecord[] {
  if (status === 'skipped') return reason !== undefined && DUPLICATE_SKIPS.has(reason as SkipReason) ? metric('DuplicatesSkipped', 1) : [];
  return metric('Documents', 1, status);
}

/** What an invocation's request gate says once the invocation is done: a fleet gate that went on without its store. */
export function gateMetrics(gate: { readonly degraded?: boolean } | undefined): MetricRecord[] {
  return gate?.degraded ? metric('FleetGateUnavailable', 1) : [];
}
