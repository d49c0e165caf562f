/**
 * Step Functions mode: every field of an image is its own task, with its own
 * retries visible in the console, fanned out by a Map state.
 *
 * ```
 * S3 object-created (input prefix) ──► Start (Lambda, async): HEAD the result; a final current one → nothing
 *   ──► StartExecution, name = hash(bucket, key, ETag, fingerprint, result generation)
 *   ──► Prepare ─► ExtractFields (Map of ExtractField) ─► Merge; RecordFailure on a Catch
 * ```
 *
 * This construct composes the functions (`stepfunctions-functions.ts`) and
 * the state machine definition (`stepfunctions-definition.ts`) with the
 * trigger, the run logs and the dead letters.
 */
import { Annotations, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TRIGGER_LIMITS, type EndpointBudget } from '../budget';
import { FieldlensPropsError } from '../errors';
import { FIELD_PARTS_FOLDER } from '../../functions/core/keys';
import { acknowledgeWildcardResource } from './acknowledge';
import { MonitoredDeadLetterQueue } from './dead-letter-queue';
import { expireObjectsUnder } from './fieldlens-bucket';
import { subscribeToObjectsCreated } from './object-created-source';
import type { FieldlensFunction } from './lambda-defaults';
import { PIPELINE_DEFAULTS, pipelineBudget, type FieldlensPipeline, type PipelineProps } from './pipeline-props';
import { inlineMapConcurrency, validatePipelineProps } from './pipeline-validation';
import { acknowledgeStateMachineWildcards, stepFunctionsDefinition } from './stepfunctions-definition';
import { stepFunctionsStarter, stepFunctionsTaskFunctions, type StepFunctionsTaskFunctions } from './stepfunctions-functions';

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
  public readonly functions: StepFunctionsTaskFunctions & { readonly start: FieldlensFunction };
  /**
   * Whether field parts left behind (`<output prefix>.fieldlens/parts/`)
   * expire after a day: a lifecycle rule on a bucket the stack created. On
   * an existing bucket only Merge (and RecordFailure) delete them.
   */
  public readonly fieldPartsExpire: boolean;

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
    // An inline Map runs at most 40 iterations at once: the budget's
    // per-image figure is capped there (with a synth warning), so the
    // reservation and the EndpointBudget output say what actually runs.
    const uncapped = pipelineBudget(props, TRIGGER_LIMITS.direct);
    const perImageMax = inlineMapConcurrency(this, uncapped.perImage);
    this.budget = perImageMax < uncapped.perImage ? pipelineBudget(props, TRIGGER_LIMITS.direct, perImageMax) : uncapped;

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

    // Merge deletes the field parts it has read; a run that broke before
    // leaves them, and on a bucket the stack created they expire after a day.
    this.fieldPartsExpire = expireObjectsUnder(props.outputBucket, {
      id: 'expire-fieldlens-parts',
      prefix: `${props.outputPrefix}${FIELD_PARTS_FOLDER}`,
      days: 1,
    });

    const taskFunctions = stepFunctionsTaskFunctions(this, props, {
      ...(reserve ? { extractFieldConcurrency: this.budget.maxInFlight } : {}),
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
        stepFunctionsDefinition(this, { functions: taskFunctions, maxConcurrency: this.budget.perImage, throttleRetries }),
      ),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.executionTimeout ?? Duration.hours(24),
      tracingEnabled: true,
      // Every state event, so a run can be followed in the logs, but no state
      // data: inputs and outputs hold label text and object keys.
      logs: { destination: this.stateMachineLogGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });

    const start = stepFunctionsStarter(this, props, this.stateMachine, dlq.queue);
    this.functions = { start, ...taskFunctions };
    this.handler = start.function;
    this.logGroup = start.logGroup;

    subscribeToObjectsCreated(this, props, start.function, dlq.queue);

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

    this.acknowledgeFindings(Object.values(taskFunctions));
    if (!reserve) {
      Annotations.of(this).addWarningV2(
        'fieldlens:unreservedConcurrency',
        `reserved concurrency is off: each run keeps at most ${this.budget.perImage} requests in flight (the Map's MaxConcurrency), ` +
          'but nothing limits how many runs ask the model at once, so a burst of uploads can exceed the endpoint capacity',
      );
    }
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
    acknowledgeStateMachineWildcards(role);
  }
}
