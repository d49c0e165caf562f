/**
 * The fieldlens stack: a bucket (new or existing), the model API key's
 * secret, optionally a place in the user's VPC, one pipeline, and the
 * outputs a user needs next.
 */
import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, Token, Validations, type StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { ResponseFormat } from '../functions/config';
import type { FieldSet } from '../functions/core/fields';
import type { TriggerKind } from './budget';
import { DirectPipeline } from './constructs/direct-pipeline';
import { checkModelNetworkProps, ModelNetwork, wantsVpc, type ModelNetworkProps } from './constructs/model-network';
import type { FieldlensPipeline, LogLevel, PipelineProps } from './constructs/pipeline-props';
import { QueuePipeline } from './constructs/queue-pipeline';
import { StepFunctionsPipeline } from './constructs/stepfunctions-pipeline';
import { FieldlensPropsError } from './errors';

/** How the extraction is fanned out over an image's fields. */
export type FanoutKind = 'lambda' | 'stepfunctions';

/** Options for the bucket the stack creates when no existing bucket is given. */
export interface FieldlensBucketProps {
  /**
   * Write S3 server access logs to a second bucket the stack creates.
   * @default false
   */
  readonly serverAccessLogs?: boolean;
  /**
   * Keep every version of every object.
   * @default false
   */
  readonly versioned?: boolean;
  /**
   * What happens to the bucket (and the access log bucket) when the stack is
   * deleted. The default keeps images and results.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The model endpoint the stack points the function at. */
export interface FieldlensModelProps {
  /** OpenAI-compatible base URL, e.g. `http://10.0.0.5:8000/v1` or `https://api.openai.com/v1`. */
  readonly baseUrl: string;
  /** The `model` sent in each request, e.g. `Qwen/Qwen2.5-VL-7B-Instruct` or `gpt-4o-mini`. */
  readonly name: string;
  /**
   * An existing Secrets Manager secret holding the API key (plain text, or
   * JSON `{"apiKey": "…"}`).
   * @default - the stack creates a secret holding a random placeholder
   *   (servers that check no key ignore it); put the real key in it after deploying
   */
  readonly existingApiKeySecret?: secretsmanager.ISecret;
  /**
   * The complete ARN (with its 6-character suffix) of an existing secret
   * holding the API key. Give at most one of `existingApiKeySecret` and
   * `existingApiKeySecretArn`.
   * @default - see `existingApiKeySecret`
   */
  readonly existingApiKeySecretArn?: string;
  /**
   * How many requests the endpoint serves at once. The deployment never has
   * more in flight: see `budget.ts`.
   * @default 10
   */
  readonly maxConcurrency?: number;
  /**
   * One attempt's time limit.
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;
  /**
   * Transport retries per field.
   * @default 3
   */
  readonly maxRetries?: number;
  /**
   * Most tokens in one answer.
   * @default - the handler's default (1024)
   */
  readonly maxTokens?: number;
  /**
   * How the JSON answer is requested: `json_schema` (OpenAI, vLLM, Ollama),
   * `json_object` (servers with JSON mode only), `none`.
   * @default 'json_schema'
   */
  readonly responseFormat?: ResponseFormat;
}

/**
 * Props of {@link FieldlensStack}.
 *
 * The {@link ModelNetworkProps} (`vpc`, `vpcSubnets`, `securityGroups`, or
 * `vpcId`, `subnetIds`, `securityGroupIds`) place the functions that call
 * the model in a VPC, for an endpoint on a private address.
 */
export interface FieldlensStackProps extends StackProps, ModelNetworkProps {
  /** The model endpoint. */
  readonly model: FieldlensModelProps;
  /**
   * The fields asked about each image (validate JSON with `parseFieldSet`).
   * @default - the built-in chemical label field set
   */
  readonly fields?: FieldSet;
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
   * An existing bucket to watch, from your own app. Give at most one of
   * `existingBucket`, `existingBucketName` and `bucketProps`.
   * @default - a new bucket
   */
  readonly existingBucket?: s3.IBucket;
  /**
   * The name of an existing bucket to watch (in this stack's account and
   * region). The stack adds its event notification to the bucket.
   * @default - a new bucket
   */
  readonly existingBucketName?: string;
  /**
   * Options for the new bucket.
   * @default - all public access blocked, TLS only, S3-managed encryption,
   *   no access logs, no versioning, retained on stack deletion
   */
  readonly bucketProps?: FieldlensBucketProps;
  /**
   * A separate bucket for results.
   * @default - results go to the watched bucket
   */
  readonly existingOutputBucket?: s3.IBucket;
  /**
   * How images reach the function: `direct` (S3 invokes it) or `queue`
   * (S3 → SQS → Lambda).
   * @default 'direct'
   */
  readonly trigger?: TriggerKind;
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
   * Memory of the function, in MiB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * The function's timeout: the most time one image may take, model retries
   * included. Keep it well above the model's latency for one answer.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * Retention of the function's logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Larger objects get a `rejected` document instead of a model call.
   * @default 20 MiB
   */
  readonly maxImageBytes?: number;
  /**
   * The handler's log level.
   * @default 'info'
   */
  readonly logLevel?: LogLevel;
  /**
   * The TypeScript file exporting the Lambda `handler`.
   * @default - `functions/on-upload.ts`
   */
  readonly handlerEntry?: string;
}

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
  /** The secret holding the model API key. */
  public readonly apiKeySecret: secretsmanager.ISecret;
  /** The pipeline that processes the images. */
  public readonly pipeline: FieldlensPipeline;
  /**
   * The VPC placement of the functions that call the model, when asked for;
   * its `vpcConfig.securityGroups` are the groups to let in on the endpoint.
   */
  public readonly modelNetwork?: ModelNetwork;

