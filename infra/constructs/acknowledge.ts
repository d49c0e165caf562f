/**
 * Acknowledging individual cdk-nag findings on a construct.
 *
 * cdk-nag names each wildcard finding after the resource it flattens from
 * the template (`AwsSolutions-IAM5[Resource::<Bucket83908E77.Arn>/incoming/*]`),
 * so a precise acknowledgement has to compute that same string; one finding
 * is acknowledged at a time, never the whole rule.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Flattens a resolved CloudFormation value the way cdk-nag does: `Ref` →
 * `<Id>`, `Fn::GetAtt` → `<Id.Attr>`, `Fn::Join` joined, `${x}` → `<x>`.
 */
export function flattenForFinding(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (value !== null && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (Array.isArray(v['Fn::Join'])) {
      const [delimiter, items] = v['Fn::Join'] as [string, unknown[]];
      return items.map(flattenForFinding).join(delimiter);
    }
    if (v['Fn::Sub'] !== undefined) return flattenForFinding(v['Fn::Sub']);
    if (Array.isArray(v['Fn::GetAtt'])) {
      const [resource, attribute] = v['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenForFinding(resource)}.${flattenForFinding(attribute)}>`;
    }
    if (v['Fn::ImportValue'] !== undefined) return flattenForFinding(v['Fn::ImportValue']);
    if (v.Ref !== undefined) return `<${flattenForFinding(v.Ref)}>`;
  }
  return JSON.stringify(value);
}

/**
 * Acknowledges `AwsSolutions-IAM5` for one wildcard resource (an ARN that
 * may contain tokens) on `scope` and everything below it.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resourceArn: string, reason: string): void {
  const flat = flattenForFinding(Stack.of(scope).resolve(resourceArn));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flat}]`, reason });
}

/**
 * CDK adds one bucket-notification custom resource per stack, with a role
 * that carries AWSLambdaBasicExecutionRole; its S3 permission is already
 * scoped by CDK to the bucket. The acknowledgement sits on that singleton
 * only, so call this after the pipeline has added its notification.
 */
export function acknowledgeNotificationsHandler(stack: Stack): void {
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
