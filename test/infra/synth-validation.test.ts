import { Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadStarterConfig } from '../../functions/config';
import { ConfigError, ErrorCode } from '../../functions/core/errors';
import type { FieldSet } from '../../functions/core/fields';
import { INLINE_MAP_MAX_CONCURRENCY } from '../../infra/budget';
import { endpointAddress } from '../../infra/constructs/model-network';
import { parseContext, stackPropsFromContext } from '../../infra/context';
import { ContextError, FieldlensPropsError } from '../../infra/errors';
import { FieldlensStack, type FieldlensOpenAIModelProps, type FieldlensStackProps } from '../../infra/fieldlens-stack';
import { synthesizedStateMachine } from '../support/local-state-machine';
import { buildStack, MODEL, newStack, testApp } from './support';

const VPC = { vpcId: 'vpc-0a1b2c3d4e5f67890', subnetIds: ['subnet-0a1b2c3d'] } satisfies Partial<FieldlensStackProps>;
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fieldlens-key-AbCdEf';

/** The error building a stack with `props` throws, or a failure if it builds. */
function synthError(props: Partial<FieldlensStackProps>): FieldlensPropsError {
  try {
    newStack(props);
  } catch (err) {
    expect(err).toBeInstanceOf(FieldlensPropsError);
    return err as FieldlensPropsError;
  }
  throw new Error('expected the stack to be refused');
}

/** The message the function itself gives at start-up for `env`, or a failure if it starts. */
function functionMessage(load: (env: Record<string, string>) => unknown, env: Record<string, string>): string {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the function to refuse its environment');
}

const MODEL_ENV = { MODEL_BASE_URL: MODEL.baseUrl, MODEL_NAME: MODEL.name };

/** `count` short fields, to reach a large per-image budget within Lambda's 4 KB environment. */
function fields(count: number): FieldSet {
  return Array.from({ length: count }, (_, i) => ({ name: `f${i}`, prompt: '?', type: 'string' as const }));
}

