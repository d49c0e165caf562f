import { Validations } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadPipelineConfig } from '../../functions/config';
import { bedrockCapacity } from '../../infra/budget';
import { FieldlensPropsError } from '../../infra/errors';
import type { FieldlensBedrockModelProps, FieldlensStackProps } from '../../infra/fieldlens-stack';
import { allowedPermissions, buildStack, nagFindings, newStack } from './support';

const NOVA = 'amazon.nova-lite-v1:0';
const PROFILE = 'eu.anthropic.claude-3-5-sonnet-20240620-v1:0';
const BASE = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const VPC = { vpcId: 'vpc-0a1b2c3d4e5f67890', subnetIds: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'] } satisfies Partial<FieldlensStackProps>;

/** A stack whose model is Bedrock's `modelId`, with more model props and stack props. */
function bedrockStack(modelId: string, model: Partial<FieldlensBedrockModelProps> = {}, props: Partial<FieldlensStackProps> = {}) {
  return buildStack({ ...props, model: { provider: 'bedrock', modelId, ...model } });
}

/** The Bedrock permissions of the role whose default policy's id contains `hint`, as readable lines. */
function bedrockPermissions(template: Template, hint: string): string[] {
  return allowedPermissions(template)
    .filter((p) => p.policy.includes(`${hint}RoleDefaultPolicy`) && p.action.startsWith('bedrock:'))
    .map((p) => `${p.action} on ${p.resource}${p.condition ? ` if ${JSON.stringify(p.condition)}` : ''}`);
}

/** The environment of the one function whose logical id contains `hint`. */
function environmentOf(template: Template, hint: string): Record<string, unknown> {
  const fns = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([id]) => id.includes(hint));
  expect(fns, hint).toHaveLength(1);
  return fns[0]![1].Properties.Environment.Variables as Record<string, unknown>;
}

/** The environment with the deploy-time region filled in, as Lambda would give it to the function. */
function deployed(env: Record<string, unknown>, region = 'eu-west-1'): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v) === '{"Ref":"AWS::Region"}' ? region : `unresolved ${k}`]),
  );
}

const profileArn = `arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/${PROFILE}`;

