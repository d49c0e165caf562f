/**
 * Lambda handler of the Step Functions Merge task: every field's outcome →
 * the same result document direct mode writes, at the same key.
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
    // The outcomes' own shape is checked in full by the document schema.
    const input = parseTaskInput(mergeInputSchema, event, 'Merge') as MergeInput;
    const logger = rt.logger.child({ requestId: context.awsRequestId, bucket: input.source.bucket, key: input.source.key });
    const out = await mergeRun({ ...rt, logger }, input);
    if (out.status === 'skipped') logger.warn('the image is gone (deleted or replaced) since the run started; nothing written');
    else logger.info('result written', { resultKey: out.resultKey, status: out.status });
    return out;
  };
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnMergeHandler = createSfnMergeHandler(once(() => loadRuntime(process.env)));
