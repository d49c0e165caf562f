import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { bedrockInvokeStatements, parseBedrockModelId } from '../../infra/bedrock-access';
import { bedrockCapacity } from '../../infra/budget';

function policyFor(modelId: string, region?: string): Template {
  const stack = new Stack(new App(), 'S', { env: { account: '123456789012', region: 'eu-west-1' } });
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  for (const s of bedrockInvokeStatements(stack, modelId, region)) role.addToPolicy(s);
  return Template.fromStack(stack);
}

describe('bedrock:InvokeModel scoped to one model', () => {
  it('allows a model id on its foundation-model ARN in the region only', () => {
    // Act
    const template = policyFor('amazon.nova-lite-v1:0');

    // Assess
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([
      {
        Sid: 'InvokeModel',
        Effect: 'Allow',
        Action: 'bedrock:InvokeModel',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0']] },
      },
    ]);
  });

  it('allows an inference profile on its ARN and its base model in any region only through that profile', () => {
    // Act
    const template = policyFor('eu.anthropic.claude-3-5-sonnet-20240620-v1:0');

    // Assess
    const profileArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0']] };
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([
      { Sid: 'InvokeInferenceProfile', Effect: 'Allow', Action: 'bedrock:InvokeModel', Resource: profileArn },
      {
        Sid: 'InvokeModelThroughProfile',
        Effect: 'Allow',
        Action: 'bedrock:InvokeModel',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:*::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0']] },
        Condition: { StringEquals: { 'bedrock:InferenceProfileArn': profileArn } },
      },
    ]);
  });

  it('reads profile ARNs and refuses ARNs of other kinds', () => {
    expect(parseBedrockModelId('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0')).toEqual({
      kind: 'inference-profile',
      id: 'us.amazon.nova-pro-v1:0',
      base: 'amazon.nova-pro-v1:0',
    });
    expect(parseBedrockModelId('global.anthropic.claude-sonnet-4-20250514-v1:0')).toMatchObject({ base: 'anthropic.claude-sonnet-4-20250514-v1:0' });
    expect(() => parseBedrockModelId('arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc')).toThrow(TypeError);
  });
});

describe('bedrockCapacity: requests in flight from the quota (Little\'s law)', () => {
  it('takes the tighter of the request and token quotas', () => {
    // 200 RPM, 200k TPM at 2k tokens = 100 RPM; 100/min × 3 s / 60 = 5 in flight.
    expect(bedrockCapacity({ requestsPerMinute: 200, tokensPerMinute: 200_000, tokensPerRequest: 2_000, secondsPerRequest: 3 })).toBe(5);
    // Requests bind: 50 RPM × 6 s / 60 = 5.
    expect(bedrockCapacity({ requestsPerMinute: 50, tokensPerMinute: 10_000_000, secondsPerRequest: 6 })).toBe(5);
  });

  it('never goes below one request and refuses non-positive figures', () => {
    expect(bedrockCapacity({ requestsPerMinute: 1, tokensPerMinute: 1000 })).toBe(1);
    expect(() => bedrockCapacity({ requestsPerMinute: 0, tokensPerMinute: 1000 })).toThrow(/requestsPerMinute/);
  });
});
