/**
 * Step Functions mode: every field of an image is its own task, with its own
 * retries visible in the console, fanned out by a Map state.
 *
 * ```
 * S3 object-created (input prefix) ──► Start (Lambda, async) ──► StartExecution, name = hash(bucket, key, ETag)
 *   Prepare ─► IsAdmitted? ─► ExtractFields (Map, MaxConcurrency = budget.perImage)
 *                 │              └─ ExtractField (Lambda, one field) ─Catch─► FieldTaskFailed
 *                 └─► Done       ─► Merge (Lambda) ─► end
 *   Catch on Prepare, the Map and Merge ─► RecordFailure (Lambda: the failed document)
 * ```
 */
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { endpointBudget, TRIGGER_LIMITS, type EndpointBudget } from '../budget';
import { FieldlensPropsError } from '../errors';
import { acknowledgeWildcardResource } from './acknowledge';
import { MonitoredDeadLetterQueue } from './dead-letter-queue';
import { FieldlensFunction } from './lambda-defaults';
import {
  grantObjectAccessFor,
  grantSecretRead,
  PIPELINE_DEFAULTS,
  pipelineEnvironment,
  resolveFields,
  validatePipelineProps,
  type FieldlensPipeline,
  type ObjectAccess,
  type PipelineProps,
} from './pipeline';

const entry = (file: string): string => fileURLToPath(new URL(`../../functions/${file}`, import.meta.url));

/** The handlers of the Step Functions mode. */
export const SFN_ENTRIES = Object.freeze({
  start: entry('sfn-start.ts'),
  prepare: entry('sfn-prepare.ts'),
  extractField: entry('sfn-extract-field.ts'),
  merge: entry('sfn-merge.ts'),
  recordFailure: entry('sfn-record-failure.ts'),
});

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

/** Props of {@link StepFunctionsPipeline}. */
export interface StepFunctionsPipelineProps extends PipelineProps {
  /**
   * Reserve `budget.maxInFlight` concurrency for the ExtractField function:
   * with one model request per invocation, this caps the requests of all
   * runs together at the endpoint's capacity. Turn it off on accounts whose
   * concurrency quota cannot spare a reservation; only the per-run cap (the
   * Map's `MaxConcurrency`) is left then.
   * @default true
   */
  readonly reserveConcurrency?: boolean;
  /**
   * The longest a run may take, throttling waits included; a run that takes
   * longer ends `TIMED_OUT` and its event goes to the dead-letter queue.
   * @default Duration.hours(24)
   */
  readonly executionTimeout?: Duration;
  /**
   * How many times a throttled task (`Lambda.TooManyRequestsException`) is
   * tried again, with exponential backoff up to a minute and full jitter.
   * Throttling is how the budget makes a burst wait, so the default lets a
   * field wait about an hour and a half for a free slot.
   * @default 200
   */
  readonly throttleRetries?: number;
}

/**
 * S3 object-created events under the input prefix → the `sfn-start`
 * function (asynchronous invocation) → one standard Step Functions execution
 * per object version → a result document under the output prefix, the same
 * as direct mode writes.
 *
 * The endpoint budget becomes the Map's `MaxConcurrency` (requests of one
 * image at once) and the ExtractField function's reserved concurrency
 * (requests of all images at once). A start that fails after Lambda's
 * retries, and a run that fails, times out or is aborted without its
 * document, end in an encrypted dead-letter queue with an alarm.
 */
export class StepFunctionsPipeline extends Construct implements FieldlensPipeline {
  /** The starter: the function S3 invokes. */
  public readonly handler: lambda.IFunction;
  /** The starter's log group. */
  public readonly logGroup: logs.ILogGroup;
  public readonly deadLetterQueue: sqs.IQueue;
  public readonly deadLetterAlarm: cloudwatch.IAlarm;
  public readonly budget: EndpointBudget;
  /** The state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** The state machine's log group (every state event, without state data). */
  public readonly stateMachineLogGroup: logs.LogGroup;
  /** The functions behind the states and the starter. */
  public readonly functions: {
    readonly start: FieldlensFunction;
    readonly prepare: FieldlensFunction;
    readonly extractField: FieldlensFunction;
    readonly merge: FieldlensFunction;
    readonly recordFailure: FieldlensFunction;
  };

