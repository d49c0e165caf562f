/**
 * The Step Functions mode's state machine definition: the states, the Map
 * over the fields, the Choices, the Catches and the Lambda service retries.
 *
 * ```
 * Prepare ─► IsAdmitted? ─► ExtractFields (Map, MaxConcurrency = budget.perImage)
 *               │              └─ ExtractField (Lambda, one field, its outcome written to S3)
 *               │                   ─Catch─► RecordFieldFailure (Lambda: the failure as the field's outcome)
 *               │                              ─Catch─► FieldTaskFailed (Pass: the error's name only)
 *               └─► Done       ─► Merge (Lambda) ─► IsRetryableFailure? ─► RetryLater (Fail, RESULT_RETRYABLE)
 *                                                                   └─► Finished
 * Catch on Prepare, the Map and Merge ─► RecordFailure (Lambda: the failed document) ─► IsRetryableFailure?
 * ```
 *
 * Only references travel between the states: each field's outcome is an
 * S3 object under the output prefix, so the state stays a few hundred
 * bytes per field whatever the answers (or a crashed task's error) hold.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { FieldlensFunction } from './lambda-defaults';
import { inlineMapConcurrency } from './pipeline-validation';
import type { StepFunctionsTaskFunctions } from './stepfunctions-functions';

/** State names: what the console graph, the logs and `describe-execution` show. */
export const SFN_STATES = Object.freeze({
  prepare: 'Prepare',
  isAdmitted: 'IsAdmitted',
  done: 'Done',
  extractFields: 'ExtractFields',
  extractField: 'ExtractField',
  recordFieldFailure: 'RecordFieldFailure',
  fieldTaskFailed: 'FieldTaskFailed',
  merge: 'Merge',
  recordFailure: 'RecordFailure',
  isRetryableFailure: 'IsRetryableFailure',
  retryLater: 'RetryLater',
  finished: 'Finished',
});

/**
 * The error a run ends with when its document is written but every field
 * failed for a passing reason: the execution fails on purpose, so the
 * dead-letter queue (and its alarm) has it, as direct mode's invocation
 * fails with the same code.
 */
export const RUN_RETRYABLE_ERROR = 'RESULT_RETRYABLE';

/**
 * Errors of the Lambda service itself (not of the function's code), as Step
 * Functions names them: worth retrying with backoff, since nothing ran.
 */
export const LAMBDA_SERVICE_ERRORS = Object.freeze([
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  // The call to Lambda timed out on Step Functions' side; the function may
  // have run. Every task tolerates a second run (a part is rewritten, Merge
  // and RecordFailure skip a document their run already wrote).
  'Lambda.ClientExecutionTimeoutException',
]);

/** Throttling: the reserved concurrency that enforces the endpoint budget answers with it. */
export const LAMBDA_THROTTLED = 'Lambda.TooManyRequestsException';

/**
 * The retries of a Lambda task state: throttling (the reserved concurrency
 * that enforces the budget) up to `throttleRetries` tries, and the Lambda
 * service's own transient errors six times. Model retries are the
 * function's own business, never the state machine's.
 */
export function retryLambdaService(task: sfn.TaskStateBase, throttleRetries: number): void {
  task.addRetry({
    errors: [LAMBDA_THROTTLED],
    interval: Duration.seconds(1),
    backoffRate: 2,
    maxDelay: Duration.seconds(60),
    maxAttempts: throttleRetries,
    jitterStrategy: sfn.JitterType.FULL,
  });
  task.addRetry({
    errors: [...LAMBDA_SERVICE_ERRORS],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxDelay: Duration.seconds(30),
    maxAttempts: 6,
    jitterStrategy: sfn.JitterType.FULL,
  });
}

/**
 * Acknowledges, on a state machine's role, the `"*"` resource of the
 * actions AWS offers on `"*"` alone (log delivery and X-Ray).
 */
export function acknowledgeStateMachineWildcards(role: Construct): void {
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Only the actions AWS offers on "*" alone: CloudWatch Logs log delivery (logs:*LogDelivery*, PutResourcePolicy, ' +
      'DescribeResourcePolicies, DescribeLogGroups) for the execution logs, and X-Ray PutTraceSegments, PutTelemetryRecords, ' +
      'GetSamplingRules, GetSamplingTargets for tracing; none of them has resource-level permissions.',
  });
}

/** Inputs of {@link stepFunctionsDefinition}. */
export interface StepFunctionsDefinitionProps {
  /** The functions behind the task states. */
  readonly functions: StepFunctionsTaskFunctions;
  /** The Map's `MaxConcurrency`: the endpoint budget per image. */
  readonly maxConcurrency: number;
  /** Tries of a throttled task; see `StepFunctionsPipelineProps.throttleRetries`. */
  readonly throttleRetries: number;
}

/**
 * The state machine, in the JSONPath query language (what
 * aws-local-stepfunctions runs). The states are created in a `States`
 * scope below `scope`: their ids are the state names, which the functions'
 * ids repeat.
 */