  constructor(scope: Construct, id: string, props: FieldlensStackProps) {
    super(scope, id, {
      description: 'fieldlens: images uploaded to S3 become JSON documents, one vision-model question per field',
      ...props,
    });
    const inputPrefix = props.inputPrefix ?? 'incoming/';
    const outputPrefix = props.outputPrefix ?? 'results/';
    const trigger = props.trigger ?? 'direct';
    const fanout = props.fanout ?? 'lambda';
    checkProps(props);
    if (props.reserveConcurrency !== undefined && trigger !== 'direct') {
      throw new FieldlensPropsError(
        'reserveConcurrency: only the direct trigger uses reserved concurrency; the queue trigger limits concurrency on its event source',
      );
    }

    if (props.existingBucket) {
      this.bucket = props.existingBucket;
    } else if (props.existingBucketName) {
      this.bucket = s3.Bucket.fromBucketName(this, 'Bucket', props.existingBucketName);
    } else {
      const created = this.createBucket(props.bucketProps ?? {});
      this.bucket = created.bucket;
      this.accessLogsBucket = created.accessLogs;
    }
    this.outputBucket = props.existingOutputBucket ?? this.bucket;

    if (props.model.existingApiKeySecret) {
      this.apiKeySecret = props.model.existingApiKeySecret;
    } else if (props.model.existingApiKeySecretArn) {
      this.apiKeySecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'ModelApiKey', props.model.existingApiKeySecretArn);
    } else {
      const secret = new secretsmanager.Secret(this, 'ModelApiKey', {
        description:
          'API key of the fieldlens model endpoint, as plain text. Created with a random placeholder: replace it with the real key (servers that check no key ignore it).',
        generateSecretString: { passwordLength: 32, excludePunctuation: true },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The secret holds an API key issued by the model provider; it can only be rotated at the provider, then pasted here, so Secrets Manager rotation has nothing to call.',
      });
      this.apiKeySecret = secret;
    }

    if (wantsVpc(props)) {
      this.modelNetwork = new ModelNetwork(this, 'ModelNetwork', {
        ...optional('vpc', props.vpc),
        ...optional('vpcSubnets', props.vpcSubnets),
        ...optional('securityGroups', props.securityGroups),
        ...optional('vpcId', props.vpcId),
        ...optional('subnetIds', props.subnetIds),
        ...optional('securityGroupIds', props.securityGroupIds),
      });
    }

