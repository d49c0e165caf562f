import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { FieldlensStackProps } from '../../infra/fieldlens-stack';
import { allowedPermissions, buildStack, logicalId, newStack, type Permission } from './support';

/** Actions that may appear in the template at all, and where. */
function isAllowed(p: Permission, prefixes: { input: string; output: string }): boolean {
  const objectUnder = (prefix: string) => p.resource.endsWith(`/${prefix}*`) && !p.resource.includes('/*/');
  switch (p.action) {
    case 's3:GetObject':
      return objectUnder(prefixes.input) || objectUnder(prefixes.output);
    case 's3:PutObject':
      return objectUnder(prefixes.output);
    // CDK's bucket-notification custom resource, on the bucket itself (never "*").
    case 's3:PutBucketNotification':
    case 's3:GetBucketNotification':
      return !p.resource.includes('*');
    case 'secretsmanager:GetSecretValue':
      return !p.resource.includes('*');
    case 'logs:CreateLogStream':
    case 'logs:PutLogEvents':
      return /^<\w*LogGroup\w*\.Arn>$/.test(p.resource);
    // The on-failure destination (direct) and the event source (queue): one queue each, by ARN.
    case 'sqs:SendMessage':
    case 'sqs:GetQueueAttributes':
    case 'sqs:GetQueueUrl':
    case 'sqs:ReceiveMessage':
    case 'sqs:ChangeMessageVisibility':
    case 'sqs:DeleteMessage':
      return /^<\w+\.Arn>$/.test(p.resource);
    default:
      return false;
  }
}

/** Every permission that goes beyond fieldlens's least-privilege rules. */
function widenings(template: Template, prefixes = { input: 'incoming/', output: 'results/' }): Permission[] {
  return allowedPermissions(template).filter((p) => p.action.includes('*') || p.resource === '*' || !isAllowed(p, prefixes));
}

/** Managed policies attached to any role, except the one CDK's notification handler needs for its logs. */
function unexpectedManagedPolicies(template: Template): string[] {
  return Object.values(template.findResources('AWS::IAM::Role'))
    .flatMap((r) => (r.Properties.ManagedPolicyArns ?? []) as unknown[])
    .map((arn) => JSON.stringify(arn))
    .filter((arn) => !arn.includes('service-role/AWSLambdaBasicExecutionRole'));
}

/** The function role's permissions as sorted "action on resource" lines. */
function functionPermissions(template: Template): string[] {
  const policy = logicalId(template, 'AWS::IAM::Policy', 'OnUploadRoleDefaultPolicy');
  return allowedPermissions(template)
    .filter((p) => p.policy === policy)
    .map((p) => `${p.action} on ${p.resource}`)
    .sort();
}

const configurations: Array<[string, Partial<FieldlensStackProps>]> = [
  ['direct trigger, new bucket', {}],
  ['direct trigger, new bucket with access logs', { bucketProps: { serverAccessLogs: true, versioned: true } }],
  ['direct trigger, existing bucket', { existingBucketName: 'my-images' }],
  ['queue trigger, new bucket', { trigger: 'queue' }],
  ['queue trigger, existing bucket', { trigger: 'queue', existingBucketName: 'my-images' }],
];