describe('Bedrock stack: IAM', () => {
  it('lets the function invoke the foundation model on its ARN in the region, and nothing else of Bedrock', () => {
    // Act
    const { template } = bedrockStack(NOVA);

    // Assess
    expect(bedrockPermissions(template, 'OnUpload')).toEqual([
      `bedrock:InvokeModel on arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/${NOVA}`,
    ]);
    expect(allowedPermissions(template).filter((p) => p.action.startsWith('bedrock:') && !p.policy.includes('OnUpload'))).toEqual([]);
  });

  it('lets it invoke an inference profile on its ARN, and the base model in any region only through that profile', () => {
    // Act
    const { template } = bedrockStack(PROFILE);

    // Assess
    const condition = { StringEquals: { 'bedrock:InferenceProfileArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:inference-profile/${PROFILE}`]] } } };
    expect(bedrockPermissions(template, 'OnUpload')).toEqual([
      `bedrock:InvokeModel on ${profileArn}`,
      `bedrock:InvokeModel on arn:<AWS::Partition>:bedrock:*::foundation-model/${BASE} if ${JSON.stringify(condition)}`,
    ]);
  });

  it('creates no secret, grants no Secrets Manager action and has no API key output', () => {
    // Act
    const { template, stack } = bedrockStack(PROFILE, {}, { backfill: {} });

    // Assess
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(allowedPermissions(template).filter((p) => p.action.startsWith('secretsmanager:') || p.action.startsWith('kms:'))).toEqual([]);
    expect(Object.keys(template.toJSON().Outputs)).not.toContain('ModelApiKeySecretArn');
    expect(stack.apiKeySecret).toBeUndefined();
  });

  it('scopes the statements to the region given, and to the region an ARN names', () => {
    // Act
    const given = bedrockStack(NOVA, { region: 'us-west-2' }).template;
    const fromArn = bedrockStack(`arn:aws:bedrock:eu-central-1:123456789012:inference-profile/${PROFILE}`).template;

    // Assess
    expect(bedrockPermissions(given, 'OnUpload')).toEqual([`bedrock:InvokeModel on arn:<AWS::Partition>:bedrock:us-west-2::foundation-model/${NOVA}`]);
    expect(environmentOf(given, 'OnUpload').MODEL_REGION).toBe('us-west-2');
    expect(bedrockPermissions(fromArn, 'OnUpload')[0]).toBe(
      `bedrock:InvokeModel on arn:<AWS::Partition>:bedrock:eu-central-1:<AWS::AccountId>:inference-profile/${PROFILE}`,
    );
    expect(environmentOf(fromArn, 'OnUpload').MODEL_REGION).toBe('eu-central-1');
  });

  it('grants ExtractField alone in the Step Functions mode, and the backfill item function', () => {
    // Act
    const { template } = bedrockStack(PROFILE, {}, { fanout: 'stepfunctions', backfill: {} });

    // Assess
    const granted = new Set(allowedPermissions(template).filter((p) => p.action === 'bedrock:InvokeModel').map((p) => p.policy.replace(/RoleDefaultPolicy.*$/, '')));
    expect([...granted].sort()).toEqual(['BackfillItems', 'PipelineExtractField']);
    expect(bedrockPermissions(template, 'PipelineExtractField')).toHaveLength(2);
    expect(bedrockPermissions(template, 'BackfillItems')).toHaveLength(2);
  });

  it('refuses an ARN IAM cannot scope to one model (a provisioned model) with a message naming modelId', () => {
    // Act
    const act = () => bedrockStack('arn:aws:bedrock:eu-west-1:123456789012:provisioned-model/abc123');

    // Assess
    expect(act).toThrow(FieldlensPropsError);
    expect(act).toThrow(/model\.modelId \(context modelId\): Expected a foundation-model or inference-profile ARN/);
  });

  it('refuses a region other than the one the ARN names', () => {
    const act = () => bedrockStack(`arn:aws:bedrock:eu-central-1::foundation-model/${NOVA}`, { region: 'us-east-1' });

    expect(act).toThrow(/model\.region \(context modelRegion\) "us-east-1": the ARN in model\.modelId names "eu-central-1"/);
  });

  it('refuses the props of an OpenAI-compatible endpoint with Bedrock', () => {
    // Prepare
    const model = { provider: 'bedrock', modelId: NOVA, baseUrl: 'https://models.example.com/v1' } as unknown as FieldlensBedrockModelProps;

    // Act
    const act = () => buildStack({ model });

    // Assess
    expect(act).toThrow(/model\.baseUrl: not used with provider "bedrock"/);
  });
});

describe('Bedrock stack: the function environment', () => {
  it('sets the provider, model id, region and structured output instead of a URL, a name and a key', () => {
    // Act
    const { template } = bedrockStack(NOVA, { promptCache: true, structuredOutput: 'prompt' });

    // Assess
    const env = environmentOf(template, 'OnUpload');
    expect(env).toMatchObject({
      MODEL_PROVIDER: 'bedrock',
      MODEL_ID: NOVA,
      MODEL_REGION: { Ref: 'AWS::Region' },
      MODEL_STRUCTURED_OUTPUT: 'prompt',
      MODEL_PROMPT_CACHE: 'true',
    });
    for (const name of ['MODEL_BASE_URL', 'MODEL_NAME', 'MODEL_API_KEY_SECRET_ARN', 'MODEL_RESPONSE_FORMAT']) expect(env, name).not.toHaveProperty(name);
  });

  it("is what the function's own config accepts once deployed: the Converse client in the stack's region", () => {
    // Prepare
    const { template } = bedrockStack(PROFILE, { promptCache: true });

    // Act
    const config = loadConfig(deployed(environmentOf(template, 'OnUpload')));

    // Assess
    expect(config.model).toMatchObject({
      provider: 'bedrock',
      name: PROFILE,
      region: 'eu-west-1',
      baseUrl: 'https://bedrock-runtime.eu-west-1.amazonaws.com',
      structuredOutput: 'tool',
      promptCache: true,
      maxConcurrency: 5,
    });
    expect(config.model.apiKeySecretArn).toBeUndefined();
  });

  it('gives the Step Functions tasks that ask no model the model identity for the fingerprint, not the endpoint', () => {
    // Prepare
    const { template } = bedrockStack(PROFILE, {}, { fanout: 'stepfunctions' });
    const extract = deployed(environmentOf(template, 'PipelineExtractField'));

    // Act
    const prepare = environmentOf(template, 'PipelinePrepare');

    // Assess
    expect(prepare).toMatchObject({ MODEL_PROVIDER: 'bedrock', MODEL_ID: PROFILE, MODEL_STRUCTURED_OUTPUT: 'tool' });
    for (const name of ['MODEL_REGION', 'MODEL_MAX_CONCURRENCY', 'MODEL_TIMEOUT_MS']) expect(prepare, name).not.toHaveProperty(name);
    // One fingerprint across the tasks: the same model identity as ExtractField's.
    expect(loadPipelineConfig(deployed(prepare)).model).toEqual(loadPipelineConfig(extract).model);
    expect(environmentOf(template, 'PipelineStart')).toMatchObject({ MODEL_PROVIDER: 'bedrock', MODEL_ID: PROFILE });
  });

  it('synthesizes in a VPC without an endpoint-address check (Bedrock Runtime is reached like S3)', () => {
    // Act
    const { template, stack } = bedrockStack(NOVA, {}, VPC);

    // Assess
    const placed = Object.values(template.findResources('AWS::Lambda::Function')).filter((f) => f.Properties.VpcConfig !== undefined);
    expect(placed).toHaveLength(1);
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  });
});

describe('Bedrock stack: the budget from the quota', () => {
  // docs/bedrock.md's worked example: 50 requests and 200,000 tokens per minute, about 1,600 tokens and 3 s per request.
  const QUOTA = { requestsPerMinute: 50, tokensPerMinute: 200_000, tokensPerRequest: 1_600 } as const;

  it('turns the worked example into 2 requests in flight: the requests bind (50 per minute × 3 s / 60 = 2.5)', () => {
    expect(bedrockCapacity(QUOTA)).toBe(2);
    // Tokens alone would allow 125 requests per minute: 6 in flight.
    expect(bedrockCapacity({ ...QUOTA, requestsPerMinute: 1_000 })).toBe(6);
  });

  it('feeds that capacity to the endpoint budget: 2 requests per image, 1 image at once, and says so in the output', () => {
    // Act
    const { template, stack } = bedrockStack(NOVA, { quota: QUOTA });

    // Assess
    expect(stack.pipeline.budget).toEqual({ perImage: 2, concurrentImages: 1, maxInFlight: 2, roundsPerImage: 3 });
    expect(environmentOf(template, 'OnUpload').MODEL_MAX_CONCURRENCY).toBe('2');
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: { MODEL_PROVIDER: 'bedrock' } }, ReservedConcurrentExecutions: 1 });
    template.hasOutput('EndpointBudget', {
      Value:
        '2 requests per image x 1 images at once = 2 in flight at most ' +
        '(capacity 2 from the Bedrock quota of 50 requests and 200000 tokens per minute at 1600 tokens and 3 s per request)',
    });
  });

  it('splits a quota-derived capacity with the backfill like any other', () => {
    // Act: 600 per minute × 3 s / 60 = 30 in flight, half to the backfill.
    const { stack } = bedrockStack(NOVA, { quota: { requestsPerMinute: 600, tokensPerMinute: 10_000_000 } }, { backfill: {} });

    // Assess
    expect(stack.sharedBudget).toMatchObject({ liveCapacity: 15, backfillCapacity: 15 });
    expect(stack.backfill?.budget).toMatchObject({ perImage: 5, concurrentImages: 3 });
  });

  it('takes an explicit maxConcurrency over the quota, with a warning that the quota is unused', () => {
    // Act
    const { stack } = bedrockStack(NOVA, { quota: QUOTA, maxConcurrency: 10 });

    // Assess
    expect(stack.pipeline.budget.maxInFlight).toBe(10);
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('model.maxConcurrency \\(modelMaxConcurrency\\) 10 is the capacity; the Bedrock quota .* is not used'));
  });

  it('uses the default capacity of 10 without a quota', () => {
    const { stack } = bedrockStack(NOVA);

    expect(stack.pipeline.budget).toMatchObject({ perImage: 5, concurrentImages: 2 });
  });

  it('refuses the queue trigger with a quota that gives one request at once, naming the quota', () => {
    // 20 requests per minute at 3 s each: 1 in flight.
    const act = () => bedrockStack(NOVA, { quota: { requestsPerMinute: 20, tokensPerMinute: 200_000 } }, { trigger: 'queue' });

    expect(act).toThrow(/^the Bedrock quota \(bedrockRequestsPerMinute, bedrockTokensPerMinute\): the queue trigger needs a capacity of at least 2, got 1/);
  });

  it('refuses a quota that is not positive, naming the quota', () => {
    const act = () => bedrockStack(NOVA, { quota: { requestsPerMinute: 0, tokensPerMinute: 1000 } });

    expect(act).toThrow(/model\.quota .*requestsPerMinute to be a positive number/);
  });
});