  constructor(scope: Construct, id: string, props: StepFunctionsPipelineProps) {
    super(scope, id);
    validatePipelineProps(props);
    if (props.handlerEntry !== undefined) {
      throw new FieldlensPropsError('handlerEntry: only the lambda fan-out runs one handler file; the Step Functions fan-out runs its own five');
    }
    const throttleRetries = props.throttleRetries ?? 200;
    if (!Number.isInteger(throttleRetries) || throttleRetries < 0 || throttleRetries > 99_999_999) {
      throw new FieldlensPropsError(`throttleRetries: expected a whole number from 0 to 99999999, got ${throttleRetries}`);
    }
    const reserve = props.reserveConcurrency ?? true;
    const { fields } = resolveFields(props.fields);
    this.budget = endpointBudget({
      capacity: props.model.capacity ?? PIPELINE_DEFAULTS.modelCapacity,
      fieldCount: fields.length,
      limits: TRIGGER_LIMITS.direct,
    });

    const dlq = new MonitoredDeadLetterQueue(this, 'DeadLetters', {
      purpose:
        'fieldlens Step Functions mode: S3 events whose run could not be started after Lambda retries, and runs that failed, timed out or were aborted without writing their document.',
    });
    this.deadLetterQueue = dlq.queue;
    this.deadLetterAlarm = dlq.alarm;
    Validations.of(dlq.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is the starter's on-failure destination and the target of failed runs, a dead-letter queue itself: " +
        'nothing consumes it automatically, so a dead-letter queue behind it would never receive anything. Its alarm fires on the first message.',
    });

    // One model request per ExtractField invocation; the pool needs one connection.
    const environment = pipelineEnvironment(props, 1);
    const { MODEL_API_KEY_SECRET_ARN: _secret, ...environmentWithoutSecret } = environment;
    const stepTimeout = Duration.seconds(60);
    const fn = (
      name: string,
      file: string,
      access: ObjectAccess,
      options: { description: string; memorySize?: number; timeout?: Duration; reservedConcurrentExecutions?: number; asksModel?: boolean },
    ): FieldlensFunction => {
      const f = new FieldlensFunction(this, name, {
        entry: file,
        memorySize: options.memorySize ?? 256,
        timeout: options.timeout ?? stepTimeout,
        logRetention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
        // Only ExtractField asks the model; the others never see the key's ARN.
        environment: options.asksModel ? environment : environmentWithoutSecret,
        // Only ExtractField needs the endpoint's network. The others talk to S3
        // alone, so they stay outside the VPC: no network interfaces, no
        // subnet addresses, and no dependence on the VPC's way to S3.
        ...(options.asksModel && props.vpcConfig ? { vpcConfig: props.vpcConfig } : {}),
        description: options.description,
        ...(options.reservedConcurrentExecutions !== undefined
          ? { reservedConcurrentExecutions: options.reservedConcurrentExecutions }
          : {}),
      });
      grantObjectAccessFor(f.role, props, access);
      if (options.asksModel) grantSecretRead(f.role, props.model.apiKeySecret);
      return f;
    };

    const extractTimeout = props.timeout ?? PIPELINE_DEFAULTS.timeout;
    const prepare = fn('Prepare', SFN_ENTRIES.prepare, { readImages: true, readResults: true, writeResults: true }, {
      description: 'fieldlens Step Functions Prepare: guard, idempotency check, rejected documents, references for the fan-out',
    });
    const extractField = fn('ExtractField', SFN_ENTRIES.extractField, { readImages: true }, {
      description: 'fieldlens Step Functions ExtractField: one field of one image',
      memorySize: props.memorySize ?? PIPELINE_DEFAULTS.memorySize,
      timeout: extractTimeout,
      asksModel: true,
      ...(reserve ? { reservedConcurrentExecutions: this.budget.maxInFlight } : {}),
    });
    const merge = fn('Merge', SFN_ENTRIES.merge, { writeResults: true }, {
      description: 'fieldlens Step Functions Merge: the fields into one result document',
    });
    const recordFailure = fn('RecordFailure', SFN_ENTRIES.recordFailure, { readResults: true, writeResults: true }, {
      description: 'fieldlens Step Functions RecordFailure: the failed document when a task broke',
    });

