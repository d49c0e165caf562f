/**
 * Queue mode: S3 sends each new image's event to an SQS queue, and Lambda
 * polls it with a bounded number of concurrent invocations.
 */
import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TRIGGER_LIMITS, type EndpointBudget } from '../budget';
import { FieldlensPropsError } from '../errors';
import { MonitoredDeadLetterQueue } from './dead-letter-queue';
import { OnUploadFunction } from './on-upload-function';
import { PIPELINE_DEFAULTS, pipelineBudget, type FieldlensPipeline, type PipelineProps } from './pipeline-props';

/** SQS's longest visibility timeout. */
const MAX_VISIBILITY_TIMEOUT = Duration.hours(12);

/** Props of {@link QueuePipeline}. */
export interface QueuePipelineProps extends PipelineProps {
  /**
   * Receives of one message before it moves to the dead-letter queue.
   * @default 3
   */
  readonly maxReceiveCount?: number;
}

/**
 * Refuses a capacity the queue trigger cannot keep: an SQS event source
 * always runs at least 2 invocations at once.
 *
 * @param source where the capacity came from, named in the message (a context key, a Bedrock quota).
 * @throws {FieldlensPropsError} below 2.
 */
export function checkQueueCapacity(capacity: number, source: string): void {
  if (capacity >= TRIGGER_LIMITS.queue.min) return;
  throw new FieldlensPropsError(
    `${source}: the queue trigger needs a capacity of at least ${TRIGGER_LIMITS.queue.min}, got ${capacity}: ` +
      `an SQS event source always runs at least ${TRIGGER_LIMITS.queue.min} invocations at once; use the direct trigger for a one-request endpoint`,
  );
}

/**
 * S3 object-created events under the input prefix → an encrypted SQS queue
 * → the `on-upload` function (one image per invocation, partial batch
 * failures reported) → a result document under the output prefix. A message
 * received `maxReceiveCount` times without success moves to a dead-letter
 * queue with an alarm.
 *
 * The endpoint budget becomes the event source mapping's maximum concurrency
 * and the function's `MODEL_MAX_CONCURRENCY`; no reserved concurrency is
 * needed, so this mode also works on accounts with a small concurrency quota.
 */
export class QueuePipeline extends Construct implements FieldlensPipeline {
  public readonly handler: lambda.IFunction;
  public readonly logGroup: logs.ILogGroup;
  public readonly deadLetterQueue: sqs.IQueue;
  public readonly deadLetterAlarm: cloudwatch.IAlarm;
  public readonly budget: EndpointBudget;
  /** The queue S3 sends events to. */
  public readonly eventQueue: sqs.Queue;
  /** The function's construct (role, log group). */
  public readonly onUpload: OnUploadFunction;

  constructor(scope: Construct, id: string, props: QueuePipelineProps) {
    super(scope, id);
    checkQueueCapacity(props.model.capacity ?? PIPELINE_DEFAULTS.modelCapacity, 'model.capacity (modelMaxConcurrency)');
    this.budget = pipelineBudget(props, TRIGGER_LIMITS.queue);
    const maxReceiveCount = props.maxReceiveCount ?? 3;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new FieldlensPropsError(`maxReceiveCount: expected a whole number from 1 to 1000, got ${maxReceiveCount}`);
    }

    const dlq = new MonitoredDeadLetterQueue(this, 'DeadLetters', {
      purpose: `fieldlens queue mode: S3 events whose image failed ${maxReceiveCount} times.`,
    });
    this.deadLetterQueue = dlq.queue;
    this.deadLetterAlarm = dlq.alarm;

    this.onUpload = new OnUploadFunction(this, 'OnUpload', {
      ...props,
      perImageConcurrency: this.budget.perImage,
    });
    this.handler = this.onUpload.function;
    this.logGroup = this.onUpload.logGroup;

    // AWS guidance: at least six times the function timeout, so a message is
    // not handed to a second invocation while the first (and Lambda's own
    // throttling retries) may still be working on it.
    const timeout = props.timeout ?? PIPELINE_DEFAULTS.timeout;
    const visibility = Duration.seconds(Math.min(timeout.toSeconds() * 6, MAX_VISIBILITY_TIMEOUT.toSeconds()));
    this.eventQueue = new sqs.Queue(this, 'Events', {
      // SQS-managed keys: S3 can send to the queue without a KMS key policy.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: visibility,
      // Room for a long model outage: the messages wait instead of expiring.
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: dlq.queue, maxReceiveCount },
    });

    this.handler.addEventSource(
      new SqsEventSource(this.eventQueue, {
        // One image per invocation: each image gets the whole deadline.
        batchSize: 1,
        maxConcurrency: this.budget.concurrentImages,
        reportBatchItemFailures: true,
      }),
    );

    props.sourceBucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new SqsDestination(this.eventQueue),
      ...(props.inputPrefix ? [{ prefix: props.inputPrefix }] : []),
    );
  }
}
