import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_FIELDS, type FieldSet } from '../../functions/core/fields';

/** The first `n` label fields, without the checks that read fields a subset may leave out. */
const labelFieldsWithoutChecks = (n: number): FieldSet => DEFAULT_LABEL_FIELDS.slice(0, n).map(({ checks: _checks, ...field }) => field);
import { CONTEXT_KEYS, loadFieldsFile, parseContext, stackPropsFromContext } from '../../infra/context';
import { ContextError } from '../../infra/errors';

const REQUIRED = { modelBaseUrl: 'http://10.0.0.5:8000/v1', modelName: 'qwen' } as const;

/** The message parseContext throws for `raw`, or a failure if it does not throw. */
function contextError(raw: Record<string, unknown>): string {
  try {
    parseContext(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ContextError);
    return (err as Error).message;
  }
  throw new Error('expected parseContext to throw');
}

const noFile = (path: string): string => {
  throw new Error(`unexpected read of ${path}`);
};

describe('parseContext: required keys', () => {
  it('names modelBaseUrl and says it is not set when it is missing', () => {
    // Act
    const message = contextError({ modelName: 'qwen' });

    // Assess
    expect(message).toContain('context key "modelBaseUrl"');
    expect(message).toContain('http://10.0.0.5:8000/v1');
    expect(message).toContain('it is not set');
    expect(message).toContain('-c key=value');
  });

  it('names modelName when it is missing', () => {
    const message = contextError({ modelBaseUrl: REQUIRED.modelBaseUrl });

    expect(message).toMatch(/context key "modelName": .*\(it is not set\)/);
  });

  it('treats an empty -c value as unset', () => {
    const message = contextError({ ...REQUIRED, modelName: '' });

    expect(message).toMatch(/context key "modelName": .*\(it is not set\)/);
  });

  it('rejects a base URL that is not http(s)', () => {
    const message = contextError({ ...REQUIRED, modelBaseUrl: 'ftp://10.0.0.5/v1' });

    expect(message).toContain('context key "modelBaseUrl"');
    expect(message).toContain('got "ftp://10.0.0.5/v1"');
  });

  it('lists every bad key in one message', () => {
    const message = contextError({ trigger: 'sqs', modelMaxConcurrency: 'ten' });

    expect(message).toContain('"modelBaseUrl"');
    expect(message).toContain('"modelName"');
    expect(message).toContain('"trigger"');
    expect(message).toContain('"modelMaxConcurrency"');
  });
});

describe('parseContext: values arrive as strings from -c', () => {
  it('parses numbers and booleans given as strings', () => {
    // Act
    const ctx = parseContext({
      ...REQUIRED,
      modelMaxConcurrency: '16',
      timeoutSeconds: '600',
      reserveConcurrency: 'false',
      accessLogs: 'true',
    });

    // Assess
    expect(ctx).toMatchObject({ modelMaxConcurrency: 16, timeoutSeconds: 600, reserveConcurrency: false, accessLogs: true });
  });

  it('accepts the JSON types cdk.json gives', () => {
    const ctx = parseContext({ ...REQUIRED, modelMaxConcurrency: 16, reserveConcurrency: false });

    expect(ctx).toMatchObject({ modelMaxConcurrency: 16, reserveConcurrency: false });
  });

  it('rejects a number that is not a number, naming the range', () => {
    const message = contextError({ ...REQUIRED, modelMaxConcurrency: 'ten' });

    expect(message).toContain('context key "modelMaxConcurrency": expected a whole number from 1 to 1000 (got "ten")');
  });

  it.each([['0'], ['2.5'], ['1001']])('rejects modelMaxConcurrency=%s as out of range', (value) => {
    const message = contextError({ ...REQUIRED, modelMaxConcurrency: value });

    expect(message).toContain('expected a whole number from 1 to 1000');
  });

  it('rejects a boolean that is not true or false', () => {
    const message = contextError({ ...REQUIRED, reserveConcurrency: 'no' });

    expect(message).toContain('context key "reserveConcurrency": expected true or false (got "no")');
  });
});

