import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_FIELDS, type FieldSet } from '../../functions/core/fields';
import { FieldlensPropsError } from '../../infra/errors';
import { FieldlensStack } from '../../infra/fieldlens-stack';
import { buildStack, logicalId, MODEL, testApp } from './support';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fieldlens-key-AbCdEf';

const threeFields: FieldSet = DEFAULT_LABEL_FIELDS.slice(0, 3);

function functionProps(template: ReturnType<typeof buildStack>['template']): Record<string, any> {
  const fns = template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } });
  const all = Object.values(fns);
  expect(all).toHaveLength(1);
  return all[0]!.Properties;
}

describe('FieldlensStack: a new bucket', () => {
  it('blocks all public access, encrypts with S3-managed keys and is kept on stack deletion', () => {
    // Act
    const { template } = buildStack();

    // Assess
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResource('AWS::S3::Bucket', {
      Properties: {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        LoggingConfiguration: Match.absent(),
        VersioningConfiguration: Match.absent(),
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('refuses every request that is not over TLS', () => {
    const { template } = buildStack();

    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('writes server access logs to a second private bucket when asked, and versions objects when asked', () => {
    // Act
    const { template } = buildStack({ bucketProps: { serverAccessLogs: true, versioned: true } });

    // Assess
    template.resourceCountIs('AWS::S3::Bucket', 2);
    const logs = logicalId(template, 'AWS::S3::Bucket', 'AccessLogs');
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: logs }, LogFilePrefix: 'fieldlens/' },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({ PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true }) }),
      DeletionPolicy: 'Retain',
    });
  });

  it('lets a user choose to delete the bucket with the stack', () => {
    const { template } = buildStack({ bucketProps: { removalPolicy: RemovalPolicy.DESTROY } });

    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
  });
});

describe('FieldlensStack: an existing bucket', () => {
  it('creates no bucket and adds its notification to the named one, keeping the bucket\'s other notifications', () => {
    // Act
    const { template } = buildStack({ existingBucketName: 'my-images' });

    // Assess
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: 'my-images',
      Managed: false,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          Match.objectLike({
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'incoming/' }] } },
          }),
        ],
      },
    });
  });

  it('writes results to the named bucket by default: OUTPUT_BUCKET unset means the source bucket', () => {
    const { template } = buildStack({ existingBucketName: 'my-images' });

    expect(functionProps(template).Environment.Variables.OUTPUT_BUCKET).toBeUndefined();
  });

  it('names a separate output bucket in OUTPUT_BUCKET', () => {
    // Prepare
    const app = testApp();
    const results = new s3.Bucket(new Stack(app, 'Results'), 'Results');

    // Act
    const stack = new FieldlensStack(app, 'Fieldlens', { model: MODEL, existingBucketName: 'my-images', existingOutputBucket: results });

    // Assess
    // A reference to the other stack's bucket name.
    expect(JSON.stringify(functionProps(Template.fromStack(stack)).Environment.Variables.OUTPUT_BUCKET)).toMatch(/Results.*Results/);
  });

  it('refuses an existing bucket together with options for a new one', () => {
    const act = () => buildStack({ existingBucketName: 'my-images', bucketProps: { versioned: true } });

    expect(act).toThrow(FieldlensPropsError);
    expect(act).toThrow(/at most one of existingBucket, existingBucketName and bucketProps/);
  });
});