describe('least privilege: the function role', () => {
  it('may read images under the input prefix, read and write results, read the secret, send dead letters, write its logs', () => {
    // Act
    const { template } = buildStack();

    // Assess
    const bucket = logicalId(template, 'AWS::S3::Bucket', 'Bucket');
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    const logGroup = logicalId(template, 'AWS::Logs::LogGroup', 'OnUpload');
    const secret = logicalId(template, 'AWS::SecretsManager::Secret', 'ModelApiKey');
    expect(functionPermissions(template)).toEqual(
      [
        `logs:CreateLogStream on <${logGroup}.Arn>`,
        `logs:PutLogEvents on <${logGroup}.Arn>`,
        `s3:GetObject on <${bucket}.Arn>/incoming/*`,
        `s3:GetObject on <${bucket}.Arn>/results/*`,
        `s3:PutObject on <${bucket}.Arn>/results/*`,
        `secretsmanager:GetSecretValue on <${secret}>`,
        `sqs:GetQueueAttributes on <${dlq}.Arn>`,
        `sqs:GetQueueUrl on <${dlq}.Arn>`,
        `sqs:SendMessage on <${dlq}.Arn>`,
      ].sort(),
    );
  });

  it('names an existing bucket and secret by ARN, scoped to the prefixes', () => {
    // Act
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fieldlens-key-AbCdEf';
    const { template } = buildStack({
      existingBucketName: 'my-images',
      inputPrefix: 'in/',
      outputPrefix: 'out/',
      model: { baseUrl: 'http://10.0.0.5:8000/v1', name: 'qwen', existingApiKeySecretArn: arn },
    });

    // Assess
    const s3Lines = functionPermissions(template).filter((l) => l.startsWith('s3:') || l.startsWith('secretsmanager:'));
    expect(s3Lines).toEqual([
      's3:GetObject on arn:<AWS::Partition>:s3:::my-images/in/*',
      's3:GetObject on arn:<AWS::Partition>:s3:::my-images/out/*',
      's3:PutObject on arn:<AWS::Partition>:s3:::my-images/out/*',
      `secretsmanager:GetSecretValue on ${arn}`,
    ]);
  });

  it('consumes only its event queue with the queue trigger, and sends nothing', () => {
    const { template } = buildStack({ trigger: 'queue' });

    const queue = logicalId(template, 'AWS::SQS::Queue', 'Events');
    const sqsLines = functionPermissions(template).filter((l) => l.startsWith('sqs:'));
    expect(sqsLines).toEqual(
      [
        `sqs:ChangeMessageVisibility on <${queue}.Arn>`,
        `sqs:DeleteMessage on <${queue}.Arn>`,
        `sqs:GetQueueAttributes on <${queue}.Arn>`,
        `sqs:GetQueueUrl on <${queue}.Arn>`,
        `sqs:ReceiveMessage on <${queue}.Arn>`,
      ].sort(),
    );
  });

  it('has no managed policy', () => {
    const { template } = buildStack();

    const role = logicalId(template, 'AWS::IAM::Role', 'OnUploadRole');
    expect(template.findResources('AWS::IAM::Role')[role]!.Properties.ManagedPolicyArns).toBeUndefined();
  });
});

describe('least privilege: nothing in the template widens it', () => {
  it.each(configurations)('%s: no wildcard action, no "*" resource, no S3 access outside the prefixes', (_name, props) => {
    // Act
    const { template } = buildStack(props);

    // Assess
    expect(widenings(template)).toEqual([]);
    expect(unexpectedManagedPolicies(template)).toEqual([]);
  });

  it('the check catches a grant that widens access (grantRead on the whole bucket)', () => {
    // Prepare
    const { stack } = newStack();
    stack.bucket.grantRead(stack.pipeline.handler);

    // Act
    const found = widenings(Template.fromStack(stack));

    // Assess
    expect(found.map((p) => p.action)).toEqual(expect.arrayContaining(['s3:GetObject*', 's3:List*']));
  });

  it('the check catches a put under the input prefix', () => {
    // Prepare
    const { stack } = newStack();
    stack.bucket.grantPut(stack.pipeline.handler, 'incoming/*');

    // Act
    const found = widenings(Template.fromStack(stack));

    // Assess
    expect(found.some((p) => p.resource.endsWith('/incoming/*'))).toBe(true);
  });

  it('the check catches an administrator managed policy', async () => {
    // Prepare
    const { ManagedPolicy } = await import('aws-cdk-lib/aws-iam');
    const { stack } = newStack();
    stack.pipeline.handler.role?.addManagedPolicy(ManagedPolicy.fromAwsManagedPolicyName('AdministratorAccess'));

    // Act
    const found = unexpectedManagedPolicies(Template.fromStack(stack));

    // Assess
    expect(found.join()).toContain('AdministratorAccess');
  });
});
