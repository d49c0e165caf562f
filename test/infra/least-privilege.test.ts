import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import type { StepFunctionsPipeline } from '../../infra/constructs/stepfunctions-pipeline';
import type { FieldlensStackProps } from '../../infra/fieldlens-stack';
import { allowedPermissions, buildStack, logicalId, MODEL, newStack, type Permission } from './support';

/** Actions that may appear in the template at all, and where. */
function isAllowed(p: Permission, prefixes: { input: string; output: string }): boolean {
  const objectUnder = (prefix: string) => p.resource.endsWith(`/${prefix}*`) && !p.resource.includes('/*/');
  // The backfill's Map Run results, in its own folder under the output prefix.
  const backfillResults = p.resource.endsWith(`/${prefixes.output}.fieldlens/backfill/*`) && !p.resource.includes('/*/');
  // Written out here on purpose, not imported from functions/: the Step Functions field parts.
  const partsUnderOutput = objectUnder(`${prefixes.output}.fieldlens/parts/`);
  switch (p.action) {
    case 's3:GetObject':
      return objectUnder(prefixes.input) || objectUnder(prefixes.output) || backfillResults;
    case 's3:PutObject':
      return objectUnder(prefixes.output) || partsUnderOutput || backfillResults;
    // Merge and RecordFailure clean up the parts; nothing else is ever deleted.
    case 's3:DeleteObject':
      return partsUnderOutput;
    case 's3:ListMultipartUploadParts':
    case 's3:AbortMultipartUpload':
      return backfillResults;
    // The backfill's listing: the bucket itself, only for keys under the input prefix.
    case 's3:ListBucket': {
      const listed = p.condition?.StringLike?.['s3:prefix'];
      return !p.resource.includes('/') && Array.isArray(listed) && listed.length > 0 && listed.every((l) => String(l) === `${prefixes.input}*`);
    }
    // A Distributed Map's child executions: those of a state machine of this stack only.
    case 'states:DescribeExecution':
    case 'states:StopExecution':
    case 'states:RedriveExecution':
      return /:execution:\{"Fn::Select":\[6,\{"Fn::Split":\[":",\{"Ref":"\w*StateMachine\w*"\}\]\}\]\}(\/\w+)?:\*$/.test(p.resource);
    // CDK's bucket-notification custom resource, on the bucket itself (never "*").
    case 's3:PutBucketNotification':
    case 's3:GetBucketNotification':
      return !p.resource.includes('*');
    case 'secretsmanager:GetSecretValue':
      return !p.resource.includes('*');
    // Bedrock: one foundation model in one region, or one inference profile and its base model in any
    // region, the latter only through that profile.
    case 'bedrock:InvokeModel':
      return (
        /:bedrock:(<AWS::Region>|[a-z0-9-]+)::foundation-model\/[^*]+$/.test(p.resource) ||
        /:bedrock:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|\d{12}):inference-profile\/[^*]+$/.test(p.resource) ||
        (/:bedrock:\*::foundation-model\/[^*]+$/.test(p.resource) && p.condition?.StringEquals?.['bedrock:InferenceProfileArn'] !== undefined)
      );
    // The fleet gate's one item: a consistent read, its first write, conditional updates; the table itself, no index.
    case 'dynamodb:GetItem':
    case 'dynamodb:PutItem':
    case 'dynamodb:UpdateItem':
      return /^<FleetGateTable\w*\.Arn>$/.test(p.resource);
    case 'logs:CreateLogStream':
    case 'logs:PutLogEvents':
      return /^<\w*LogGroup\w*\.Arn>$/.test(p.resource);
    // Step Functions: the starter starts the one state machine; its role invokes the task functions.
    case 'states:StartExecution':
      return /^<\w*StateMachine\w*>$/.test(p.resource);
    case 'lambda:InvokeFunction':
      return /^<\w*Function\w*\.Arn>(:\*)?$/.test(p.resource);
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

/**
 * Actions AWS offers on "*" only, which a state machine needs for its
 * execution logs and X-Ray tracing; allowed on the state machine's role alone.
 */
const STATE_MACHINE_STAR_ACTIONS = new Set([
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
]);

/**
 * What Lambda needs on "*" to connect a function to its VPC (the EC2 part of
 * AWSLambdaVPCAccessExecutionRole); allowed only on the roles of functions
 * that are placed in a VPC. Written out here on purpose, not imported from
 * infra/: a grant widened in the source must fail this test.
 */
const VPC_NETWORK_INTERFACE_ACTIONS = new Set([
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
]);

const VPC = { vpcId: 'vpc-0a1b2c3d4e5f67890', subnetIds: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'] } satisfies Partial<FieldlensStackProps>;

/** Policies attached to the roles of functions that have a VpcConfig. */
function vpcFunctionPolicies(template: Template): Set<string> {
  const roles = Object.values(template.findResources('AWS::Lambda::Function'))
    .filter((f) => f.Properties.VpcConfig !== undefined)
    .map((f) => (f.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);
  return policiesOf(template, roles);
}

/** Policies attached to roles that only Step Functions may assume. */
function stateMachinePolicies(template: Template): Set<string> {
  const roles = Object.entries(template.findResources('AWS::IAM::Role'))
    .filter(([, r]) => JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('states.amazonaws.com'))
    .map(([id]) => id);
  return policiesOf(template, roles);
}

/** The AWS::IAM::Policy resources attached to any of the roles. */
function policiesOf(template: Template, roles: readonly string[]): Set<string> {
  return new Set(
    Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([, p]) => ((p.Properties.Roles ?? []) as unknown[]).some((r) => roles.includes((r as { Ref?: string }).Ref ?? '')))
      .map(([id]) => id),
  );
}

/** Every permission that goes beyond fieldlens's least-privilege rules. */
function widenings(template: Template, prefixes = { input: 'incoming/', output: 'results/' }): Permission[] {
  const sfnPolicies = stateMachinePolicies(template);
  const vpcPolicies = vpcFunctionPolicies(template);
  return allowedPermissions(template).filter((p) => {
    if (p.resource === '*' && STATE_MACHINE_STAR_ACTIONS.has(p.action) && sfnPolicies.has(p.policy)) return false;
    if (p.resource === '*' && VPC_NETWORK_INTERFACE_ACTIONS.has(p.action) && vpcPolicies.has(p.policy)) return false;
    return p.action.includes('*') || p.resource === '*' || !isAllowed(p, prefixes);
  });
}

/**
 * Managed policies attached to any role, except the one CDK's notification
 * handler needs for its logs. AWSLambdaVPCAccessExecutionRole is not an
 * exception: VPC functions get its network-interface actions as their own
 * statement, without its log writes to every log group.
 */
function unexpectedManagedPolicies(template: Template): string[] {
  return Object.values(template.findResources('AWS::IAM::Role'))
    .flatMap((r) => (r.Properties.ManagedPolicyArns ?? []) as unknown[])
    .map((arn) => JSON.stringify(arn))
    .filter((arn) => !arn.includes('service-role/AWSLambdaBasicExecutionRole'));
}

/** A role's permissions as sorted "action on resource" lines; `hint` picks its default policy. */
function functionPermissions(template: Template, hint = 'OnUploadRole'): string[] {
  const policy = logicalId(template, 'AWS::IAM::Policy', `${hint}DefaultPolicy`);
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
  ['Step Functions, new bucket', { fanout: 'stepfunctions' }],
  ['Step Functions, existing bucket, no reserved concurrency', { fanout: 'stepfunctions', existingBucketName: 'my-images', reserveConcurrency: false }],
  ['direct trigger in a VPC', VPC],
  ['queue trigger in a VPC with given security groups', { ...VPC, trigger: 'queue', securityGroupIds: ['sg-0a1b2c3d'] }],
  ['Step Functions in a VPC', { ...VPC, fanout: 'stepfunctions' }],
  ['direct trigger with a backfill', { backfill: {} }],
  ['queue trigger with a backfill, existing bucket', { trigger: 'queue', existingBucketName: 'my-images', backfill: {} }],
  ['Step Functions, EventBridge trigger, with a backfill in a VPC', { ...VPC, fanout: 'stepfunctions', trigger: 'eventbridge', backfill: { share: 0.3 } }],
  ['EventBridge trigger, existing bucket', { trigger: 'eventbridge', existingBucketName: 'my-images' }],
  ['Bedrock foundation model, direct trigger with a backfill', { model: { provider: 'bedrock', modelId: 'amazon.nova-lite-v1:0' }, backfill: {} }],
  ['Bedrock inference profile, Step Functions in a VPC', { ...VPC, fanout: 'stepfunctions', model: { provider: 'bedrock', modelId: 'eu.amazon.nova-pro-v1:0' } }],
  ['direct trigger with a backfill and the fleet gate', { backfill: {}, fleetGate: {} }],
  ['queue trigger with the fleet gate', { trigger: 'queue', fleetGate: {} }],
  ['Step Functions with a backfill and the fleet gate', { fanout: 'stepfunctions', backfill: {}, fleetGate: {} }],
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
      model: { ...MODEL, existingApiKeySecretArn: arn },
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

  it('in a VPC, may also manage its network interfaces, and still has no managed policy', () => {
    // Prepare
    const { template: outside } = buildStack();

    // Act
    const { template } = buildStack(VPC);

    // Assess
    const eni = [...VPC_NETWORK_INTERFACE_ACTIONS].map((action) => `${action} on *`);
    expect(functionPermissions(template)).toEqual([...functionPermissions(outside), ...eni].sort());
    const role = logicalId(template, 'AWS::IAM::Role', 'OnUploadRole');
    expect(template.findResources('AWS::IAM::Role')[role]!.Properties.ManagedPolicyArns).toBeUndefined();
  });
});

describe('least privilege: the Step Functions mode, one role per step', () => {
  const { template } = buildStack({ fanout: 'stepfunctions' });
  const id = (type: string, hint: string) => logicalId(template, type, hint);
  const bucket = id('AWS::S3::Bucket', 'Bucket');
  const logLines = (fn: string) => {
    const logGroup = id('AWS::Logs::LogGroup', `Pipeline${fn}LogGroup`);
    return [`logs:CreateLogStream on <${logGroup}.Arn>`, `logs:PutLogEvents on <${logGroup}.Arn>`];
  };

  const parts = `<${bucket}.Arn>/results/.fieldlens/parts/*`;

  it('the starter may HEAD results, start the one state machine and send dead letters, nothing else', () => {
    const dlq = id('AWS::SQS::Queue', 'DeadLetters');
    const machine = id('AWS::StepFunctions::StateMachine', 'StateMachine');

    expect(functionPermissions(template, 'PipelineStartRole')).toEqual(
      [
        ...logLines('Start'),
        `s3:GetObject on <${bucket}.Arn>/results/*`,
        `sqs:GetQueueAttributes on <${dlq}.Arn>`,
        `sqs:GetQueueUrl on <${dlq}.Arn>`,
        `sqs:SendMessage on <${dlq}.Arn>`,
        `states:StartExecution on <${machine}>`,
      ].sort(),
    );
  });

  it('Prepare may read images and read and write results (HEAD, rejected documents), not the secret', () => {
    expect(functionPermissions(template, 'PipelinePrepareRole')).toEqual(
      [
        ...logLines('Prepare'),
        `s3:GetObject on <${bucket}.Arn>/incoming/*`,
        `s3:GetObject on <${bucket}.Arn>/results/*`,
        `s3:PutObject on <${bucket}.Arn>/results/*`,
      ].sort(),
    );
  });

  it("ExtractField may read images and the secret, and write only its field's outcome under the parts prefix", () => {
    const secret = id('AWS::SecretsManager::Secret', 'ModelApiKey');

    expect(functionPermissions(template, 'PipelineExtractFieldRole')).toEqual(
      [
        ...logLines('ExtractField'),
        `s3:GetObject on <${bucket}.Arn>/incoming/*`,
        `s3:PutObject on ${parts}`,
        `secretsmanager:GetSecretValue on <${secret}>`,
      ].sort(),
    );
  });

  it('Merge and RecordFailure may HEAD images, read and write results, and delete parts; RecordFailure may also write them', () => {
    const common = [
      `s3:GetObject on <${bucket}.Arn>/incoming/*`,
      `s3:GetObject on <${bucket}.Arn>/results/*`,
      `s3:PutObject on <${bucket}.Arn>/results/*`,
      `s3:DeleteObject on ${parts}`,
    ];
    expect(functionPermissions(template, 'PipelineMergeRole')).toEqual([...logLines('Merge'), ...common].sort());
    expect(functionPermissions(template, 'PipelineRecordFailureRole')).toEqual(
      [...logLines('RecordFailure'), ...common, `s3:PutObject on ${parts}`].sort(),
    );
  });

  it('the state machine may invoke its four task functions, and use "*" only for log delivery and tracing', () => {
    const lines = functionPermissions(template, 'PipelineStateMachineRole');

    const invoked = lines.filter((l) => l.startsWith('lambda:')).map((l) => l.replace(/^lambda:InvokeFunction on <Pipeline(\w+?)Function\w+\.Arn>(:\*)?$/, '$1$2'));
    expect(invoked).toEqual(['ExtractField', 'ExtractField:*', 'Merge', 'Merge:*', 'Prepare', 'Prepare:*', 'RecordFailure', 'RecordFailure:*']);
    const star = lines.filter((l) => l.endsWith(' on *')).map((l) => l.replace(/ on \*$/, ''));
    expect(new Set(star)).toEqual(STATE_MACHINE_STAR_ACTIONS);
    expect(lines.length).toBe(invoked.length + star.length);
  });

  it('in a VPC, only ExtractField\'s role may manage network interfaces, and no role has a managed policy', () => {
    // Act
    const { template: inVpc } = buildStack({ ...VPC, fanout: 'stepfunctions' });

    // Assess
    const withEni = allowedPermissions(inVpc)
      .filter((p) => p.action.startsWith('ec2:'))
      .map((p) => p.policy);
    expect(new Set(withEni)).toEqual(new Set([logicalId(inVpc, 'AWS::IAM::Policy', 'PipelineExtractFieldRoleDefaultPolicy')]));
    expect(withEni).toHaveLength(VPC_NETWORK_INTERFACE_ACTIONS.size);
    expect(unexpectedManagedPolicies(inVpc)).toEqual([]);
  });

  it('only ExtractField gets the API key secret\'s ARN in its environment', () => {
    const withSecret = Object.entries(template.findResources('AWS::Lambda::Function'))
      .filter(([, r]) => r.Properties.Environment?.Variables?.MODEL_API_KEY_SECRET_ARN !== undefined)
      .map(([fn]) => fn);

    expect(withSecret).toEqual([id('AWS::Lambda::Function', 'PipelineExtractFieldFunction')]);
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

  it('the check catches a Bedrock grant on every model, or on a base model in any region without the profile condition', () => {
    // Prepare
    const { stack } = newStack({ model: { provider: 'bedrock', modelId: 'amazon.nova-lite-v1:0' } });
    for (const resource of ['arn:aws:bedrock:eu-west-1::foundation-model/*', 'arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0']) {
      stack.pipeline.handler.addToRolePolicy(new iam.PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: [resource] }));
    }

    // Act
    const found = widenings(Template.fromStack(stack));

    // Assess
    expect(found.map((p) => p.resource).sort()).toEqual([
      'arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0',
      'arn:aws:bedrock:eu-west-1::foundation-model/*',
    ]);
  });

  it('the check catches a DynamoDB grant wider than the fleet gate\'s three actions on its table', () => {
    // Prepare
    const { stack } = newStack({ fleetGate: {} });
    stack.fleetGate!.table.grantReadWriteData(stack.pipeline.handler);
    stack.pipeline.handler.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [`${stack.fleetGate!.table.tableArn}/index/*`] }));

    // Act
    const found = widenings(Template.fromStack(stack));

    // Assess
    expect(found.map((p) => p.action)).toEqual(expect.arrayContaining(['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:Scan']));
    expect(found.some((p) => p.action === 'dynamodb:GetItem' && p.resource.endsWith('/index/*'))).toBe(true);
  });

  it('the check catches a delete outside the parts prefix', () => {
    // Prepare
    const { stack } = newStack({ fanout: 'stepfunctions' });
    stack.bucket.grantDelete(stack.pipeline.handler, 'results/*');

    // Act
    const found = widenings(Template.fromStack(stack));

    // Assess
    expect(found.map((p) => p.action)).toContain('s3:DeleteObject*');
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

  it('the check catches a "*" log-delivery grant on a role other than the state machine\'s', async () => {
    // Prepare
    const { PolicyStatement } = await import('aws-cdk-lib/aws-iam');
    const { stack } = newStack({ fanout: 'stepfunctions' });
    stack.pipeline.handler.addToRolePolicy(new PolicyStatement({ actions: ['logs:CreateLogDelivery'], resources: ['*'] }));

    // Act
    const found = widenings(Template.fromStack(stack));

    // Assess
    expect(found.map((p) => `${p.action} on ${p.resource}`)).toEqual(['logs:CreateLogDelivery on *']);
  });

  it('the check catches network-interface actions on a function outside the VPC', async () => {
    // Prepare
    const { PolicyStatement } = await import('aws-cdk-lib/aws-iam');
    const { stack } = newStack({ ...VPC, fanout: 'stepfunctions' });
    const { prepare } = (stack.pipeline as StepFunctionsPipeline).functions;
    prepare.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ec2:CreateNetworkInterface'], resources: ['*'] }));

    // Act
    const found = widenings(Template.fromStack(stack));

    // Assess
    expect(found.map((p) => `${p.action} on ${p.resource}`)).toEqual(['ec2:CreateNetworkInterface on *']);
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
