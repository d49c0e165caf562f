/**
 * Lambda handler of the Step Functions ExtractField task: one field of one
 * image. Reads the image (only if it still has the ETag Prepare saw), asks
 * the model with the direct mode's retries and answer parsing, and returns
 * the field's outcome, a few hundred bytes.
 *
 * The deadline comes from the Lambda's remaining time, with the same margin
 * as direct mode, so a slow model yields a failed field, not a killed task.
 */
import type { Context } from 'aws-lambda';
import { budgetFromRemaining, startDeadline } from './core/deadline';
import type { FieldOutcome } from './core/result';
import { extractFieldInputSchema, parseTaskInput } from './core/run-contract';
import { extractFieldRun } from './core/run-steps';
import { loadRuntime, once, type Runtime } from './runtime';

export type SfnExtractFieldHandler = (
  event: unknown,
  context: Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'>,
) => Promise<FieldOutcome>;

/** Builds the handler from a runtime factory (the real one in Lambda, local servers in tests). */
export function createSfnExtractFieldHandler(getRuntime: () => Promise<Runtime>): SfnExtractFieldHandler {
  return async (event, context) => {
    const rt = await getRuntime();
    const { config } = rt;
    const input = parseTaskInput(extractFieldInputSchema, event, 'ExtractField');
    const logger = rt.logger.child({ requestId: context.awsRequestId, key: input.source.key, field: input.field });
    const deadline = startDeadline(budgetFromRemaining(context.getRemainingTimeInMillis(), config.deadlineMarginMs), rt.clock);
    try {
      return await extractFieldRun(
        {
          store: rt.store,
          model: rt.model,
          clock: rt.clock,
          logger,
          settings: config,
          modelSettings: {
            concurrency: 1,
            timeoutMs: config.model.timeoutMs,
            maxRetries: config.model.maxRetries,
            maxTokens: config.model.maxTokens,
          },
        },
        input,
        deadline,
      );
    } finally {
      deadline.dispose();
    }
  };
}

/** The Lambda entry point: the real runtime, built once per cold start. */
export const handler: SfnExtractFieldHandler = createSfnExtractFieldHandler(once(() => loadRuntime(process.env)));
