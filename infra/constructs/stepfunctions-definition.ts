/**
 * The Step Functions mode's state machine definition: the states, the Map
 * over the fields, the Choice, the Catches and the Lambda service retries.
 *
 * ```
 * Prepare ─► IsAdmitted? ─► ExtractFields (Map, MaxConcurrency = budget.perImage)
 *               │              └─ ExtractField (Lambda, one field) ─Catch─► FieldTaskFailed
 *               └─► Done       ─► Merge (Lambda) ─► end
 * Catch on Prepare, the Map and Merge ─► RecordFailure (Lambda: the failed document)
 * ```
 */
import { Duration } from 'aws-cdk-lib';
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
  fieldTaskFailed: 'FieldTaskFailed',
  merge: 'Merge',
  recordFailure: 'RecordFailure',
});

/**
 * Errors of the Lambda service itself (not of the function's code), as Step
 * Functions names them: worth retrying with backoff, since nothing ran.
 */
export const LAMBDA_SERVICE_ERRORS = Object.freeze([
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
]);

/** Throttling: the reserved concurrency that enforces the endpoint budget answers with it. */
export const LAMBDA_THROTTLED = 'Lambda.TooManyRequestsException';

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
    return task;
  };

  const recordFailure = invoke(SFN_STATES.recordFailure, f.recordFailure, {
    comment: 'Writes the failed document with the caught error (TASK_FAILED)',
    payload: sfn.TaskInput.fromObject({
      run: sfn.JsonPath.objectAt('$'),
      executionStartedAt: sfn.JsonPath.executionStartTime,
    }),
  });
  const onFailure = { errors: ['States.ALL'], resultPath: '$.failure' };

  const prepare = invoke(SFN_STATES.prepare, f.prepare, {
    comment: 'Guard, idempotency check, rejected documents; returns references, never image bytes',
    resultPath: '$.prepared',
  }).addCatch(recordFailure, onFailure);

  const fieldTaskFailed = sfn.Pass.jsonPath(states, SFN_STATES.fieldTaskFailed, {
    comment: "A field whose task broke: Merge records it as that field's TASK_FAILED error, the other fields are kept",
    parameters: { name: sfn.JsonPath.stringAt('$.field'), taskError: sfn.JsonPath.objectAt('$.taskError') },
  });
  const extractField = invoke(SFN_STATES.extractField, f.extractField, {
    comment: "One field: reads the image, asks the model with the client's retries",
  }).addCatch(fieldTaskFailed, { errors: ['States.ALL'], resultPath: '$.taskError' });

  const extractFields = sfn.Map.jsonPath(states, SFN_STATES.extractFields, {
    comment: 'One iteration per field; MaxConcurrency is the endpoint budget per image',
    itemsPath: '$.prepared.fields',
    itemSelector: {
      field: sfn.JsonPath.stringAt('$$.Map.Item.Value'),
      source: sfn.JsonPath.objectAt('$.prepared.source'),
    },
    maxConcurrency: inlineMapConcurrency(states, props.maxConcurrency),
    resultPath: '$.outcomes',
  })
    .itemProcessor(extractField)
    .addCatch(recordFailure, onFailure);

  const merge = invoke(SFN_STATES.merge, f.merge, {
    comment: 'The same merge and the same document as direct mode',
    payload: sfn.TaskInput.fromObject({
      source: sfn.JsonPath.objectAt('$.prepared.source'),
      resultRef: sfn.JsonPath.objectAt('$.prepared.resultRef'),
      startedAt: sfn.JsonPath.stringAt('$.prepared.startedAt'),
      outcomes: sfn.JsonPath.listAt('$.outcomes'),
    }),
  }).addCatch(recordFailure, onFailure);

  const done = sfn.Succeed.jsonPath(states, SFN_STATES.done, {
    comment: 'Skipped or rejected: Prepare has done (and written) all there was',
    outputPath: '$.prepared',
  });
  return prepare.next(
    sfn.Choice.jsonPath(states, SFN_STATES.isAdmitted)
      .when(sfn.Condition.stringEquals('$.prepared.action', 'extract'), extractFields.next(merge))
      .otherwise(done),
  );
}
