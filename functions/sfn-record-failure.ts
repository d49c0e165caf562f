/**
 * Lambda handler of the Step Functions RecordFailure and RecordFieldFailure
 * tasks (one function, two inputs):
 * - where every run-level Catch leads: writes the `failed` document (code
 *   `TASK_FAILED`) so an input whose run broke still ends with a document,
 *   as in direct mode;
 * - where a crashed ExtractField's Catch leads: writes that field's failure
 *   as its part, so Merge records it and keeps the other fields.
 *
 * If this task fails at run level, the execution fails, and the stack
 * sends the failed execution's event to the dead-letter queue.
 */
import type { Context } from 'aws-lambda';
import {
  parseTaskInput,
  recordFailureInputSchema,
  recordFieldFailureInputSchema,
  type FieldPartRef,
  type RunResult,
} from './core/stepfunctions/contract';
import { recordFieldFailure, recordRunFailure } from './core/stepfunctions/steps';
import { loadRuntime, once, type Runtime } from './runtime';
import { statusMetrics } from './telemetry/outcome-metrics';
import { startInvocation } from './telemetry/telemetry';

export type SfnRecordFailureHandler = (event: unknown, context: Pick<Context, 'awsRequestId'> & Partial<Pick<Context, 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>) => Promise<RunResult | FieldPartRef>;

/** Builds the handler from a runtime factory (the real one in Lambda, local servers in tests). */
export function createSfnRecordFailureHandler(getRuntime: () => Promise<Runtime>): SfnRecordFailureHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const telemetry = startInvocation(rt.telemetry, 'sfn-record-failure', context, rt.clock);
    try {
      return await record(rt, event, context, telemetry.record);
    } finally {
      telemetry.end();
    }
  };
}

/** The task's work; `metrics` receives the document it wrote, counted by status. */
async function record(
  rt: Runtime,
  event: unknown,
  context: Pick<Context, 'awsRequestId'>,
  metrics: (records: ReturnType<typeof statusMetrics>) => void,
): Promise<RunResult | FieldPartRef> {
  if (event !== null && typeof event === 'object' && 'fieldFailure' in event) {
    const input = parseTaskInput(recordFieldFailureInputSchema, event, 'RecordFieldFailure');
    const { source, field } = input.fieldFailure;
    const logger = rt.logger.child({ requestId: context.awsRequestId, bucket: source.bucket, key: source.key, field });
    return recordFieldFailure({ ...rt, logger }, input);
  }
  const input = parseTaskInput(recordFailureInputSchema, event, 'RecordFailure');
  const logger = rt.logger.child({ requestId: context.awsRequestId, bucket: input.run.bucket, key: input.run.key });
  const out = await recordRunFailure({ ...rt, logger }, input);
  if (out.status === 'skipped') logger.info('no failed document written', { reason: out.reason });
  metrics(statusMetrics(out.status, out.reason));
  return out;
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnRecordFailureHandler = createSfnRecordFailureHandler(once(() => loadRuntime(process.env)));
