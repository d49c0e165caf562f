/**
 * The content cache as the stack deploys it: where its entries live (the
 * functions' `CONTENT_CACHE*` variables), a lifecycle rule that expires them,
 * and, for a prefix of the user's outside the output prefix, access to it.
 * The cache logic itself is `functions/core/content-cache.ts`.
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { defaultCachePrefix } from '../../functions/core/content-cache';
import { FieldlensPropsError } from '../errors';
import { acknowledgeWildcardResource } from './acknowledge';

/** Options for the content cache: identical images answered from earlier answers, no model call. */
export interface ContentCacheProps {
  /**
   * Answer an image whose bytes and configuration match an earlier
   * complete result from that result (`CONTENT_CACHE`).
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Key prefix of the entries in the results bucket (`CONTENT_CACHE_PREFIX`).
   * It may not lie under the input prefix, unless under the output prefix.
   * @default - `<outputPrefix>.fieldlens/cache/`
   */
  readonly prefix?: string;
  /**
   * How long an entry lives: the lifecycle rule on a bucket the stack
   * creates. On an existing bucket, add such a rule yourself.
   * @default Duration.days(30)
   */
  readonly expiration?: Duration;
}

/** The content cache of a deployment, when it is on. */
export interface ResolvedContentCache {
  readonly prefix: string;
  readonly expiration: Duration;
}

/** The prefixes the cache is placed against. */
export interface CachePlacement {
  readonly contentCache?: ContentCacheProps;
  readonly outputPrefix: string;
}

/**
 * The cache's prefix and expiry, or `undefined` when it is off.
 *
 * @throws {FieldlensPropsError} for a prefix that does not end in `/` or has
 *   an IAM wildcard, or an expiry under a day.
 */
export function resolveContentCache(props: CachePlacement): ResolvedContentCache | undefined {
  const c = props.contentCache ?? {};
  if (c.enabled === false) return undefined;
  const prefix = c.prefix ?? defaultCachePrefix(props.outputPrefix);
  if (!prefix.endsWith('/') || /[*?]/.test(prefix)) {
    throw new FieldlensPropsError(`contentCache.prefix: expected a key prefix ending in "/" without "*" or "?", got ${JSON.stringify(prefix)}`);
  }
  // Whether the entries could be taken for images (a prefix under the input
  // prefix of the bucket they arrive in) is the function's own check, run on
  // its environment at synth, so synth refuses it with the function's message.
  const expiration = c.expiration ?? Duration.days(30);
  if (!expiration.isUnresolved() && expiration.toDays({ integral: false }) < 1) {
    throw new FieldlensPropsError(`contentCache.expiration: expected at least one day (S3 lifecycle rules count days), got ${expiration.toHumanString()}`);
  }
  return { prefix, expiration };
}

/** The functions' variables for the cache (see `functions/config.ts`). */
export function contentCacheEnvironment(cache: ResolvedContentCache | undefined): Record<string, string> {
  return cache ? { CONTENT_CACHE: 'on', CONTENT_CACHE_PREFIX: cache.prefix } : { CONTENT_CACHE: 'off' };
}

/**
 * Expires the cache's entries: a lifecycle rule on the results bucket when
 * the stack created it; a warning naming the rule to add on a bucket it
 * did not create (CDK cannot change an imported bucket's configuration).
 */
export function expireContentCache(scope: IConstruct, bucket: s3.IBucket, cache: ResolvedContentCache | undefined): void {
  if (!cache) return;
  if (bucket instanceof s3.Bucket) {
    bucket.addLifecycleRule({
      id: 'expire-content-cache',
      prefix: cache.prefix,
      expiration: Duration.days(Math.max(1, Math.ceil(cache.expiration.toDays({ integral: false })))),
    });
    return;
  }
  Annotations.of(scope).addWarningV2(
    'fieldlens:contentCacheExpiry',
    `the results bucket is not created by this stack, so its content cache entries under "${cache.prefix}" never expire: ` +
      'add a lifecycle rule for that prefix to the bucket, or set contentCache.enabled to false',
  );
}

/**
 * Read and write access to the cache's entries, for a prefix outside the
 * output prefix (under it, the results grant already covers them).
 */
export function grantContentCacheAccess(role: iam.IRole, bucket: s3.IBucket, outputPrefix: string, cache: ResolvedContentCache | undefined): void {
  if (!cache || (outputPrefix !== '' && cache.prefix.startsWith(outputPrefix))) return;
  const entries = bucket.arnForObjects(`${cache.prefix}*`);
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadWriteContentCache', actions: ['s3:GetObject', 's3:PutObject'], resources: [entries] }));
  acknowledgeWildcardResource(
    role,
    entries,
    `Content cache entries under "${cache.prefix}" only: entry keys are image digests computed at run time, and a key prefix is the narrowest scope S3 IAM offers for them.`,
  );
}