export function stepFunctionsDefinition(scope: Construct, props: StepFunctionsDefinitionProps): sfn.IChainable {
  const { functions: f, throttleRetries } = props;
  const states = new Construct(scope, 'States');
  const invoke = (name: string, target: FieldlensFunction, options: Partial<tasks.LambdaInvokeJsonPathProps>) => {
    const task = tasks.LambdaInvoke.jsonPath(states, name, {
      lambdaFunction: target.function,
      // The function's return value is the task's result, as is.
      payloadResponseOnly: true,
      // Our own retriers below, with jitter.
      retryOnServiceExceptions: false,
      // A little above the function's own timeout: Lambda reports its
      // timeout itself; this only catches an invocation that never answers.
      taskTimeout: sfn.Timeout.duration(Duration.seconds((target.function.timeout ?? Duration.seconds(60)).toSeconds() + 30)),
      ...options,
    });
    // Model retries stay in the client; here only the Lambda service is retried.
    retryLambdaService(task, throttleRetries);
    return task;
  };

  // Merge and RecordFailure both end here: a document that failed for a
  // passing reason fails the execution after it is written.
  const finished = sfn.Succeed.jsonPath(states, SFN_STATES.finished, {
    comment: 'The document is written (or nothing was left to write)',
  });
  const retryLater = sfn.Fail.jsonPath(states, SFN_STATES.retryLater, {
    comment: 'The document is written and marked retryable, and every field failed: the run fails so the dead-letter queue has it',
    error: RUN_RETRYABLE_ERROR,
    cause:
      'every field failed for a passing reason; the document is written and marked retryable, and the next event for the object asks the failed fields again',
  });
  const isRetryableFailure = sfn.Choice.jsonPath(states, SFN_STATES.isRetryableFailure)
    .when(
      sfn.Condition.and(
        sfn.Condition.isPresent('$.retryable'),
        sfn.Condition.stringEquals('$.status', 'failed'),
        sfn.Condition.booleanEquals('$.retryable', true),
      ),
      retryLater,
    )
    .otherwise(finished);

  const recordFailure = invoke(SFN_STATES.recordFailure, f.recordFailure, {
    comment: 'Writes the failed document with the caught error (TASK_FAILED)',
    payload: sfn.TaskInput.fromObject({
      run: sfn.JsonPath.objectAt('$'),
      executionStartedAt: sfn.JsonPath.executionStartTime,
    }),
  }).next(isRetryableFailure);
  const onFailure = { errors: ['States.ALL'], resultPath: '$.failure' };

  const prepare = invoke(SFN_STATES.prepare, f.prepare, {
    comment: 'Guard, idempotency check, resumption, rejected documents, content cache hits; returns references, never image bytes',
    resultPath: '$.prepared',
  }).addCatch(recordFailure, onFailure);

  const fieldTaskFailed = sfn.Pass.jsonPath(states, SFN_STATES.fieldTaskFailed, {
    comment: "Even the failure could not be written: Merge records the field as TASK_FAILED with the error's name (its cause stays in the history, so the state stays small)",
    parameters: { name: sfn.JsonPath.stringAt('$.field'), taskError: { Error: sfn.JsonPath.stringAt('$.taskError.Error') } },
  });
  const recordFieldFailure = invoke(SFN_STATES.recordFieldFailure, f.recordFailure, {
    comment: "A field whose task broke: its failure (TASK_FAILED) becomes the field's outcome in S3, the other fields are kept",
    payload: sfn.TaskInput.fromObject({
      fieldFailure: {
        field: sfn.JsonPath.stringAt('$.field'),
        source: sfn.JsonPath.objectAt('$.source'),
        runs: sfn.JsonPath.numberAt('$.runs'),
        taskError: sfn.JsonPath.objectAt('$.taskError'),
      },
    }),
  }).addCatch(fieldTaskFailed, { errors: ['States.ALL'], resultPath: '$.recordError' });
  const extractField = invoke(SFN_STATES.extractField, f.extractField, {
    comment: "One field: reads the image, asks the model with the client's retries, writes the outcome to S3 and returns where",
  }).addCatch(recordFieldFailure, { errors: ['States.ALL'], resultPath: '$.taskError' });

  const extractFields = sfn.Map.jsonPath(states, SFN_STATES.extractFields, {
    comment: 'One iteration per field to ask; MaxConcurrency is the endpoint budget per image',
    itemsPath: '$.prepared.fields',
    itemSelector: {
      field: sfn.JsonPath.stringAt('$$.Map.Item.Value'),
      source: sfn.JsonPath.objectAt('$.prepared.source'),
      runs: sfn.JsonPath.numberAt('$.prepared.runs'),
    },
    maxConcurrency: inlineMapConcurrency(states, props.maxConcurrency),
    resultPath: '$.outcomes',
  })
    .itemProcessor(extractField)
    .addCatch(recordFailure, onFailure);

  const merge = invoke(SFN_STATES.merge, f.merge, {
    comment: 'Reads the fields back, the same merge and the same document as direct mode',
    payload: sfn.TaskInput.fromObject({
      source: sfn.JsonPath.objectAt('$.prepared.source'),
      resultRef: sfn.JsonPath.objectAt('$.prepared.resultRef'),
      resultEtag: sfn.JsonPath.stringAt('$.prepared.resultEtag'),
      startedAt: sfn.JsonPath.stringAt('$.prepared.startedAt'),
      runs: sfn.JsonPath.numberAt('$.prepared.runs'),
      kept: sfn.JsonPath.listAt('$.prepared.kept'),
      outcomes: sfn.JsonPath.listAt('$.outcomes'),
      // The content cache entry to store once the document is written (null: the cache is off).
      cache: sfn.JsonPath.objectAt('$.prepared.cache'),
    }),
  })
    .addCatch(recordFailure, onFailure)
    .next(isRetryableFailure);

  const done = sfn.Succeed.jsonPath(states, SFN_STATES.done, {
    comment: 'Skipped, rejected or answered from the content cache: Prepare has done (and written) all there was',
    outputPath: '$.prepared',
  });
  return prepare.next(
    sfn.Choice.jsonPath(states, SFN_STATES.isAdmitted)
      .when(sfn.Condition.stringEquals('$.prepared.action', 'extract'), extractFields.next(merge))
      .otherwise(done),
  );
}
