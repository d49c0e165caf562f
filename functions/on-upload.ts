/**
 * Lambda handler of the direct mode: an S3 object-created event (direct, or
 * wrapped in SQS messages) → one result document per image.
 *
 * Thin by design: read the event, run the core pipeline per record under one
 * deadline and one request gate, log, report. Only a failed read or write
 * fails the invocation (so Lambda retries it and, in the end, the DLQ has it).
 */
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { budgetFromRemaining, startDeadline } from './core/deadline';
import { processObject, type ProcessOutcome } from './core/direct';
import { slowestField, type ResultDocument } from './core/document';
import { RecordsFailedError, RetryableResultError, toErrorInfo } from './core/errors';
import { readEvent, type S3ObjectEvent } from './core/events';
import { createCostMeter, type CostMeter } from './core/cost';
import type { Logger } from './core/ports';
import { createModelClient } from './model-client';
import { loadModelRuntime, once, type ModelRuntime } from './runtime';
import { gateMetrics, outcomeMetrics } from './telemetry/outcome-metrics';
import { startInvocation } from './telemetry/telemetry';

/** The parts of the Lambda context the handler uses (the rest, when given, goes into the logs). */
export type HandlerContext = Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'> &
  Partial<Pick<Context, 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>;

/** What a direct invocation returns (Lambda ignores it for async events; local runs print it). */
export interface DirectResponse {
  readonly outcomes: ReadonlyArray<{ readonly bucket: string; readonly key: string; readonly outcome: ProcessOutcome }>;
}

export type OnUploadHandler = (event: unknown, context: HandlerContext) => Promise<DirectResponse | SQSBatchResponse>;

/**
 * Builds the handler from a runtime factory (the real one in Lambda, local
 * servers in tests and `npm start`).
 */
export function createOnUploadHandler(getRuntime: () => Promise<ModelRuntime>): OnUploadHandler {
  // The logs' running total of what documents cost, since this cold start.
  const spent = createCostMeter();
  return async (event, context) => {
    const rt = await getRuntime();
    const { config } = rt;
    // Lambda context and sampling into the logs, the cold start counted, the trace opened.
    const telemetry = startInvocation(rt.telemetry, 'on-upload', context, rt.clock);
    const logger = rt.logger.child({ requestId: context.awsRequestId });
    const items = readEvent(event);
    for (const item of items) {
      if (item.error) logger.error('message is not an S3 event; left for the dead-letter queue', { messageId: item.messageId, error: item.error.toJSON() });
    }
    const remainingMs = context.getRemainingTimeInMillis();
    const deadline = startDeadline(budgetFromRemaining(remainingMs, config.deadlineMarginMs), rt.clock);
    // Store calls may run into the margin (that is what it is for) but not
    // past the invocation's end.
    const storeMarginMs = Math.min(STORE_MARGIN_MS, Math.floor(config.deadlineMarginMs / 5));
    const storeDeadline = startDeadline(budgetFromRemaining(remainingMs, storeMarginMs), rt.clock);
    const invocation = { id: context.awsRequestId, deadline, storeSignal: storeDeadline.signal, endsAt: rt.clock.now() + remainingMs };
    // One gate for the whole invocation: an SQS batch of several images
    // still never has more than MODEL_MAX_CONCURRENCY requests in flight,
    // and fewer while the endpoint throttles. What the throttling taught one
    // invocation, the next one in this environment starts from.
    const limit = rt.gates({ id: context.awsRequestId, logger, signal: deadline.signal });
    const deps = { ...rt, model: telemetry.meter(rt.model), limit };

    const runRecord = async (record: S3ObjectEvent): Promise<ProcessOutcome> => {
      const log = logger.child({ bucket: record.bucket, key: record.key });
      try {
        const outcome = await processObject({ ...deps, logger: log }, record, invocation);
        logOutcome(log, outcome, spent);
        telemetry.record(outcomeMetrics(outcome));
        if (outcome.kind === 'written' && outcome.document.status === 'failed' && outcome.document.retryable) {
          // Written, but nothing succeeded for a passing reason: fail so the
          // platform retries (only the failed fields are asked again) and, in
          // the end, the dead-letter queue and its alarm have it.
          throw new RetryableResultError(
            `every field failed for a passing reason (${describeFailure(outcome.document)}); the document is written and marked retryable`,
          );
        }
        return outcome;
      } catch (err) {
        log.error('record not finished; the event will be retried', { error: toErrorInfo(err) });
        throw err;
      }
    };

    try {
      const settled = await Promise.all(
        items.map(async (item) => {
          const results = await Promise.allSettled(item.records.map(runRecord));
          return { item, results };
        }),
      );
      const outcomes = settled.flatMap(({ item, results }) =>
        results.flatMap((r, i) =>
          r.status === 'fulfilled' ? [{ bucket: item.records[i]!.bucket, key: item.records[i]!.key, outcome: r.value }] : [],
        ),
      );
      if (items.some((i) => i.messageId !== undefined)) {
        return {
          batchItemFailures: settled
            .filter(({ item, results }) => item.messageId && (item.error || results.some((r) => r.status === 'rejected')))
            .map(({ item }) => ({ itemIdentifier: item.messageId! })),
        };
      }
      const failures = settled.flatMap(({ results }) => results.filter((r) => r.status === 'rejected'));
      if (failures.length > 0) throw new RecordsFailedError(failures.map((f) => (f as PromiseRejectedResult).reason));
      return { outcomes };
    } finally {
      deadline.dispose();
      storeDeadline.dispose();
      telemetry.record(gateMetrics(limit));
      // One flush per invocation, failed or not: EMF lines with every metric of its records.
      telemetry.end(rt.settings.prices);
    }
  };
}

