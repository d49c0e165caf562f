/**
 * The stack's part of the endpoint work: the content cache (its variables,
 * lifecycle rule and access) and the prices that give documents a cost.
 */
import { Duration } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseContext, stackPropsFromContext } from '../../infra/context';
import { ContextError, FieldlensPropsError } from '../../infra/errors';
import { allowedPermissions, buildStack, MODEL } from './support';

const noFile = (path: string): string => {
  throw new Error(`unexpected read of ${path}`);
};

function environment(template: ReturnType<typeof buildStack>['template']): Record<string, unknown> {
  const fns = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }));
  expect(fns).toHaveLength(1);
  return fns[0]!.Properties.Environment.Variables as Record<string, unknown>;
}

function lifecycleRules(template: ReturnType<typeof buildStack>['template']): unknown[] {
  const buckets = Object.values(template.findResources('AWS::S3::Bucket'));
  return buckets.flatMap((b) => (b.Properties?.LifecycleConfiguration?.Rules ?? []) as unknown[]);
}

describe('FieldlensStack: the content cache', () => {
  it('is on by default under the output prefix, with entries expired after 30 days', () => {
    // Act
    const { template } = buildStack({ outputPrefix: 'out/' });

    // Assess
    expect(environment(template)).toMatchObject({ CONTENT_CACHE: 'on', CONTENT_CACHE_PREFIX: 'out/.fieldlens/cache/' });
    expect(lifecycleRules(template)).toContainEqual({
      Id: 'expire-content-cache',
      Prefix: 'out/.fieldlens/cache/',
      ExpirationInDays: 30,
      Status: 'Enabled',
    });
  });

  it('grants nothing beyond the results prefix for entries under it', () => {
    const { template } = buildStack();

    expect(allowedPermissions(template).some((p) => p.resource.includes('.fieldlens/cache'))).toBe(false);
  });

  it('takes a prefix and an expiry of the user’s, and grants read and write on that prefix only', () => {
    // Act
    const { template } = buildStack({ contentCache: { prefix: 'cache/', expiration: Duration.days(7) } });

    // Assess
    expect(environment(template)).toMatchObject({ CONTENT_CACHE: 'on', CONTENT_CACHE_PREFIX: 'cache/' });
    expect(lifecycleRules(template)).toContainEqual(expect.objectContaining({ Prefix: 'cache/', ExpirationInDays: 7 }));
    const cache = allowedPermissions(template).filter((p) => p.resource.includes('/cache/*'));
    expect(cache.map((p) => p.action).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(cache.every((p) => p.resource.endsWith('/cache/*'))).toBe(true);
  });

  it('with the Step Functions fan-out: Prepare and Merge alone get the cache prefix, and Merge is handed the entry to store', () => {
    // Act
    const { template } = buildStack({ fanout: 'stepfunctions', contentCache: { prefix: 'cache/' } });

    // Assess: the roles of the policies on the cache prefix are Prepare's and Merge's
    const cachePolicies = [...new Set(allowedPermissions(template).filter((p) => p.resource.includes('/cache/*')).map((p) => p.policy))];
    expect(cachePolicies).toHaveLength(2);
    expect(cachePolicies.every((id) => /Prepare|Merge/.test(id))).toBe(true);
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const definition = JSON.stringify(machine!.Properties.DefinitionString);
    expect(definition).toContain('\\"cache.$\\":\\"$.prepared.cache\\"');
  });

  it('is switched off with enabled: false: no lifecycle rule, CONTENT_CACHE=off', () => {
    const { template } = buildStack({ contentCache: { enabled: false } });

    expect(environment(template)).toMatchObject({ CONTENT_CACHE: 'off' });
    expect(environment(template)).not.toHaveProperty('CONTENT_CACHE_PREFIX');
    expect(lifecycleRules(template)).toEqual([]);
  });

  it('refuses a prefix under the input prefix, where each entry would be processed as an image', () => {
    expect(() => buildStack({ contentCache: { prefix: 'incoming/cache/' } })).toThrow(FieldlensPropsError);
    expect(() => buildStack({ contentCache: { prefix: 'incoming/cache/' } })).toThrow(/CONTENT_CACHE_PREFIX: expected a prefix outside INPUT_PREFIX/);
  });

  it('warns that entries never expire on a bucket the stack did not create', () => {
    const { stack } = buildStack({ existingBucketName: 'my-labels' });

    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('content cache entries .* never expire'));
  });
});

describe('FieldlensStack: prices', () => {
  it('passes prices per million tokens to the function', () => {
    const { template } = buildStack({
      model: { ...MODEL, prices: { inputPerMillion: 0.4, cachedInputPerMillion: 0.1, outputPerMillion: 1.6, currency: 'EUR' } },
    });

    expect(environment(template)).toMatchObject({
      MODEL_PRICE_INPUT_PER_MTOK: '0.4',
      MODEL_PRICE_CACHED_INPUT_PER_MTOK: '0.1',
      MODEL_PRICE_OUTPUT_PER_MTOK: '1.6',
      MODEL_PRICE_CURRENCY: 'EUR',
    });
  });

  it('sets no price by default', () => {
    const env = environment(buildStack().template);

    expect(Object.keys(env).filter((k) => k.startsWith('MODEL_PRICE_'))).toEqual([]);
  });

  it('refuses a negative price', () => {
    expect(() => buildStack({ model: { ...MODEL, prices: { inputPerMillion: -1, outputPerMillion: 1 } } })).toThrow(/model.prices.inputPerMillion/);
  });
});

describe('CDK context: the content cache and prices', () => {
  const REQUIRED = { modelBaseUrl: 'http://10.0.0.5:8000/v1', modelName: 'qwen' } as const;

  it('turns contentCache, contentCachePrefix and contentCacheDays into the stack’s contentCache', () => {
    const props = stackPropsFromContext(
      parseContext({ ...REQUIRED, contentCache: 'true', contentCachePrefix: 'cache/', contentCacheDays: '14' }),
      noFile,
    );

    expect(props.contentCache).toEqual({ enabled: true, prefix: 'cache/', expiration: Duration.days(14) });
  });

  it('switches the cache off with contentCache=false', () => {
    expect(stackPropsFromContext(parseContext({ ...REQUIRED, contentCache: 'false' }), noFile).contentCache).toEqual({ enabled: false });
  });

  it('turns the modelPrice* keys into model.prices', () => {
    const props = stackPropsFromContext(
      parseContext({ ...REQUIRED, modelPriceInputPerMTok: '0.4', modelPriceCachedInputPerMTok: 0.1, modelPriceOutputPerMTok: '1.6' }),
      noFile,
    );

    expect(props.model.prices).toEqual({ inputPerMillion: 0.4, cachedInputPerMillion: 0.1, outputPerMillion: 1.6 });
  });

  it('leaves prices and the cache to their defaults when no key is given', () => {
    const props = stackPropsFromContext(parseContext(REQUIRED), noFile);

    expect(props.model.prices).toBeUndefined();
    expect(props.contentCache).toBeUndefined();
  });

  it('refuses an input price without an output price, naming the missing key', () => {
    expect(() => stackPropsFromContext(parseContext({ ...REQUIRED, modelPriceInputPerMTok: '0.4' }), noFile)).toThrow(
      /context key "modelPriceOutputPerMTok"/,
    );
  });

  it('refuses a price that is not a number', () => {
    expect(() => parseContext({ ...REQUIRED, modelPriceOutputPerMTok: 'cheap' })).toThrow(ContextError);
  });
});
