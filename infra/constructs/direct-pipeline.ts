/**
 * Direct mode: S3 invokes the function asynchronously for each new image.
 */
import { Annotations, Duration, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TRIGGER_LIMITS, type EndpointBudget } from '../budget';
import { MonitoredDeadLetterQueue } from './dead-letter-queue';
import { subscribeToObjectsCreated } from './object-created-source';
import { OnUploadFunction } from './on-upload-function';
import { pipelineBudget, type FieldlensPipeline, type PipelineProps } from './pipeline-props';

/** Props of {@link DirectPipeline}. */
export interface DirectPipelineProps extends PipelineProps {
  /**
   * Reserve concurrency for the function so that at most
   * `budget.concurrentImages` images are processed at once. Turn it off on
   * accounts whose concurrency quota cannot spare a reservation (new accounts
   * often have 10); the endpoint is then protected only per invocation.
   * @default true
   */
  readonly reserveConcurrency?: boolean;
  /**
   * How long Lambda keeps an event it could not run yet (throttled by the
   * reservation, or between retries) before giving up on it.
   * @default Duration.hours(6) (the Lambda maximum, so a burst of uploads waits rather than fails)
   */
  readonly maxEventAge?: Duration;
  /**
   * Retries after the function itself failed (it fails only when it could
   * not write a result document).
   * @default 2 (the Lambda maximum)
   */
  readonly retryAttempts?: number;
}

/**
 * S3 object-created events under the input prefix → the `on-upload`
 * function (asynchronous invocation) → a result document under the output
 * prefix. An event that still fails after Lambda's retries, or that waited
 * longer than `maxEventAge`, goes to an encrypted dead-letter queue with an
 * alarm.
 *
 * The endpoint budget becomes the function's reserved concurrency and its
 * `MODEL_MAX_CONCURRENCY`.
 */
export class DirectPipeline extends Construct implements FieldlensPipeline {
  public readonly handler: lambda.IFunction;
  public readonly logGroup: logs.ILogGroup;
  public readonly deadLetterQueue: sqs.IQueue;
  public readonly deadLetterAlarm: cloudwatch.IAlarm;
  public readonly budget: EndpointBudget;
  /** The function's construct (role, log group). */
  public readonly onUpload: OnUploadFunction;

  constructor(scope: Construct, id: string, props: DirectPipelineProps) {
    super(scope, id);
    const reserve = props.reserveConcurrency ?? true;
    this.budget = pipelineBudget(props, TRIGGER_LIMITS.direct);

    const dlq = new MonitoredDeadLetterQueue(this, 'DeadLetters', {
      purpose: 'fieldlens direct mode: S3 events whose image could not be processed after Lambda retries, or that waited too long.',
    });
    this.deadLetterQueue = dlq.queue;
    this.deadLetterAlarm = dlq.alarm;
    Validations.of(dlq.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is the function's on-failure destination, a dead-letter queue itself: nothing consumes it automatically, " +
        'so a dead-letter queue behind it would never receive anything. Its alarm fires on the first message.',
    });

    this.onUpload = new OnUploadFunction(this, 'OnUpload', {
      ...props,
      perImageConcurrency: this.budget.perImage,
      functionOptions: {
        ...(reserve ? { reservedConcurrentExecutions: this.budget.concurrentImages } : {}),
        maxEventAge: props.maxEventAge ?? Duration.hours(6),
        retryAttempts: props.retryAttempts ?? 2,
        onFailure: new SqsDestination(dlq.queue),
      },
    });
    this.handler = this.onUpload.function;
    this.logGroup = this.onUpload.logGroup;

    subscribeToObjectsCreated(this, props, this.handler, dlq.queue);

    if (!reserve) {
      Annotations.of(this).addWarningV2(
        'fieldlens:unreservedConcurrency',
        `reserved concurrency is off: each image keeps at most ${this.budget.perImage} requests in flight, ` +
          'but nothing limits how many images run at once, so a burst of uploads can exceed the endpoint capacity; ' +
          'the queue trigger (trigger=queue) limits it without a reservation',
      );
    }
  }
}