    this.stateMachineLogGroup = new logs.LogGroup(this, 'RunLogs', {
      // The vended-logs prefix keeps CloudWatch's log resource policy small
      // however many state machines an account has; the stack name keeps two
      // deployments side by side apart.
      ...(Token.isUnresolved(Stack.of(this).stackName)
        ? {}
        : { logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-fieldlens-runs` }),
      retention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'fieldlens: one image, one task per field, one merged result document',
      definitionBody: sfn.DefinitionBody.fromChainable(
        this.definition({ prepare, extractField, merge, recordFailure }, throttleRetries),
      ),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.executionTimeout ?? Duration.hours(24),
      tracingEnabled: true,
      // Every state event, so a run can be followed in the logs, but no state
      // data: inputs and outputs hold label text and object keys.
      logs: { destination: this.stateMachineLogGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });

    const start = new FieldlensFunction(this, 'Start', {
      entry: SFN_ENTRIES.start,
      memorySize: 256,
      timeout: Duration.seconds(30),
      logRetention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
      description: 'fieldlens Step Functions starter: one run per object version, named after bucket, key and ETag',
      environment: {
        STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
        INPUT_PREFIX: props.inputPrefix,
        OUTPUT_PREFIX: props.outputPrefix,
        LOG_LEVEL: props.logLevel ?? PIPELINE_DEFAULTS.logLevel,
      },
      // S3 events wait (throttling, retries) up to Lambda's maximum before they count as failed.
      maxEventAge: Duration.hours(6),
      retryAttempts: 2,
      onFailure: new SqsDestination(dlq.queue),
    });
    this.stateMachine.grantStartExecution(start.role);
    this.functions = { start, prepare, extractField, merge, recordFailure };
    this.handler = start.function;
    this.logGroup = start.logGroup;

    props.sourceBucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new LambdaDestination(start.function),
      ...(props.inputPrefix ? [{ prefix: props.inputPrefix }] : []),
    );

    // A run that ends without its document (RecordFailure itself failed, a
    // timeout, an abort) is an image without a result: it joins the dead letters.
    new events.Rule(this, 'UnfinishedRuns', {
      description: 'fieldlens: runs that failed, timed out or were aborted, to the dead-letter queue',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [this.stateMachine.stateMachineArn] },
      },
      targets: [new targets.SqsQueue(dlq.queue)],
    });

    this.acknowledgeFindings([prepare, extractField, merge, recordFailure]);
    if (!reserve) {
      Annotations.of(this).addWarningV2(
        'fieldlens:unreservedConcurrency',
        `reserved concurrency is off: each run keeps at most ${this.budget.perImage} requests in flight (the Map's MaxConcurrency), ` +
          'but nothing limits how many runs ask the model at once, so a burst of uploads can exceed the endpoint capacity',
      );
    }
  }

  /** The state machine, in the JSONPath query language (what aws-local-stepfunctions runs). */
  private definition(
    f: { prepare: FieldlensFunction; extractField: FieldlensFunction; merge: FieldlensFunction; recordFailure: FieldlensFunction },
    throttleRetries: number,
  ): sfn.IChainable {
    // States get their own scope: their ids are the state names, which the functions' ids repeat.
    const scope = new Construct(this, 'States');
    const invoke = (name: string, target: FieldlensFunction, options: Partial<tasks.LambdaInvokeJsonPathProps>) => {
      const task = tasks.LambdaInvoke.jsonPath(scope, name, {
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

    const fieldTaskFailed = sfn.Pass.jsonPath(scope, SFN_STATES.fieldTaskFailed, {
      comment: "A field whose task broke: Merge records it as that field's TASK_FAILED error, the other fields are kept",
      parameters: { name: sfn.JsonPath.stringAt('$.field'), taskError: sfn.JsonPath.objectAt('$.taskError') },
    });
    const extractField = invoke(SFN_STATES.extractField, f.extractField, {
      comment: "One field: reads the image, asks the model with the client's retries",
    }).addCatch(fieldTaskFailed, { errors: ['States.ALL'], resultPath: '$.taskError' });

    const extractFields = sfn.Map.jsonPath(scope, SFN_STATES.extractFields, {
      comment: 'One iteration per field; MaxConcurrency is the endpoint budget per image',
      itemsPath: '$.prepared.fields',
      itemSelector: {
        field: sfn.JsonPath.stringAt('$$.Map.Item.Value'),
        source: sfn.JsonPath.objectAt('$.prepared.source'),
      },
      maxConcurrency: this.budget.perImage,
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

    const done = sfn.Succeed.jsonPath(scope, SFN_STATES.done, {
      comment: 'Skipped or rejected: Prepare has done (and written) all there was',
      outputPath: '$.prepared',
    });
    return prepare.next(
      sfn.Choice.jsonPath(scope, SFN_STATES.isAdmitted)
        .when(sfn.Condition.stringEquals('$.prepared.action', 'extract'), extractFields.next(merge))
        .otherwise(done),
    );
  }

  /** cdk-nag findings of the state machine's role, acknowledged one by one, each with its reason. */
  private acknowledgeFindings(taskFunctions: readonly FieldlensFunction[]): void {
    const role = this.stateMachine.role;
    for (const f of taskFunctions) {
      acknowledgeWildcardResource(
        role,
        `${f.function.functionArn}:*`,
        `CDK's LambdaInvoke also grants the qualified ARNs (versions, aliases) of ${f.node.id}; ` +
          'the definition invokes only its unqualified ARN, and the function is in this stack.',
      );
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the actions AWS offers on "*" alone: CloudWatch Logs log delivery (logs:*LogDelivery*, PutResourcePolicy, ' +
        'DescribeResourcePolicies, DescribeLogGroups) for the execution logs, and X-Ray PutTraceSegments, PutTelemetryRecords, ' +
        'GetSamplingRules, GetSamplingTargets for tracing; none of them has resource-level permissions.',
    });
  }
}