describe('parseContext: choices', () => {
  it('rejects an unknown trigger, naming the choices', () => {
    const message = contextError({ ...REQUIRED, trigger: 'sqs' });

    expect(message).toContain('context key "trigger": expected "direct", "queue" or "eventbridge" (got "sqs")');
  });

  it('accepts the Step Functions fan-out and rejects an unknown one, naming both choices', () => {
    expect(parseContext({ ...REQUIRED, fanout: 'stepfunctions' }).fanout).toBe('stepfunctions');

    const message = contextError({ ...REQUIRED, fanout: 'sfn' });

    expect(message).toContain('context key "fanout": expected "lambda" or "stepfunctions" (got "sfn")');
  });

  it('rejects a prefix without a trailing slash', () => {
    const message = contextError({ ...REQUIRED, inputPrefix: 'incoming' });

    expect(message).toContain('context key "inputPrefix": expected a key prefix ending in "/"');
  });

  it('rejects a secret ARN without its 6-character suffix', () => {
    const message = contextError({
      ...REQUIRED,
      modelApiKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fieldlens',
    });

    expect(message).toContain('context key "modelApiKeySecretArn": expected the complete ARN');
  });

  it('points at the right spelling of a near-miss key', () => {
    const message = contextError({ ...REQUIRED, modelmaxconcurrency: '4' });

    expect(message).toContain('context key "modelmaxconcurrency": unknown key; did you mean "modelMaxConcurrency"?');
  });

  it('ignores context keys that are not fieldlens keys (CDK feature flags)', () => {
    const ctx = parseContext({ ...REQUIRED, '@aws-cdk/core:checkSecretUsage': true });

    expect(ctx.modelName).toBe('qwen');
  });
});

describe('parseContext: defaults', () => {
  it('fills the documented defaults', () => {
    const ctx = parseContext(REQUIRED);

    expect(ctx).toMatchObject({
      stackName: 'Fieldlens',
      modelMaxConcurrency: 10,
      inputPrefix: 'incoming/',
      outputPrefix: 'results/',
      trigger: 'direct',
      fanout: 'lambda',
    });
  });

  it('knows every key the deploy guide documents', () => {
    expect(CONTEXT_KEYS).toEqual(
      expect.arrayContaining([
        'modelBaseUrl', 'modelName', 'modelApiKeySecretArn', 'modelMaxConcurrency', 'fieldsFile',
        'inputPrefix', 'outputPrefix', 'bucketName', 'memorySize', 'timeoutSeconds', 'trigger', 'fanout',
        'reserveConcurrency', 'vpcId', 'subnetIds', 'securityGroupIds',
        'backfill', 'backfillShare', 'backfillBatchSize', 'backfillToleratedFailurePercent',
        'backfillInventoryBucket', 'backfillInventoryPrefix', 'modelLogprobs', 'reviewConfidenceThreshold',
        'fleetGate', 'fleetGatePollMs',
      ]),
    );
  });
});

