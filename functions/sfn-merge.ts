/**
 * Lambda handler of the Step Functions Merge task: every field's part (and
 * the fields kept from an earlier run) → the same result document direct
 * mode writes, at the same key.
 */
import type { Context } from 'aws-lambda';
import { mergeInputSchema, parseTaskInput, type MergeInput, type RunResult } from './core/stepfunctions/contract';
import { mergeRun } from './core/stepfunctions/steps';
import { loadRuntime, once, type Runtime } from './runtime';
import { statusMetrics } from './telemetry/outcome-metrics';
import { startInvocation } from './telemetry/telemetry';

export type SfnMergeHandler = (event: unknown, context: Pick<Context, 'awsRequestId'> & Partial<Pick<Context, 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>) => Promise<RunResult>;

/** Builds the handler from a runtime factory (the real one in Lambda, local servers in tests). */
export function createSfnMergeHandler(getRuntime: () => Promise<Runtime>): SfnMergeHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const telemetry = startInvocation(rt.telemetry, 'sfn-merge', context, rt.clock);
    try {
      const input: MergeInput = parseTaskInput(mergeInputSchema, event, 'Merge');
      const logger = rt.logger.child({ requestId: context.awsRequestId, bucket: input.source.bucket, key: input.source.key });
      const out = await mergeRun({ ...rt, logger }, input);
      if (out.status === 'skipped') logger.info('nothing written', { reason: out.reason, resultKey: out.resultKey });
      else logger.info('result written', { resultKey: out.resultKey, status: out.status, retryable: out.retryable, runs: input.runs });
      telemetry.record(statusMetrics(out.status, out.reason));
      return out;
    } finally {
      telemetry.end();
    }
  };
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnMergeHandler = createSfnMergeHandler(once(() => loadRuntime(process.env)));
