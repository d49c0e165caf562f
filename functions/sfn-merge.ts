/**
 * Lambda handler of the Step Functions Merge task: every field's part (and
 * the fields kept from an earlier run) → the same result document direct
 * mode writes, at the same key.
 */
import type { Context } from 'aws-lambda';
import { mergeInputSchema, parseTaskInput, type MergeInput, type RunResult } from './core/stepfunctions/contract';
import { mergeRun } from './core/stepfunctions/steps';
import { loadRuntime, once, type Runtime } from './runtime';

export type SfnMergeHandler = (event: unknown, context: Pick<Context, 'awsRequestId'>) => Promise<RunResult>;

/** Builds the handler from a runtime factory (the real one in Lambda, local servers in tests). */
export function createSfnMergeHandler(getRuntime: () => Promise<Runtime>): SfnMergeHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const input: MergeInput = parseTaskInput(mergeInputSchema, event, 'Merge');
    const logger = rt.logger.child({ requestId: context.awsRequestId, bucket: input.source.bucket, key: input.source.key });
    const out = await mergeRun({ ...rt, logger }, input);
    if (out.status === 'skipped') logger.info('nothing written', { reason: out.reason, resultKey: out.resultKey });
    else logger.info('result written', { resultKey: out.resultKey, status: out.status, retryable: out.retryable, runs: input.runs });
    return out;
  };
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnMergeHandler = createSfnMergeHandler(once(() => loadRuntime(process.env)));
