import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { FieldlensStackProps } from '../../infra/fieldlens-stack';
import { nagFindings, newStack } from './support';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fieldlens-key-AbCdEf';
const VPC = { vpcId: 'vpc-0a1b2c3d4e5f67890', subnetIds: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'] } satisfies Partial<FieldlensStackProps>;

const configurations: Array<[string, Partial<FieldlensStackProps>]> = [
  ['direct trigger, new bucket', {}],
  ['direct trigger, new bucket with access logs and versioning', { bucketProps: { serverAccessLogs: true, versioned: true } }],
  ['direct trigger, existing bucket and secret', { existingBucketName: 'my-images', model: { baseUrl: 'http://m/v1', name: 'm', existingApiKeySecretArn: SECRET_ARN } }],
  ['direct trigger, no reserved concurrency', { reserveConcurrency: false }],
  ['queue trigger, new bucket', { trigger: 'queue' }],
  ['queue trigger, existing bucket', { trigger: 'queue', existingBucketName: 'my-images' }],
  ['Step Functions, new bucket', { fanout: 'stepfunctions' }],
  ['Step Functions, existing bucket and secret, no reserved concurrency', { fanout: 'stepfunctions', reserveConcurrency: false, existingBucketName: 'my-images', model: { baseUrl: 'http://m/v1', name: 'm', existingApiKeySecretArn: SECRET_ARN } }],
  ['direct trigger in a VPC, with the security group the stack creates', VPC],
  ['Step Functions in a VPC, with given security groups', { ...VPC, fanout: 'stepfunctions', securityGroupIds: ['sg-0a1b2c3d'] }],
  ['direct trigger with a backfill', { backfill: {} }],
  ['queue trigger with a backfill, existing bucket', { trigger: 'queue', existingBucketName: 'my-images', backfill: {} }],
  ['Step Functions, EventBridge trigger, a backfill with an inventory', { fanout: 'stepfunctions', trigger: 'eventbridge', backfill: { inventory: { bucketName: 'my-inventory', prefix: 'reports/' } } }],
  ['EventBridge trigger, existing bucket, backfill in a VPC', { ...VPC, trigger: 'eventbridge', existingBucketName: 'my-images', backfill: {} }],
  ['direct trigger with the fleet gate', { fleetGate: {} }],
  ['queue trigger with a backfill and the fleet gate', { trigger: 'queue', backfill: {}, fleetGate: {} }],
  ['Step Functions in a VPC with the fleet gate', { ...VPC, fanout: 'stepfunctions', fleetGate: {} }],
];

/** Every acknowledgement recorded in the construct tree, with where it sits. */
function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id, reason }))),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it.each(configurations)('%s: no unacknowledged finding', (_name, props) => {
    // Act
    const findings = nagFindings(props);

    // Assess
    expect(findings).toEqual([]);
  });

  it('lets synth pass with the AwsSolutions plugin registered, as a user running cdk-nag would', () => {
    // Prepare
    const { app } = newStack({ bucketProps: { serverAccessLogs: true } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act
    const act = () => app.synth();

    // Assess
    expect(act).not.toThrow();
  });

  it.each<[string, Partial<FieldlensStackProps>]>([
    ['direct mode', {}],
    ['Step Functions mode', { fanout: 'stepfunctions' }],
    ['Step Functions mode in a VPC', { ...VPC, fanout: 'stepfunctions' }],
    ['a backfill with an inventory', { backfill: { inventory: { bucketName: 'my-inventory' } } }],
    ['the fleet gate', { fleetGate: {} }],
  ])('acknowledges findings one by one, each with a specific reason (%s)', (_mode, extra) => {
    // Prepare
    const { app } = newStack({ bucketProps: { serverAccessLogs: true }, ...extra });

    // Act
    const acks = acknowledgements(app);

    // Assess
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // A wildcard finding names its resource; no rule is acknowledged wholesale.
      if (ack.id.includes('IAM5') || ack.id.includes('IAM4')) expect(ack.id, ack.path).toMatch(/\[.+\]$/);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(60);
    }
    expect(acks.every((a) => a.path !== 'Fieldlens'), 'nothing is acknowledged on the whole stack').toBe(true);
  });
});
