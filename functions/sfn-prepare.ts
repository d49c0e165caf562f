/**
 * Lambda handler of the Step Functions Prepare task: the execution input
 * (bucket, key, ETag, size, generation) → guard, idempotency check,
 * `rejected` document for what cannot be processed, or references for the
 * fan-out.
 *
 * Returns references only (the source, the result key and ETag, the field
 * names to ask and to keep, the run's number), never image bytes.
 */
import type { Context } from 'aws-lambda';
import { parseTaskInput, runInputSchema, type PrepareOutput } from './core/stepfunctions/contract';
import { prepareRun } from './core/stepfunctions/steps';
import { loadRuntime, once, type Runtime } from './runtime';
import { metric } from './telemetry/catalogue';
import { statusMetrics } from './telemetry/outcome-metrics';
import { startInvocation } from './telemetry/telemetry';

export type SfnPrepareHandler = (event: unknown, context: Pick<Context, 'awsRequestId'> & Partial<Pick<Context, 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>) => Promise<PrepareOutput>;

/** Builds the handler from a runtime factory (the real one in Lambda, local servers in tests). */
export function createSfnPrepareHandler(getRuntime: () => Promise<Runtime>): SfnPrepareHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const telemetry = startInvocation(rt.telemetry, 'sfn-prepare', context, rt.clock);
    try {
      const input = parseTaskInput(runInputSchema, event, 'Prepare');
      const logger = rt.logger.child({ requestId: context.awsRequestId, bucket: input.bucket, key: input.key });
      const out = await prepareRun({ ...rt, logger }, input);
      const message = out.action === 'extract' ? 'prepared' : out.status === 'complete' ? 'result written from the content cache' : out.status;
      logger.info(message, {
        ...(out.action === 'extract'
          ? { fields: out.fields.length, ...(out.kept.length > 0 ? { keptFromEarlierRun: out.kept } : {}), runs: out.runs, resultKey: out.resultRef.key }
          : out),
      });
      // A rejected input's document, and a content-cache hit's, are written here; Merge writes the others.
      if (out.action === 'done') {
        telemetry.record(statusMetrics(out.status, out.reason));
        if (out.status === 'complete') telemetry.record(metric('CacheHits', 1));
      }
      return out;
    } finally {
      telemetry.end();
    }
  };
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnPrepareHandler = createSfnPrepareHandler(once(() => loadRuntime(process.env)));