    const pipelineProps: PipelineProps = {
      sourceBucket: this.bucket,
      inputPrefix,
      outputBucket: this.outputBucket,
      outputPrefix,
      model: {
        baseUrl: props.model.baseUrl,
        name: props.model.name,
        apiKeySecret: this.apiKeySecret,
        ...optional('capacity', props.model.maxConcurrency),
        ...optional('timeout', props.model.timeout),
        ...optional('maxRetries', props.model.maxRetries),
        ...optional('maxTokens', props.model.maxTokens),
        ...optional('responseFormat', props.model.responseFormat),
      },
      ...optional('fields', props.fields),
      ...optional('memorySize', props.memorySize),
      ...optional('timeout', props.timeout),
      ...optional('logRetention', props.logRetention),
      ...optional('maxImageBytes', props.maxImageBytes),
      ...optional('logLevel', props.logLevel),
      ...optional('handlerEntry', props.handlerEntry),
      ...optional('vpcConfig', this.modelNetwork?.vpcConfig),
    };
    this.pipeline = this.createPipeline(fanout, trigger, pipelineProps, props.reserveConcurrency);
    acknowledgeNotificationsHandler(Stack.of(this.bucket));

    const budget = this.pipeline.budget;
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'The bucket to upload images to' });
    new CfnOutput(this, 'InputUri', {
      value: `s3://${this.bucket.bucketName}/${inputPrefix}`,
      description: 'Upload images here (bucket + input prefix)',
    });
    new CfnOutput(this, 'OutputUri', {
      value: `s3://${this.outputBucket.bucketName}/${outputPrefix}`,
      description: 'Results appear here: the image key without the input prefix, plus .json',
    });
    new CfnOutput(this, 'FunctionName', {
      value: this.pipeline.handler.functionName,
      description: 'The function S3 invokes for each new image',
    });
    new CfnOutput(this, 'LogGroupName', {
      value: this.pipeline.logGroup.logGroupName,
      description: 'The function logs: aws logs tail <this name> --follow',
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: this.pipeline.deadLetterQueue.queueUrl,
      description: 'Events of images that could not be processed',
    });
    new CfnOutput(this, 'ModelApiKeySecretArn', {
      value: this.apiKeySecret.secretArn,
      description: 'Put the model API key here: aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string <key>',
    });
    new CfnOutput(this, 'EndpointBudget', {
      value: `${budget.perImage} requests per image x ${budget.concurrentImages} images at once = ${budget.maxInFlight} in flight at most`,
      description: 'How the model endpoint capacity is shared',
    });
    if (this.pipeline instanceof StepFunctionsPipeline) {
      new CfnOutput(this, 'StateMachineArn', {
        value: this.pipeline.stateMachine.stateMachineArn,
        description: 'One execution per image: aws stepfunctions list-executions --state-machine-arn <this ARN>',
      });
      new CfnOutput(this, 'StateMachineLogGroupName', {
        value: this.pipeline.stateMachineLogGroup.logGroupName,
        description: 'Every state of every run (no state data): aws logs tail <this name> --follow',
      });
    }
    if (this.modelNetwork) {
      new CfnOutput(this, 'ModelClientSecurityGroupIds', {
        value: Fn.join(',', this.modelNetwork.vpcConfig.securityGroups.map((sg) => sg.securityGroupId)),
        description: "Security groups of the functions that call the model: let them in on the model endpoint's port",
      });
    }
    if (this.pipeline instanceof QueuePipeline) {
      new CfnOutput(this, 'EventQueueUrl', {
        value: this.pipeline.eventQueue.queueUrl,
        description: 'S3 events waiting to be processed',
      });
    }
  }

  /** The one place a pipeline is chosen; a new fan-out plugs in here. */
  private createPipeline(
    fanout: FanoutKind,
    trigger: TriggerKind,
    props: PipelineProps,
    reserveConcurrency: boolean | undefined,
  ): FieldlensPipeline {
    switch (fanout) {
      case 'lambda':
        return trigger === 'queue'
          ? new QueuePipeline(this, 'Pipeline', props)
          : new DirectPipeline(this, 'Pipeline', { ...props, ...optional('reserveConcurrency', reserveConcurrency) });
      case 'stepfunctions':
        if (trigger !== 'direct') {
          throw new FieldlensPropsError(
            'trigger: the Step Functions fan-out is started by S3 directly (trigger "direct"); its runs wait in Step Functions, so no queue is needed',
          );
        }
        return new StepFunctionsPipeline(this, 'Pipeline', { ...props, ...optional('reserveConcurrency', reserveConcurrency) });
      default:
        throw new FieldlensPropsError(`fanout: expected "lambda" or "stepfunctions", got ${JSON.stringify(fanout)}`);
    }
  }

  private createBucket(options: FieldlensBucketProps): { bucket: s3.Bucket; accessLogs?: s3.Bucket } {
    const removalPolicy = options.removalPolicy ?? RemovalPolicy.RETAIN;
    const secure = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
    } satisfies s3.BucketProps;

    let accessLogs: s3.Bucket | undefined;
    if (options.serverAccessLogs) {
      accessLogs = new s3.Bucket(this, 'AccessLogs', {
        ...secure,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      });
      Validations.of(accessLogs).acknowledge({
        id: 'AwsSolutions-S1',
        reason: 'This is the access log bucket itself; logging its own accesses would log the log writes.',
      });
    }
    const bucket = new s3.Bucket(this, 'Bucket', {
      ...secure,
      versioned: options.versioned ?? false,
      ...(accessLogs ? { serverAccessLogsBucket: accessLogs, serverAccessLogsPrefix: 'fieldlens/' } : {}),
    });
    if (!accessLogs) {
      Validations.of(bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Server access logs are opt-in (bucketProps.serverAccessLogs, context accessLogs=true): every image already leaves a result document and a log line of the function.',
      });
    }
    return accessLogs ? { bucket, accessLogs } : { bucket };
  }
}

