/**
 * Lambda handler of the backfill: one ItemBatcher batch of listed objects
 * → each through the same per-object path as an upload, under one request
 * gate and one deadline per invocation → the batch's tally.
 *
 * Thin by design: read the batch, run the core's backfill, log, return.
 * An item that fails is listed in the tally and fails nothing else; only a
 * batch whose every item failed fails the invocation (the Distributed Map
 * retries it and counts it against its tolerated failures).
 */
import type { Context } from 'aws-lambda';
import { addTallies, runBackfillBatch } from './core/backfill';
import { readBackfillBatch, reserveForAnotherImage, type BackfillBatchOutput, type ListedItem } from './core/backfill-batch';
import { budgetFromRemaining, startDeadline } from './core/deadline';
import { BackfillBatchError } from './core/errors';
import { createModelClient } from './model-client';
import { loadModelRuntime, once, type ModelRuntime } from './runtime';
import { gateMetrics, outcomeMetrics } from './telemetry/outcome-metrics';
import { startInvocation } from './telemetry/telemetry';

/** The parts of the Lambda context the handler uses. */
export type BackfillContext = Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'> &
  Partial<Pick<Context, 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>;

export type BackfillItemsHandler = (event: unknown, context: BackfillContext) => Promise<BackfillBatchOutput>;

/** Builds the handler from a runtime factory (the real one in Lambda, local servers in tests and `npm run backfill`). */
export function createBackfillItemsHandler(getRuntime: () => Promise<ModelRuntime>): BackfillItemsHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const { config } = rt;
    const telemetry = startInvocation(rt.telemetry, 'backfill-items', context, rt.clock);
    const logger = rt.logger.child({ requestId: context.awsRequestId });
    let batch;
    try {
      batch = readBackfillBatch(event);
    } catch (err) {
      telemetry.end();
      throw err;
    }
    const remainingMs = context.getRemainingTimeInMillis();
    const budgetMs = budgetFromRemaining(remainingMs, config.deadlineMarginMs);
    const deadline = startDeadline(budgetMs, rt.clock);
    const storeDeadline = startDeadline(budgetFromRemaining(remainingMs, Math.min(1_000, Math.floor(config.deadlineMarginMs / 5))), rt.clock);
    const reserveMs = reserveForAnotherImage({
      fieldCount: config.fields.length,
      perImage: config.model.maxConcurrency,
      timeoutMs: config.model.timeoutMs,
      budgetMs,
    });
    // One gate for the invocation, as for an upload: never more than
    // MODEL_MAX_CONCURRENCY requests in flight, and fewer while the endpoint
    // throttles; what one batch learnt, the next in this environment starts from.
    const limit = rt.gates({ id: context.awsRequestId, logger, signal: deadline.signal });
    try {
      const { tally, remaining } = await runBackfillBatch(
        { ...rt, model: telemetry.meter(rt.model), logger, limit },
        batch.items,
        {
          selection: batch.selection,
          dryRun: batch.batchInput.dryRun,
          invocation: { id: context.awsRequestId, deadline, storeSignal: storeDeadline.signal, endsAt: rt.clock.now() + remainingMs },
          hasTimeForAnother: () => deadline.remaining() >= reserveMs,
          // Each computed object's metrics as an upload's: documents by status, its fields, latencies, review, cache hits.
          onOutcome: (outcome) => telemetry.record(outcomeMetrics(outcome)),
        },
      );
      const failed = tally.outcomes.failed ?? 0;
      logger.info('backfill batch', { items: tally.items, left: remaining.length, outcomes: tally.outcomes, modelCalls: tally.modelCalls });
      if (failed > 0 && failed === tally.items && remaining.length === 0) {
        const first = tally.failures[0]!;
        throw new BackfillBatchError(`every item of the batch failed (${failed}); the first, ${first.key}: ${first.code}: ${first.message}`);
      }
      const listedOf = new Map(batch.items.map((item, i) => [item, batch.listed[i]!] as const));
      return {
        Items: remaining.map((item) => listedOf.get(item) as ListedItem),
        BatchInput: batch.batchInput,
        tally: addTallies(batch.carried, tally),
      };
    } finally {
      deadline.dispose();
      storeDeadline.dispose();
      telemetry.record(gateMetrics(limit));
      telemetry.end(rt.settings.prices);
    }
  };
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: BackfillItemsHandler = createBackfillItemsHandler(once(() => loadModelRuntime(process.env, createModelClient)));