describe('FieldlensStack: the on-upload function', () => {
  it('runs Node.js 22 on arm64 with its own log group and a retention', () => {
    // Act
    const { template } = buildStack();

    // Assess
    const fn = functionProps(template);
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
    const logGroup = logicalId(template, 'AWS::Logs::LogGroup', 'OnUpload');
    expect(fn.LoggingConfig).toEqual({ LogGroup: { Ref: logGroup } });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('takes memory and timeout from the props', () => {
    const { template } = buildStack({ memorySize: 1024, timeout: Duration.minutes(10) });

    expect(functionProps(template)).toMatchObject({ MemorySize: 1024, Timeout: 600 });
  });

  it('sets the environment contract from the props, with the budget\'s per-image cap', () => {
    // Act
    const { template } = buildStack({
      inputPrefix: 'in/',
      outputPrefix: 'out/',
      maxImageBytes: 5_000_000,
      logLevel: 'debug',
      model: { ...MODEL, timeout: Duration.seconds(90), maxRetries: 2, responseFormat: 'json_object', maxTokens: 512 },
    });

    // Assess
    const env = functionProps(template).Environment.Variables;
    expect(env).toMatchObject({
      MODEL_BASE_URL: MODEL.baseUrl,
      MODEL_NAME: 'qwen',
      MODEL_MAX_CONCURRENCY: '5',
      MODEL_TIMEOUT_MS: '90000',
      MODEL_MAX_RETRIES: '2',
      MODEL_MAX_TOKENS: '512',
      MODEL_RESPONSE_FORMAT: 'json_object',
      INPUT_PREFIX: 'in/',
      OUTPUT_PREFIX: 'out/',
      MAX_IMAGE_BYTES: '5000000',
      DEADLINE_MARGIN_MS: '5000',
      LOG_LEVEL: 'debug',
      NODE_OPTIONS: '--enable-source-maps',
    });
    // Results go to the stack's bucket, the source bucket: the function is told so by no OUTPUT_BUCKET.
    expect(env.OUTPUT_BUCKET).toBeUndefined();
    // Unset, log-probabilities and the review threshold are the function's defaults.
    expect(env.MODEL_LOGPROBS).toBeUndefined();
    expect(env.REVIEW_CONFIDENCE_THRESHOLD).toBeUndefined();
  });

  it('asks for log-probabilities and sets the review threshold when the props say so', () => {
    const { template } = buildStack({ model: { ...MODEL, logprobs: true }, reviewConfidenceThreshold: 0.6 });

    expect(functionProps(template).Environment.Variables).toMatchObject({ MODEL_LOGPROBS: 'true', REVIEW_CONFIDENCE_THRESHOLD: '0.6' });
  });

  it('refuses a review threshold the function would refuse, with its message', () => {
    expect(() => buildStack({ reviewConfidenceThreshold: 2 })).toThrow(/REVIEW_CONFIDENCE_THRESHOLD: expected a number from 0 to 1/);
  });

  it('leaves FIELDS unset for the built-in field set and carries a custom one as JSON', () => {
    const builtIn = functionProps(buildStack().template).Environment.Variables;
    const custom = functionProps(buildStack({ fields: threeFields }).template).Environment.Variables;

    expect(builtIn.FIELDS).toBeUndefined();
    expect(JSON.parse(custom.FIELDS)).toEqual(threeFields);
  });

  it('refuses a field set too large for Lambda\'s 4 KB environment', () => {
    // Prepare
    const longPrompt = 'Read the label carefully. '.repeat(40);
    const fields = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, type: 'string' as const, prompt: longPrompt }));

    // Act
    const act = () => buildStack({ fields });

    // Assess
    expect(act).toThrow(FieldlensPropsError);
    expect(act).toThrow(/over Lambda's 4096-byte limit/);
  });

  it('is triggered by object-created events under the input prefix only', () => {
    const { template } = buildStack({ inputPrefix: 'uploads/' });

    const fn = logicalId(template, 'AWS::Lambda::Function', 'OnUpload');
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
            LambdaFunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 's3.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
    });
  });

  it('refuses prefixes that overlap in one bucket, since each result would trigger another run', () => {
    const act = () => buildStack({ inputPrefix: 'data/', outputPrefix: 'data/results/' });

    expect(act).toThrow(/overlap in the same bucket/);
  });
});