/**
 * CDK adds one bucket-notification custom resource per stack, with a role
 * that carries AWSLambdaBasicExecutionRole; its S3 permission is already
 * scoped by CDK to the bucket. The acknowledgement sits on that singleton only.
 */
function acknowledgeNotificationsHandler(stack: Stack): void {
  for (const child of stack.node.children) {
    if (!child.node.id.startsWith('BucketNotificationsHandler')) continue;
    Validations.of(child).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        "CDK's bucket-notification custom resource attaches AWSLambdaBasicExecutionRole so it can write its own logs; " +
        'its only S3 permission (s3:PutBucketNotification) is scoped by CDK to this bucket.',
    });
  }
}

/** Props that contradict each other or cannot work, rejected before anything is created. */
function checkProps(props: FieldlensStackProps): void {
  const given = (['existingBucket', 'existingBucketName', 'bucketProps'] as const).filter((k) => props[k] !== undefined);
  if (given.length > 1) {
    throw new FieldlensPropsError(
      `give at most one of existingBucket, existingBucketName and bucketProps (an existing bucket, or options for a new one), got ${given.join(' and ')}`,
    );
  }
  if (!Token.isUnresolved(props.model.baseUrl) && !/^https?:\/\/[^/\s]+/.test(props.model.baseUrl)) {
    throw new FieldlensPropsError(
      `model.baseUrl: expected an http(s) URL such as https://vllm.example.com/v1, got ${JSON.stringify(props.model.baseUrl)}`,
    );
  }
  if (!props.model.name.trim()) throw new FieldlensPropsError('model.name: expected the model name sent in each request');
  if (props.model.existingApiKeySecret && props.model.existingApiKeySecretArn) {
    throw new FieldlensPropsError('model: give at most one of existingApiKeySecret and existingApiKeySecretArn');
  }
  checkModelNetworkProps(props);
}

/** `{ [key]: value }` when the value is set: keeps `undefined` out of props whose defaults live below. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