describe('Bedrock stack: cdk-nag AwsSolutions', () => {
  it.each<[string, string, Partial<FieldlensStackProps>]>([
    ['a foundation model, direct trigger', NOVA, {}],
    ['an inference profile, direct trigger with a backfill', PROFILE, { backfill: {} }],
    ['an inference profile, Step Functions in a VPC', PROFILE, { ...VPC, fanout: 'stepfunctions' }],
    ['an inference profile, queue trigger', PROFILE, { trigger: 'queue' }],
  ])('%s: no unacknowledged finding', (_name, modelId, props) => {
    // Act
    const findings = nagFindings({ ...props, model: { provider: 'bedrock', modelId } });

    // Assess
    expect(findings).toEqual([]);
  });

  it("acknowledges the profile's wildcard-region base model by its resource, on the role, with the reason", () => {
    // Act
    const { stack } = newStack({ model: { provider: 'bedrock', modelId: PROFILE } });

    // Assess
    const acks = stack.node.findAll().flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id, reason }))),
    );
    const bedrock = acks.filter((a) => a.id.includes(':bedrock:'));
    // Validations records a rule acknowledgement under its annotation id.
    expect(bedrock.map((a) => a.id.replace(/^Annotation::/, ''))).toEqual([`AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/${BASE}]`]);
    expect(bedrock[0]!.path).toMatch(/OnUpload.*\/Role$/);
    expect(bedrock[0]!.reason).toContain('bedrock:InferenceProfileArn');
  });
});
