/**
 * Lambda handler of the Step Functions ExtractField task: one field of one
 * image. Reads the image (only if it still has the ETag Prepare saw), asks
 * the model with the direct mode's retries and answer parsing, writes the
 * field's outcome to S3 (its part) and returns only where it is: the
 * answer never travels through the state machine.
 *
 * The deadline comes from the Lambda's remaining time, with the same margin
 * as direct mode, so a slow model yields a failed field, not a killed task.
 */
import type { Context } from 'aws-lambda';
import { budgetFromRemaining, startDeadline } from './core/deadline';
import { extractFieldInputSchema, parseTaskInput, type FieldPartRef } from './core/stepfunctions/contract';
import { extractFieldRun } from './core/stepfunctions/steps';
import { createModelClient } from './model-client';
import { loadModelRuntime, once, type ModelRuntime } from './runtime';
import type { InvocationGate } from './request-gates';
import { gateMetrics } from './telemetry/outcome-metrics';
import { startInvocation } from './telemetry/telemetry';

export type SfnExtractFieldHandler = (
  event: unknown,
  context: Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'> &
    Partial<Pick<Context, 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>,
) => Promise<FieldPartRef>;

/** Builds the handler from a runtime factory (the real one in Lambda, local servers in tests). */
export function createSfnExtractFieldHandler(getRuntime: () => Promise<ModelRuntime>): SfnExtractFieldHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const { config } = rt;
    const telemetry = startInvocation(rt.telemetry, 'sfn-extract-field', context, rt.clock);
    const deadline = startDeadline(budgetFromRemaining(context.getRemainingTimeInMillis(), config.deadlineMarginMs), rt.clock);
    let limit: InvocationGate | undefined;
    try {
      const input = parseTaskInput(extractFieldInputSchema, event, 'ExtractField');
      const logger = rt.logger.child({ requestId: context.awsRequestId, key: input.source.key, field: input.field });
      // One field has one request at a time (MODEL_MAX_CONCURRENCY 1): the
      // gate changes nothing unless the fleet shares one count.
      limit = rt.gates({ id: context.awsRequestId, logger, signal: deadline.signal });
      const out = await extractFieldRun({ ...rt, model: telemetry.meter(rt.model), logger, limit }, input, deadline);
      logger.info('field answered', { status: out.status, partKey: out.ref.key });
      // Its field is counted by Merge, from the document (the model's requests, tokens and waits by the meter here).
      return out;
    } finally {
      deadline.dispose();
      telemetry.record(gateMetrics(limit));
      telemetry.end(rt.settings.prices);
    }
  };
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnExtractFieldHandler = createSfnExtractFieldHandler(once(() => loadModelRuntime(process.env, createModelClient)));
