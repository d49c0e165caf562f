/**
 * The bucket fieldlens watches: an existing one, or a new one with secure
 * defaults (and, when asked, a bucket for its access logs).
 *
 * Functions rather than a construct on purpose: the buckets are created
 * directly in the stack, so they keep the logical ids they have always had.
 * A construct in between would rename them, and CloudFormation would
 * replace a deployed bucket.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { FieldlensPropsError } from '../errors';

/** Options for the bucket the stack creates when no existing bucket is given. */
export interface FieldlensBucketProps {
  /**
   * Write S3 server access logs to a second bucket the stack creates.
   * @default false
   */
  readonly serverAccessLogs?: boolean;
  /**
   * Keep every version of every object.
   * @default false
   */
  readonly versioned?: boolean;
  /**
   * What happens to the bucket (and the access log bucket) when the stack is
   * deleted. The default keeps images and results.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Which bucket is watched, and where results go. */
export interface WatchedBucketProps {
  /**
   * An existing bucket to watch, from your own app. Give at most one of
   * `existingBucket`, `existingBucketName` and `bucketProps`.
   * @default - a new bucket
   */
  readonly existingBucket?: s3.IBucket;
  /**
   * The name of an existing bucket to watch (in this stack's account and
   * region). The stack adds its event notification to the bucket.
   * @default - a new bucket
   */
  readonly existingBucketName?: string;
  /**
   * Options for the new bucket.
   * @default - all public access blocked, TLS only, S3-managed encryption,
   *   no access logs, no versioning, retained on stack deletion
   */
  readonly bucketProps?: FieldlensBucketProps;
  /**
   * A separate bucket for results.
   * @default - results go to the watched bucket
   */
  readonly existingOutputBucket?: s3.IBucket;
}

/** The buckets of a deployment. */
export interface WatchedBuckets {
  /** The watched bucket. */
  readonly bucket: s3.IBucket;
  /** The bucket results are written to. */
  readonly outputBucket: s3.IBucket;
  /** The access log bucket, when one was created. */
  readonly accessLogsBucket?: s3.Bucket;
}

/**
 * Rejects an existing bucket given together with another one, or with
 * options for a new one.
 *
 * @throws {FieldlensPropsError} naming the props given.
 */
export function checkWatchedBucketProps(props: WatchedBucketProps): void {
  const given = (['existingBucket', 'existingBucketName', 'bucketProps'] as const).filter((k) => props[k] !== undefined);
  if (given.length > 1) {
    throw new FieldlensPropsError(
      `give at most one of existingBucket, existingBucketName and bucketProps (an existing bucket, or options for a new one), got ${given.join(' and ')}`,
    );
  }
}

/** The watched bucket (imported, or created in `scope` as `Bucket`) and the output bucket. */
export function watchedBuckets(scope: Construct, props: WatchedBucketProps): WatchedBuckets {
  let bucket: s3.IBucket;
  let accessLogsBucket: s3.Bucket | undefined;
  if (props.existingBucket) {
    bucket = props.existingBucket;
  } else if (props.existingBucketName) {
    bucket = s3.Bucket.fromBucketName(scope, 'Bucket', props.existingBucketName);
  } else {
    const created = createBucket(scope, props.bucketProps ?? {});
    bucket = created.bucket;
    accessLogsBucket = created.accessLogs;
  }
  const outputBucket = props.existingOutputBucket ?? bucket;
  return accessLogsBucket ? { bucket, outputBucket, accessLogsBucket } : { bucket, outputBucket };
}

/** The buckets {@link watchedBuckets} created, as opposed to those it was given. */
const createdBuckets = new WeakSet<s3.IBucket>();

/**
 * Expires objects under `prefix` after `days`, on a bucket the stack
 * created; an existing bucket's lifecycle is its owner's, so it is left
 * alone.
 *
 * @returns whether the rule was added.
 */
export function expireObjectsUnder(bucket: s3.IBucket, options: { readonly id: string; readonly prefix: string; readonly days: number }): boolean {
  if (!(bucket instanceof s3.Bucket) || !createdBuckets.has(bucket)) return false;
  bucket.addLifecycleRule({ id: options.id, prefix: options.prefix, expiration: Duration.days(options.days) });
  return true;
}

function createBucket(scope: Construct, options: FieldlensBucketProps): { bucket: s3.Bucket; accessLogs?: s3.Bucket } {
  const removalPolicy = options.removalPolicy ?? RemovalPolicy.RETAIN;
  const secure = {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    encryption: s3.BucketEncryption.S3_MANAGED,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy,
  } satisfies s3.BucketProps;

  let accessLogs: s3.Bucket | undefined;
  if (options.serverAccessLogs) {
    accessLogs = new s3.Bucket(scope, 'AccessLogs', {
      ...secure,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access log bucket itself; logging its own accesses would log the log writes.',
    });
  }
  const bucket = new s3.Bucket(scope, 'Bucket', {
    ...secure,
    versioned: options.versioned ?? false,
    ...(accessLogs ? { serverAccessLogsBucket: accessLogs, serverAccessLogsPrefix: 'fieldlens/' } : {}),
  });
  createdBuckets.add(bucket);
  if (!accessLogs) {
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Server access logs are opt-in (bucketProps.serverAccessLogs, context accessLogs=true): every image already leaves a result document and a log line of the function.',
    });
  }
  return accessLogs ? { bucket, accessLogs } : { bucket };
}
