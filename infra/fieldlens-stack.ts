/**
 * The fieldlens stack: a bucket (new or existing), the model API key's
 * secret (none with Bedrock), optionally a place in the user's VPC, one pipeline, and the
 * outputs a user needs next. Each piece lives in its own module; this file
 * composes them.
 */
import { Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { shareEndpoint, type SharedBudget } from './backfill-budget';
import { TRIGGER_LIMITS } from './budget';
import { acknowledgeNotificationsHandler } from './constructs/acknowledge';
import { Backfill } from './constructs/backfill';
import { expireContentCache, resolveContentCache } from './constructs/content-cache';
import { MonitoredDeadLetterQueue } from './constructs/dead-letter-queue';
import { DirectPipeline } from './constructs/direct-pipeline';
import { watchedBuckets } from './constructs/fieldlens-bucket';
import { FleetGate } from './constructs/fleet-gate';
import { FieldlensFunction } from './constructs/lambda-defaults';
import { Monitoring } from './constructs/monitoring';
import { ModelNetwork, wantsVpc } from './constructs/model-network';
import { resolveFields, type FieldlensPipeline, type PipelineProps } from './constructs/pipeline-props';
import { checkQueueCapacity, QueuePipeline } from './constructs/queue-pipeline';
import { StepFunctionsPipeline } from './constructs/stepfunctions-pipeline';
import { FieldlensPropsError } from './errors';
import { addStackOutputs } from './stack-outputs';
import { stackModel } from './stack-model';
import { PIPELINE_PASS_THROUGH, type FanoutKind, type FieldlensStackProps, type StackTriggerKind } from './stack-props';
import { validateStackProps } from './stack-validation';

export type { FieldlensBucketProps } from './constructs/fieldlens-bucket';
export type {
  FanoutKind,
  FieldlensBedrockModelProps,
  FieldlensModelProps,
  FieldlensOpenAIModelProps,
  FieldlensStackProps,
  StackTriggerKind,
} from './stack-props';

/**
 * Everything fieldlens needs in one stack. Environment-agnostic: it
 * synthesizes without an account or region.
 *
 * @example
 * ```ts
 * new FieldlensStack(app, 'Fieldlens', {
 *   model: { baseUrl: 'https://vllm.example.com/v1', name: 'Qwen/Qwen2.5-VL-7B-Instruct', maxConcurrency: 10 },
 * });
 * ```
 */
export class FieldlensStack extends Stack {
  /** The watched bucket. */
  public readonly bucket: s3.IBucket;
  /** The bucket results are written to. */
  public readonly outputBucket: s3.IBucket;
  /** The access log bucket, when the stack created one. */
  public readonly accessLogsBucket?: s3.Bucket;
  /** The secret holding the model API key; none with Bedrock (the functions' roles sign the calls). */
  public readonly apiKeySecret?: secretsmanager.ISecret;
  /** The pipeline that processes the images. */
  public readonly pipeline: FieldlensPipeline;
  /**
   * The VPC placement of the functions that call the model, when asked for;
   * its `vpcConfig.securityGroups` are the groups to let in on the endpoint.
   */
  public readonly modelNetwork?: ModelNetwork;
  /** The backfill, when asked for (`backfill` prop). */
  public readonly backfill?: Backfill;
  /** How the endpoint's capacity is split between uploads and the backfill, when there is one. */
  public readonly sharedBudget?: SharedBudget;
  /** The fleet gate's table, when asked for (`fleetGate` prop). */
  public readonly fleetGate?: FleetGate;
  /** The alarms, the dashboard and the alarm topic (when asked for). */
  public readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: FieldlensStackProps) {
    super(scope, id, {
      description: 'fieldlens: images uploaded to S3 become JSON documents, one vision-model question per field',
      ...props,
    });
    const inputPrefix = props.inputPrefix ?? 'incoming/';
    const outputPrefix = props.outputPrefix ?? 'results/';
    validateStackProps(props);

    const buckets = watchedBuckets(this, props);
    this.bucket = buckets.bucket;
    this.outputBucket = buckets.outputBucket;
    if (buckets.accessLogsBucket) this.accessLogsBucket = buckets.accessLogsBucket;
    const model = stackModel(this, props.model);
    if (model.apiKeySecret) this.apiKeySecret = model.apiKeySecret;
    if (wantsVpc(props)) this.modelNetwork = new ModelNetwork(this, 'ModelNetwork', props);
    const trigger = props.trigger ?? 'direct';
    // A bucket the stack creates gets its EventBridge notifications turned on; an existing one must have them already.
    if (trigger === 'eventbridge' && this.bucket instanceof s3.Bucket) this.bucket.enableEventBridgeNotification();

    // With a backfill the capacity is split once: the pipeline is built with the uploads' part.
    const { capacity } = model;
    // Checked here, not only in the queue pipeline, to name where the capacity came from (a Bedrock quota, say).
    if (trigger === 'queue') checkQueueCapacity(capacity, model.capacitySource);
    if (props.backfill) {
      try {
        this.sharedBudget = shareEndpoint({
          capacity,
          fieldCount: resolveFields(props.fields).fields.length,
          ...optional('share', props.backfill.share),
          liveLimits: trigger === 'queue' ? TRIGGER_LIMITS.queue : TRIGGER_LIMITS.direct,
        });
      } catch (err) {
        throw new FieldlensPropsError(`backfill.share (context backfillShare) with ${model.capacitySource} ${capacity}: ${(err as Error).message}`, { cause: err });
      }
    }

    // The whole capacity, not the uploads' part: one count covers uploads and backfill alike.
    if (props.fleetGate) {
      this.fleetGate = new FleetGate(this, 'FleetGate', { capacity, ...optional('pollInterval', props.fleetGate.pollInterval) });
    }

    const pipelineProps: PipelineProps = {
      sourceBucket: this.bucket,
      inputPrefix,
      outputBucket: this.outputBucket,
      outputPrefix,
      model: { ...model.settings, capacity: this.sharedBudget ? this.sharedBudget.liveCapacity : capacity },
      ...definedOnly(props, PIPELINE_PASS_THROUGH),
      ...optional('vpcConfig', this.modelNetwork?.vpcConfig),
      ...optional('fleetGate', this.fleetGate),
    };
    this.pipeline = this.createPipeline(props.fanout ?? 'lambda', trigger, pipelineProps, props.reserveConcurrency);
    if (props.backfill && this.sharedBudget) {
      this.backfill = new Backfill(this, 'Backfill', {
        ...pipelineProps,
        ...props.backfill,
        budget: this.sharedBudget.backfill,
        // The queue trigger is the choice for accounts that cannot spare a reservation: its backfill reserves none either.
        reserveConcurrency: trigger !== 'queue' && (props.reserveConcurrency ?? true),
      });
    }
    expireContentCache(this, this.outputBucket, resolveContentCache(pipelineProps));
    acknowledgeNotificationsHandler(Stack.of(this.bucket));

    // Everything built above is watched: every fieldlens function, state machine and dead-letter queue.
    const all = this.node.findAll();
    this.monitoring = new Monitoring(this, 'Monitoring', {
      serviceName: this.stackName,
      functions: all.filter((c): c is FieldlensFunction => c instanceof FieldlensFunction),
      stateMachines: all.filter((c): c is sfn.StateMachine => c instanceof sfn.StateMachine),
      deadLetterQueues: all.filter((c): c is MonitoredDeadLetterQueue => c instanceof MonitoredDeadLetterQueue),
      ...optional('notifications', props.alarms),
      fleetGate: this.fleetGate !== undefined,
    });

    addStackOutputs(this, { inputPrefix, outputPrefix, capacity, ...optional('capacityNote', model.quotaNote) });
  }

  /** The one place a pipeline is chosen; a new fan-out plugs in here. */
  private createPipeline(
    fanout: FanoutKind,
    trigger: StackTriggerKind,
    pipelineProps: PipelineProps,
    reserveConcurrency: boolean | undefined,
  ): FieldlensPipeline {
    const props: PipelineProps = trigger === 'eventbridge' ? { ...pipelineProps, objectCreatedSource: 'eventbridge' } : pipelineProps;
    switch (fanout) {
      case 'lambda':
        return trigger === 'queue'
          ? new QueuePipeline(this, 'Pipeline', props)
          : new DirectPipeline(this, 'Pipeline', { ...props, ...optional('reserveConcurrency', reserveConcurrency) });
      case 'stepfunctions':
        if (trigger === 'queue') {
          throw new FieldlensPropsError(
            'trigger: the Step Functions fan-out is started by S3 directly (trigger "direct"); its runs wait in Step Functions, so no queue is needed',
          );
        }
        return new StepFunctionsPipeline(this, 'Pipeline', { ...props, ...optional('reserveConcurrency', reserveConcurrency) });
      default:
        throw new FieldlensPropsError(`fanout: expected "lambda" or "stepfunctions", got ${JSON.stringify(fanout)}`);
    }
  }
}

/** `{ [key]: value }` when the value is set: keeps `undefined` out of props whose defaults live below. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The `keys` of `source` whose values are set, for props passed through as they are. */
function definedOnly<T extends object, K extends keyof T & string>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => source[k] !== undefined).map((k) => [k, source[k]])) as Partial<Pick<T, K>>;
}