describe('synth refuses what the function would refuse, with its message', () => {
  it('refuses model.maxRetries 20 with the function\'s own message and PROPS_INVALID', () => {
    // Act
    const err = synthError({ model: { ...MODEL, maxRetries: 20 } });

    // Assess
    expect(err.code).toBe(ErrorCode.PROPS_INVALID);
    expect(err.message).toContain('MODEL_MAX_RETRIES: expected a whole number from 0 to 10 (got "20")');
    expect(err.message).toBe(functionMessage(loadConfig, { ...MODEL_ENV, MODEL_MAX_RETRIES: '20' }));
    expect(err.cause).toBeInstanceOf(ConfigError);
  });

  it.each([
    ['a timeout below 100 ms', { model: { ...MODEL, timeout: Duration.millis(50) } }, 'MODEL_TIMEOUT_MS: expected a whole number from 100 to 900000 (got "50")'],
    ['a timeout over 15 minutes', { model: { ...MODEL, timeout: Duration.minutes(20) } }, 'MODEL_TIMEOUT_MS: expected a whole number from 100 to 900000 (got "1200000")'],
    ['maxTokens 8', { model: { ...MODEL, maxTokens: 8 } }, 'MODEL_MAX_TOKENS: expected a whole number from 16 to 32768 (got "8")'],
    ['maxImageBytes 0', { maxImageBytes: 0 }, 'MAX_IMAGE_BYTES: expected a whole number from 1 to 104857600 (got "0")'],
    ['an empty model name', { model: { ...MODEL, name: '  ' } }, 'MODEL_NAME: expected a model name (got "  ")'],
  ] as Array<[string, Partial<FieldlensStackProps>, string]>)('refuses %s with the function\'s message', (_case, props, line) => {
    const err = synthError(props);

    expect(err.message).toBe(`invalid configuration:\n  ${line}`);
  });

  it('refuses the same settings in the Step Functions fan-out', () => {
    const err = synthError({ fanout: 'stepfunctions', model: { ...MODEL, maxRetries: 20 } });

    expect(err.message).toBe(functionMessage(loadConfig, { ...MODEL_ENV, MODEL_MAX_RETRIES: '20' }));
  });

  it.each([
    ['both empty', '', ''],
    ['input under output', 'results/in/', 'results/'],
    ['output under input', 'data/', 'data/results/'],
  ])('refuses prefixes that overlap in one bucket (%s) with the message the function gives', (_case, inputPrefix, outputPrefix) => {
    // Act
    const err = synthError({ inputPrefix, outputPrefix });

    // Assess
    expect(err.message).toBe(functionMessage(loadConfig, { ...MODEL_ENV, INPUT_PREFIX: inputPrefix, OUTPUT_PREFIX: outputPrefix }));
    expect(err.message).toContain('overlap in the same bucket');
  });

  it('refuses overlapping prefixes for the Step Functions fan-out with the starter\'s message', () => {
    // Prepare
    const starterEnv = {
      STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:fieldlens',
      INPUT_PREFIX: 'data/',
      OUTPUT_PREFIX: 'data/results/',
    };

    // Act
    const err = synthError({ fanout: 'stepfunctions', inputPrefix: 'data/', outputPrefix: 'data/results/' });

    // Assess
    expect(err.message).toBe(functionMessage(loadStarterConfig, starterEnv));
  });

  it('accepts overlapping prefixes when results go to another bucket, and names it in OUTPUT_BUCKET', () => {
    // Prepare
    const app = testApp();
    const results = new s3.Bucket(new Stack(app, 'Results'), 'Results');

    // Act
    const stack = new FieldlensStack(app, 'Fieldlens', {
      model: MODEL,
      existingBucketName: 'my-images',
      existingOutputBucket: results,
      inputPrefix: '',
      outputPrefix: '',
    });

    // Assess: the function is told the other bucket, so it does not check the prefixes either
    const env = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))
      .map((r) => r.Properties.Environment?.Variables as Record<string, string> | undefined)
      .find((v) => v?.MODEL_NAME !== undefined)!;
    expect(env).toMatchObject({ INPUT_PREFIX: '', OUTPUT_PREFIX: '' });
    // A reference to the other stack's bucket name.
    expect(JSON.stringify(env.OUTPUT_BUCKET)).toMatch(/Results.*Results/);
    const literal = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string'));
    expect(() => loadConfig({ ...literal, OUTPUT_BUCKET: 'results-bucket' })).not.toThrow();
  });

  it('accepts them with the Step Functions fan-out and another bucket too: the starter is told the output bucket', () => {
    // Prepare
    const app = testApp();
    const results = new s3.Bucket(new Stack(app, 'Results'), 'Results');

    // Act
    const stack = new FieldlensStack(app, 'Fieldlens', { model: MODEL, fanout: 'stepfunctions', existingOutputBucket: results, inputPrefix: '', outputPrefix: '' });

    // Assess
    const template = Template.fromStack(stack);
    const starters = template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { STATE_MACHINE_ARN: Match.anyValue() } } } });
    const [starter] = Object.values(starters) as Array<{ Properties: { Environment: { Variables: Record<string, unknown> } } }>;
    expect(JSON.stringify(starter!.Properties.Environment.Variables.OUTPUT_BUCKET)).toMatch(/Results/);
  });

  it('checks unresolved values with placeholders and keeps the tokens in the template', () => {
    // Act: the secret's ARN and the bucket's name are tokens at synth
    const { template } = buildStack({ fanout: 'stepfunctions' });

    // Assess
    const text = JSON.stringify(template.toJSON());
    expect(text).not.toContain('unresolved');
    const extract = Object.entries(template.findResources('AWS::Lambda::Function')).find(([id]) => id.includes('ExtractField'))![1];
    expect(extract.Properties.Environment.Variables.MODEL_API_KEY_SECRET_ARN).toEqual({ Ref: expect.stringContaining('ModelApiKey') });
  });
});

describe('synth: context values', () => {
  const required = { modelBaseUrl: MODEL.baseUrl, modelName: MODEL.name };

  it('leaves the ranges of function settings to the function: -c modelMaxRetries=20 gets its message', () => {
    // Prepare
    const props = stackPropsFromContext(parseContext({ ...required, modelMaxRetries: '20' }), () => '');

    // Act
    const act = () => new FieldlensStack(testApp(), 'Fieldlens', props);

    // Assess
    expect(act).toThrow(FieldlensPropsError);
    expect(act).toThrow(functionMessage(loadConfig, { ...MODEL_ENV, MODEL_MAX_RETRIES: '20' }));
  });

  it('still names the context key when the value is not a number', () => {
    // Act
    const act = () => parseContext({ ...required, modelMaxRetries: 'many' });

    // Assess
    expect(act).toThrow(ContextError);
    expect(act).toThrow('context key "modelMaxRetries": expected a whole number (0 or more) (got "many")');
  });
});

