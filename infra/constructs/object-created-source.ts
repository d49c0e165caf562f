/**
 * How a pipeline hears about new objects: the bucket's own event
 * notification (S3 invokes the function), or the bucket's EventBridge
 * events, matched by a rule, for a bucket whose notification configuration
 * is not ours to change (it already has notifications, or several fieldlens
 * stacks watch it).
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { EVENTBRIDGE_OBJECT_CREATED } from '../../functions/core/events';
import type { PipelineProps } from './pipeline-props';

/** Where object-created events come from: the bucket's notification configuration, or EventBridge. */
export type ObjectCreatedSource = 'notification' | 'eventbridge';

/**
 * Sends the input prefix's object-created events to `target`, which S3 or
 * EventBridge invokes asynchronously (the same retries and dead letters
 * either way). With EventBridge, an event the rule could not deliver
 * (after EventBridge's own retries, for up to a day) goes to `deadLetterQueue`
 * as well.
 *
 * @returns the rule, with EventBridge.
 */
export function subscribeToObjectsCreated(
  scope: Construct,
  props: Pick<PipelineProps, 'sourceBucket' | 'inputPrefix' | 'objectCreatedSource'>,
  target: lambda.IFunction,
  deadLetterQueue: sqs.IQueue,
): events.Rule | undefined {
  if ((props.objectCreatedSource ?? 'notification') === 'notification') {
    props.sourceBucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new LambdaDestination(target),
      ...(props.inputPrefix ? [{ prefix: props.inputPrefix }] : []),
    );
    return undefined;
  }
  return new events.Rule(scope, 'ObjectCreated', {
    description: `fieldlens: objects created under "${props.inputPrefix}" in the watched bucket (its EventBridge events)`,
    eventPattern: {
      source: ['aws.s3'],
      detailType: [EVENTBRIDGE_OBJECT_CREATED],
      detail: {
        bucket: { name: [props.sourceBucket.bucketName] },
        // The output prefix never overlaps the input prefix in one bucket (checked at synth), so this filter alone keeps results out.
        ...(props.inputPrefix ? { object: { key: events.Match.prefix(props.inputPrefix) } } : {}),
      },
    },
    targets: [new targets.LambdaFunction(target, { deadLetterQueue, maxEventAge: Duration.hours(24), retryAttempts: 185 })],
  });
}
