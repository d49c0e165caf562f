/**
 * The props of {@link FieldlensStack}. Props a construct also takes are
 * documented once, where the construct defines them, and picked from there.
 */
import type { AlarmNotifications } from './constructs/monitoring';
import type { StackProps } from 'aws-cdk-lib';
import type { TriggerKind } from './budget';
import type { BackfillOptions } from './constructs/backfill';
import type { WatchedBucketProps } from './constructs/fieldlens-bucket';
import type { ModelApiKeyProps } from './constructs/model-api-key';
import type { ModelNetworkProps } from './constructs/model-network';
import type { ModelEndpointSettings, PipelineProps } from './constructs/pipeline-props';
import type { FieldlensStack } from './fieldlens-stack';

/** The model settings the stack passes to its pipeline as they are (besides `baseUrl` and `name`). */
export const MODEL_PASS_THROUGH = Object.freeze(['timeout', 'maxRetries', 'maxTokens', 'responseFormat', 'prices'] as const);

/** The pipeline props the stack takes as they are and passes to its pipeline. */
export const PIPELINE_PASS_THROUGH = Object.freeze([
  'fields',
  'memorySize',
  'timeout',
  'logRetention',
  'maxImageBytes',
  'logLevel',
  'handlerEntry',
  'tracing',
  'debugLogSampleRate',
  'contentCache',
] as const);

/** How the extraction is fanned out over an image's fields. */
export type FanoutKind = 'lambda' | 'stepfunctions';

/**
 * The model endpoint the stack points the functions at, and the secret
 * holding its API key ({@link ModelApiKeyProps}).
 */
export interface FieldlensModelProps
  extends ModelApiKeyProps,
    Pick<ModelEndpointSettings, 'baseUrl' | 'name' | (typeof MODEL_PASS_THROUGH)[number]> {
  /**
   * The endpoint's {@link ModelEndpointSettings.capacity | capacity}: how
   * many requests it serves at once (the context key `modelMaxConcurrency`).
   * @default - see {@link ModelEndpointSettings.capacity}
   */
  readonly maxConcurrency?: number;
}

/**
 * Props of {@link FieldlensStack}.
 *
 * The {@link ModelNetworkProps} (`vpc`, `vpcSubnets`, `securityGroups`, or
 * `vpcId`, `subnetIds`, `securityGroupIds`) place the functions that call
 * the model in a VPC, for an endpoint on a private address. The
 * {@link WatchedBucketProps} choose the bucket; the function settings are
 * those of {@link PipelineProps}.
 */
export interface FieldlensStackProps
  extends StackProps,
    ModelNetworkProps,
    WatchedBucketProps,
    Pick<PipelineProps, (typeof PIPELINE_PASS_THROUGH)[number]> {
  /** The model endpoint. */
  readonly model: FieldlensModelProps;
  /**
   * Key prefix images arrive under.
   * @default 'incoming/'
   */
  readonly inputPrefix?: string;
  /**
   * Key prefix results are written under.
   * @default 'results/'
   */
  readonly outputPrefix?: string;
  /**
   * How images reach the function: `direct` (S3 invokes it), `queue`
   * (S3 → SQS → Lambda), or `eventbridge` (the bucket's EventBridge
   * "Object Created" events, matched by a rule on the input prefix, invoke
   * it: the bucket's notification configuration is left alone; an existing
   * bucket must have EventBridge notifications on, see docs/deploying.md).
   * @default 'direct'
   */
  readonly trigger?: StackTriggerKind;
  /**
   * How an image's fields are fanned out: `lambda` (one invocation asks
   * every field) or `stepfunctions` (a state machine runs one task per field;
   * see docs/stepfunctions.md). `stepfunctions` works with the direct
   * trigger only.
   * @default 'lambda'
   */
  readonly fanout?: FanoutKind;
  /**
   * Direct trigger: reserve concurrency to cap the images processed at once
   * (with `fanout: 'stepfunctions'`, the field tasks running at once). Turn
   * off on accounts whose concurrency quota cannot spare a reservation.
   * @default true
   */
  readonly reserveConcurrency?: boolean;
  /**
   * A backfill state machine that walks the objects already in the bucket
   * through the per-object path (`npm run backfill`), with its share of the
   * endpoint's capacity; the uploads get the rest (see docs/backfill.md).
   * Off unless given, so a deployment without it keeps the whole capacity
   * for uploads.
   * @default - no backfill
   */
  readonly backfill?: BackfillOptions;
  /**
   * Where the alarms notify (see docs/operations.md#alarms): a new SNS topic
   * with an e-mail subscription, or an existing topic. The alarms and the
   * dashboard exist either way.
   * @default - alarms without actions
   */
  readonly alarms?: AlarmNotifications;
}

/** How images reach the function: the budget's triggers, and `eventbridge` (asynchronous, like `direct`). */
export type StackTriggerKind = TriggerKind | 'eventbridge';