describe('synth: where the endpoint is', () => {
  it.each([
    ['http://10.0.0.5:8000/v1', '10.0.0.0/8'],
    ['http://172.20.1.1/v1', '172.16.0.0/12'],
    ['https://192.168.1.10/v1', '192.168.0.0/16'],
    ['http://169.254.169.254/v1', '169.254.0.0/16'],
    ['http://127.0.0.1:8000/v1', '127.0.0.0/8'],
    ['http://localhost:11434/v1', 'localhost'],
    ['http://[::1]:8000/v1', '::1/128'],
    ['http://[fd00::5]:8000/v1', 'fc00::/7'],
    ['http://[fe80::1]/v1', 'fe80::/10'],
    ['http://[::ffff:10.0.0.5]/v1', '10.0.0.0/8'],
  ])('refuses %s outside a VPC, naming the range and what to set', (baseUrl, range) => {
    // Act
    const err = synthError({ model: { ...MODEL, baseUrl } });

    // Assess
    expect(err.code).toBe(ErrorCode.PROPS_INVALID);
    expect(err.message).toContain(`model.baseUrl ${JSON.stringify(baseUrl)} is on a`);
    expect(err.message).toContain(`(${range})`);
    expect(err.message).toContain('the context keys vpcId and subnetIds (-c vpcId=');
    expect(err.message).toContain('the stack props vpcId and subnetIds, or vpc');
  });

  it('accepts a private endpoint with vpcId and subnetIds, without a warning', () => {
    // Act
    const { stack } = buildStack({ ...VPC, model: { ...MODEL, baseUrl: 'http://10.0.0.5:8000/v1' } });

    // Assess
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });

  it('accepts a private endpoint for the Step Functions fan-out in a VPC', () => {
    expect(() => newStack({ ...VPC, fanout: 'stepfunctions', model: { ...MODEL, baseUrl: 'http://10.0.0.5:8000/v1' } })).not.toThrow();
  });

  it('tells only IP literals and localhost: a host name is not resolved, and addresses around the ranges pass', () => {
    expect(endpointAddress('http://vllm.internal:8000/v1')).toBeUndefined();
    expect(endpointAddress('http://172.32.0.1/v1')).toBeUndefined();
    expect(endpointAddress('http://11.0.0.1/v1')).toBeUndefined();
    expect(endpointAddress('http://[2001:db8::1]/v1')).toBeUndefined();
    expect(endpointAddress('not a url')).toBeUndefined();
    expect(endpointAddress('http://0x7f.1/v1')).toEqual({ kind: 'loopback', range: '127.0.0.0/8' });
  });

  it.each([
    ['a created secret', {}],
    ['an existing secret', { model: { ...MODEL, baseUrl: 'http://models.example.com/v1', existingApiKeySecretArn: SECRET_ARN } }],
  ] as Array<[string, { model?: FieldlensOpenAIModelProps }]>)('warns about a plain-http endpoint outside a VPC (%s)', (_case, props) => {
    // Act
    const { stack } = buildStack({ ...props, model: { ...MODEL, ...props.model, baseUrl: 'http://models.example.com/v1' } });

    // Assess
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('model.baseUrl "http://models.example.com/v1" is plain http .* the API key from the secret .* unencrypted'),
    );
  });

  it('does not warn about an https endpoint', () => {
    const { stack } = buildStack({ model: { ...MODEL, baseUrl: 'https://models.example.com/v1' } });

    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('plain http'))).toEqual([]);
  });
});

describe('synth: the inline Map\'s concurrency', () => {
  /** The ExtractFields Map state of the stack's state machine. */
  function mapState(stack: FieldlensStack): { MaxConcurrency: number } {
    const { States } = synthesizedStateMachine(stack).definition as { States: Record<string, { MaxConcurrency: number }> };
    return States.ExtractFields!;
  }

  it(`caps MaxConcurrency at ${INLINE_MAP_MAX_CONCURRENCY} with a warning when the budget allows more`, () => {
    // Act: 50 fields on a 100-request endpoint → 50 per image
    const { stack } = buildStack({ fanout: 'stepfunctions', fields: fields(50), model: { ...MODEL, maxConcurrency: 100 } });

    // Assess
    expect(mapState(stack).MaxConcurrency).toBe(40);
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('the endpoint budget allows 50 requests per image, but an inline Map runs at most 40 .* capped at 40'),
    );
  });

  it('keeps a budget of 40 as it is, without a warning', () => {
    const { stack } = buildStack({ fanout: 'stepfunctions', fields: fields(40), model: { ...MODEL, maxConcurrency: 100 } });

    expect(mapState(stack).MaxConcurrency).toBe(40);
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('inline Map'))).toEqual([]);
  });
});