/**
 * Time kept back from the invocation's end for the store calls themselves to
 * fail cleanly (at most a fifth of DEADLINE_MARGIN_MS, so the write always
 * has most of the margin).
 */
const STORE_MARGIN_MS = 1_000;

function describeFailure(doc: ResultDocument): string {
  const codes = [...new Set(Object.values(doc.fieldResults).flatMap((r) => (r.error ? [r.error.code] : [])))];
  return codes.join(', ');
}

function logOutcome(log: Logger, outcome: ProcessOutcome, spent: CostMeter): void {
  if (outcome.kind === 'skipped') {
    if (outcome.reason === 'not-found') log.warn('object is gone (deleted) before it was read; nothing written');
    else if (outcome.reason === 'superseded') log.info('object was replaced by a newer version; its own event writes its document', { reason: outcome.reason });
    else if (outcome.reason === 'duplicate') log.info('duplicate: a final result for this version and configuration exists; no model call', { reason: outcome.reason });
    else log.info('skipped', { reason: outcome.reason });
    return;
  }
  const doc = outcome.document;
  const results = Object.entries(doc.fieldResults);
  const slowest = slowestField(doc);
  log.info('result written', {
    resultKey: outcome.resultKey,
    status: doc.status,
    retryable: doc.retryable,
    ...(outcome.kept.length > 0 ? { keptFromEarlierRun: outcome.kept } : {}),
    fieldsOk: results.filter(([, r]) => r.status === 'ok').length,
    fieldsTotal: results.length,
    durationMs: doc.durationMs,
    ...(slowest ? { slowestField: slowest.name, slowestFieldMs: slowest.latencyMs } : {}),
    fields: Object.fromEntries(results.map(([name, r]) => [name, r.error ? r.error.code : r.status])),
    ...(doc.usage ? { usage: doc.usage } : {}),
    ...(doc.cost ? { cost: doc.cost.total, costCurrency: doc.cost.currency, costTotal: spent.add(doc.cost) } : {}),
    ...(doc.cache ? { cacheHit: doc.cache.hit } : {}),
    ...(doc.error ? { error: doc.error } : {}),
    // Counted per document, so a log query can chart how many need a person and why.
    ...(doc.review ? { reviewNeeded: doc.review.needed, reviewReasons: doc.review.reasons } : {}),
    ...(doc.checks
      ? { findings: { error: doc.checks.summary.errors, warning: doc.checks.summary.warnings, info: doc.checks.summary.infos } }
      : {}),
  });
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: OnUploadHandler = createOnUploadHandler(once(() => loadModelRuntime(process.env, createModelClient)));