describe('FieldlensStack: direct trigger failures', () => {
  it('sets the maximum event age and retries explicitly and sends failures to the dead-letter queue', () => {
    // Act
    const { template } = buildStack();

    // Assess
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumEventAgeInSeconds: 6 * 3600,
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
    });
  });

  it('keeps dead letters encrypted for 14 days, over TLS only', () => {
    const { template } = buildStack();

    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86400 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlq }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('alarms as soon as a dead letter is visible', () => {
    const { template } = buildStack();

    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('FieldlensStack: the endpoint budget (direct trigger)', () => {
  it('reserves 2 concurrent images of 5 requests for a 10-request endpoint and the 5 built-in fields', () => {
    // Act
    const { template, stack } = buildStack({ model: { ...MODEL, maxConcurrency: 10 } });

    // Assess
    const fn = functionProps(template);
    expect(fn.ReservedConcurrentExecutions).toBe(2);
    expect(fn.Environment.Variables.MODEL_MAX_CONCURRENCY).toBe('5');
    expect(stack.pipeline.budget.maxInFlight).toBeLessThanOrEqual(10);
  });

  it('follows the field count: 3 fields on a 10-request endpoint → 3 images of 3 requests', () => {
    const { template } = buildStack({ fields: threeFields });

    const fn = functionProps(template);
    expect(fn.ReservedConcurrentExecutions).toBe(3);
    expect(fn.Environment.Variables.MODEL_MAX_CONCURRENCY).toBe('3');
  });

  it('drops the reservation when switched off, keeps the per-image cap, and warns', () => {
    // Act
    const { template, stack } = buildStack({ reserveConcurrency: false });

    // Assess
    const fn = functionProps(template);
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
    expect(fn.Environment.Variables.MODEL_MAX_CONCURRENCY).toBe('5');
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('reserved concurrency is off'));
  });

  it('states the budget in an output', () => {
    const { template } = buildStack();

    template.hasOutput('EndpointBudget', {
      Value: '5 requests per image x 2 images at once = 10 in flight at most',
    });
  });
});

describe('FieldlensStack: queue trigger', () => {
  it('sends S3 events to an encrypted queue that S3 may write to', () => {
    // Act
    const { template } = buildStack({ trigger: 'queue' });

    // Assess
    const queue = logicalId(template, 'AWS::SQS::Queue', 'Events');
    const bucket = logicalId(template, 'AWS::S3::Bucket', 'Bucket');
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, VisibilityTimeout: Match.anyValue() });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'incoming/' }] } },
            QueueArn: { 'Fn::GetAtt': [queue, 'Arn'] },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [bucket, 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('keeps messages invisible for six function timeouts and dead-letters them after 3 receives', () => {
    const { template } = buildStack({ trigger: 'queue', timeout: Duration.minutes(5) });

    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 1800,
      MessageRetentionPeriod: 14 * 86400,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: 3 },
    });
  });

  it('caps concurrent images on the event source, one image per invocation, with partial batch failures', () => {
    // Act
    const { template } = buildStack({ trigger: 'queue', model: { ...MODEL, maxConcurrency: 10 } });

    // Assess
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const fn = functionProps(template);
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
    expect(fn.Environment.Variables.MODEL_MAX_CONCURRENCY).toBe('5');
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 0);
  });

  it('alarms on its dead-letter queue and outputs the event queue', () => {
    const { template } = buildStack({ trigger: 'queue' });

    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      Threshold: 0,
    });
    template.hasOutput('EventQueueUrl', {});
  });

  it('refuses a one-request endpoint, which the event source\'s minimum of 2 would overload', () => {
    const act = () => buildStack({ trigger: 'queue', model: { ...MODEL, maxConcurrency: 1 } });

    expect(act).toThrow(/the queue trigger needs a capacity of at least 2/);
  });

  it('refuses the reserved-concurrency switch, which only the direct trigger has', () => {
    const act = () => buildStack({ trigger: 'queue', reserveConcurrency: false });

    expect(act).toThrow(/only the direct trigger uses reserved concurrency/);
  });
});

describe('FieldlensStack: the API key secret', () => {
  it('creates a secret with a generated placeholder and gives the function only its ARN', () => {
    // Act
    const { template } = buildStack();

    // Assess
    const secret = logicalId(template, 'AWS::SecretsManager::Secret', 'ModelApiKey');
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.anyValue(),
      SecretString: Match.absent(),
    });
    const env = functionProps(template).Environment.Variables;
    expect(env.MODEL_API_KEY_SECRET_ARN).toEqual({ Ref: secret });
    expect(env.MODEL_API_KEY).toBeUndefined();
    template.hasOutput('ModelApiKeySecretArn', { Value: { Ref: secret } });
  });

  it('uses an existing secret by ARN and creates none', () => {
    const { template } = buildStack({ model: { ...MODEL, existingApiKeySecretArn: SECRET_ARN } });

    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(functionProps(template).Environment.Variables.MODEL_API_KEY_SECRET_ARN).toBe(SECRET_ARN);
    template.hasOutput('ModelApiKeySecretArn', { Value: SECRET_ARN });
  });
});

describe('FieldlensStack: outputs and plumbing', () => {
  it('outputs what a user needs after deploying', () => {
    const { template } = buildStack();

    for (const name of [
      'BucketName',
      'InputUri',
      'OutputUri',
      'FunctionName',
      'LogGroupName',
      'DeadLetterQueueUrl',
      'ModelApiKeySecretArn',
      'EndpointBudget',
    ]) {
      template.hasOutput(name, {});
    }
    const bucket = logicalId(template, 'AWS::S3::Bucket', 'Bucket');
    template.hasOutput('InputUri', { Value: { 'Fn::Join': ['', ['s3://', { Ref: bucket }, '/incoming/']] } });
  });

  it('is environment-agnostic: no account or region is needed to synthesize', () => {
    const { stack } = buildStack();

    expect(stack.resolve(stack.account)).toEqual({ Ref: 'AWS::AccountId' });
    expect(stack.resolve(stack.region)).toEqual({ Ref: 'AWS::Region' });
  });

  it('refuses a model base URL that is not http(s)', () => {
    const act = () => buildStack({ model: { baseUrl: 'models.example.com/v1', name: 'qwen' } });

    expect(act).toThrow('MODEL_BASE_URL: expected an http(s) URL such as http://10.0.0.5:8000/v1 (got "models.example.com/v1")');
  });

  it('refuses the Step Functions fan-out with the queue trigger (its runs wait in Step Functions)', () => {
    const act = () => buildStack({ fanout: 'stepfunctions', trigger: 'queue' });

    expect(act).toThrow(FieldlensPropsError);
    expect(act).toThrow(/the Step Functions fan-out is started by S3 directly/);
  });
});