describe('parseContext: VPC placement', () => {
  const VPC = { vpcId: 'vpc-0a1b2c3d4e5f67890', subnetIds: 'subnet-0a1b2c3d' } as const;

  it('reads comma-separated ids from -c, spaces allowed', () => {
    // Act
    const ctx = parseContext({ ...REQUIRED, ...VPC, subnetIds: 'subnet-0a1b2c3d, subnet-4e5f6a7b', securityGroupIds: 'sg-0a1b2c3d' });

    // Assess
    expect(ctx).toMatchObject({
      vpcId: 'vpc-0a1b2c3d4e5f67890',
      subnetIds: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'],
      securityGroupIds: ['sg-0a1b2c3d'],
    });
  });

  it('accepts the JSON arrays cdk.json gives', () => {
    const ctx = parseContext({ ...REQUIRED, ...VPC, subnetIds: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'] });

    expect(ctx.subnetIds).toEqual(['subnet-0a1b2c3d', 'subnet-4e5f6a7b']);
  });

  it('rejects a VPC id that is not one', () => {
    const message = contextError({ ...REQUIRED, ...VPC, vpcId: 'my-vpc' });

    expect(message).toContain('context key "vpcId": expected a VPC id such as vpc-0a1b2c3d4e5f67890 (got "my-vpc")');
  });

  it('names the id that is not a subnet id', () => {
    const message = contextError({ ...REQUIRED, ...VPC, subnetIds: 'subnet-0a1b2c3d,sg-0a1b2c3d' });

    expect(message).toContain('context key "subnetIds": "sg-0a1b2c3d" is not a subnet id; expected 1 to 16 subnet ids separated by commas');
  });

  it.each([
    ['no id at all', ',', 'expected 1 to 5 security group ids'],
    ['six groups, over Lambda\'s limit', 'sg-00000001,sg-00000002,sg-00000003,sg-00000004,sg-00000005,sg-00000006', "expected at most 5 security group ids (Lambda's limit for one function)"],
    ['a group twice', 'sg-0a1b2c3d,sg-0a1b2c3d', '"sg-0a1b2c3d" is given twice'],
  ])('rejects securityGroupIds with %s', (_name, value, expected) => {
    const message = contextError({ ...REQUIRED, ...VPC, securityGroupIds: value });

    expect(message).toContain(`context key "securityGroupIds": ${expected}`);
  });
});

describe('loadFieldsFile', () => {
  it('returns the validated field set', () => {
    // Prepare
    const json = JSON.stringify([{ name: 'title', type: 'string', prompt: 'What is the title?' }]);

    // Act
    const fields = loadFieldsFile('fields.json', () => json);

    // Assess
    expect(fields).toEqual([{ name: 'title', type: 'string', prompt: 'What is the title?' }]);
  });

  it('names fieldsFile when the file cannot be read', () => {
    const act = () =>
      loadFieldsFile('missing.json', () => {
        throw new Error('ENOENT: no such file');
      });

    expect(act).toThrow(ContextError);
    expect(act).toThrow(/context key "fieldsFile": cannot read "missing.json" \(ENOENT/);
  });

  it('names fieldsFile when the file is not JSON', () => {
    const act = () => loadFieldsFile('fields.json', () => '[{name:');

    expect(act).toThrow(/context key "fieldsFile": "fields.json" is not JSON/);
  });

  it('names the bad field when the field set is invalid', () => {
    const act = () => loadFieldsFile('fields.json', () => JSON.stringify([{ name: 'x y', type: 'string', prompt: 'p' }]));

    expect(act).toThrow(/context key "fieldsFile": "fields.json": field "x y": name must be/);
  });
});

describe('stackPropsFromContext', () => {
  it('maps context to stack props with durations and the built-in fields', () => {
    // Prepare
    const ctx = parseContext({ ...REQUIRED, timeoutSeconds: '600', modelTimeoutMs: '90000', bucketName: 'my-images' });

    // Act
    const props = stackPropsFromContext(ctx, noFile);

    // Assess
    expect(props.model).toMatchObject({ baseUrl: REQUIRED.modelBaseUrl, name: 'qwen', maxConcurrency: 10 });
    expect(props.model.timeout?.toMilliseconds()).toBe(90_000);
    expect(props.timeout?.toSeconds()).toBe(Duration.minutes(10).toSeconds());
    expect(props.existingBucketName).toBe('my-images');
    expect(props.fields).toBeUndefined();
    expect(props.stackName).toBe('Fieldlens');
  });

  it('passes log-probabilities and the review threshold through to the stack props', () => {
    const ctx = parseContext({ ...REQUIRED, modelLogprobs: 'true', reviewConfidenceThreshold: '0.6' });

    const props = stackPropsFromContext(ctx, noFile);

    expect(props.model).toMatchObject({ logprobs: true });
    expect(props.reviewConfidenceThreshold).toBe(0.6);
  });

  it.each(['1.5', '-0.1', 'high'])('refuses a review threshold of %s, naming the range', (value) => {
    expect(contextError({ ...REQUIRED, reviewConfidenceThreshold: value })).toMatch(
      /context key "reviewConfidenceThreshold": expected a number from 0 to 1, such as 0\.8/,
    );
  });

  it('reads fieldsFile through the given reader', () => {
    const ctx = parseContext({ ...REQUIRED, fieldsFile: 'my-fields.json' });
    const json = JSON.stringify(labelFieldsWithoutChecks(2));

    const props = stackPropsFromContext(ctx, (path) => (path === 'my-fields.json' ? json : noFile(path)));

    expect(props.fields?.map((f) => f.name)).toEqual(['name', 'tag']);
  });

  it('refuses new-bucket options together with an existing bucket', () => {
    const ctx = parseContext({ ...REQUIRED, bucketName: 'my-images', accessLogs: 'true' });

    expect(() => stackPropsFromContext(ctx, noFile)).toThrow(/"accessLogs" \/ "versioned" configure a new bucket/);
  });

  it('refuses reserveConcurrency with the queue trigger', () => {
    const ctx = parseContext({ ...REQUIRED, trigger: 'queue', reserveConcurrency: 'false' });

    expect(() => stackPropsFromContext(ctx, noFile)).toThrow(/only the direct trigger uses reserved concurrency/);
  });

  it('passes fanout=stepfunctions and reserveConcurrency through to the stack props', () => {
    const ctx = parseContext({ ...REQUIRED, fanout: 'stepfunctions', reserveConcurrency: 'false' });

    const props = stackPropsFromContext(ctx, noFile);

    expect(props).toMatchObject({ fanout: 'stepfunctions', trigger: 'direct', reserveConcurrency: false });
  });

  it('refuses the queue trigger with the Step Functions fan-out', () => {
    const ctx = parseContext({ ...REQUIRED, fanout: 'stepfunctions', trigger: 'queue' });

    expect(() => stackPropsFromContext(ctx, noFile)).toThrow(/context key "trigger": the Step Functions fan-out .* remove trigger=queue/);
  });

  it('refuses vpcId without subnetIds, naming the missing key', () => {
    const ctx = parseContext({ ...REQUIRED, vpcId: 'vpc-0a1b2c3d' });

    expect(() => stackPropsFromContext(ctx, noFile)).toThrow(/context key "subnetIds": required with "vpcId"/);
  });

  it.each([['subnetIds', 'subnet-0a1b2c3d'], ['securityGroupIds', 'sg-0a1b2c3d']])('refuses %s without vpcId', (key, value) => {
    const ctx = parseContext({ ...REQUIRED, [key]: value });

    expect(() => stackPropsFromContext(ctx, noFile)).toThrow(`context key "${key}": only with "vpcId"`);
  });

  it('passes the VPC placement through to the stack props', () => {
    const ctx = parseContext({ ...REQUIRED, vpcId: 'vpc-0a1b2c3d', subnetIds: 'subnet-0a1b2c3d,subnet-4e5f6a7b', securityGroupIds: 'sg-0a1b2c3d' });

    const props = stackPropsFromContext(ctx, noFile);

    expect(props).toMatchObject({
      vpcId: 'vpc-0a1b2c3d',
      subnetIds: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'],
      securityGroupIds: ['sg-0a1b2c3d'],
    });
  });

  it('leaves the functions outside any VPC without the keys', () => {
    const props = stackPropsFromContext(parseContext(REQUIRED), noFile);

    expect(props).not.toHaveProperty('vpcId');
    expect(props).not.toHaveProperty('subnetIds');
  });

  it('passes an existing secret ARN through', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fieldlens-key-AbCdEf';
    const ctx = parseContext({ ...REQUIRED, modelApiKeySecretArn: arn });

    const props = stackPropsFromContext(ctx, noFile);

    expect(props.model).toMatchObject({ existingApiKeySecretArn: arn });
  });
});

describe('stackPropsFromContext: the backfill and the EventBridge trigger', () => {
  const noFile = (): string => {
    throw new Error('no file expected');
  };

  it('leaves the backfill off without any backfill key', () => {
    const props = stackPropsFromContext(parseContext(REQUIRED), noFile);

    expect(props.backfill).toBeUndefined();
  });

  it('turns the backfill on with backfill=true, or with any of its settings', () => {
    expect(stackPropsFromContext(parseContext({ ...REQUIRED, backfill: 'true' }), noFile).backfill).toEqual({});
    expect(stackPropsFromContext(parseContext({ ...REQUIRED, backfillShare: '0.3', backfillBatchSize: '50' }), noFile).backfill).toEqual({
      share: 0.3,
      batchSize: 50,
    });
  });

  it('passes the inventory bucket and prefix through', () => {
    const ctx = parseContext({ ...REQUIRED, backfillInventoryBucket: 'my-inventory', backfillInventoryPrefix: 'reports/' });

    expect(stackPropsFromContext(ctx, noFile).backfill).toEqual({ inventory: { bucketName: 'my-inventory', prefix: 'reports/' } });
  });

  it.each([['0'], ['1'], ['half'], ['1.5']])('rejects backfillShare=%s, naming what it expects', (value) => {
    const message = contextError({ ...REQUIRED, backfillShare: value });

    expect(message).toContain('context key "backfillShare": expected a number above 0 and below 1');
  });

  it('refuses backfill settings with backfill=false', () => {
    const ctx = parseContext({ ...REQUIRED, backfill: 'false', backfillShare: '0.3' });

    expect(() => stackPropsFromContext(ctx, noFile)).toThrow(/"backfillShare": configures the backfill, which backfill=false turns off/);
  });

  it('refuses an inventory prefix without its bucket', () => {
    const ctx = parseContext({ ...REQUIRED, backfillInventoryPrefix: 'reports/' });

    expect(() => stackPropsFromContext(ctx, noFile)).toThrow(/"backfillInventoryPrefix": only with "backfillInventoryBucket"/);
  });

  it('accepts trigger=eventbridge with reserveConcurrency and with the Step Functions fan-out', () => {
    const ctx = parseContext({ ...REQUIRED, trigger: 'eventbridge', fanout: 'stepfunctions', reserveConcurrency: 'false' });

    expect(stackPropsFromContext(ctx, noFile)).toMatchObject({ trigger: 'eventbridge', fanout: 'stepfunctions', reserveConcurrency: false });
  });
});
