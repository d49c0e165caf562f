/**
 * Where the backfill's Distributed Map reads its items and writes its
 * results, each with exactly the permissions it needs. CDK's own readers
 * grant `s3:ListBucket` on the whole bucket and its ResultWriter objects
 * in the whole bucket; these grant the listing of the input prefix only
 * (`s3:prefix` condition) and writes under the backfill's own folder.
 */
import { Arn, ArnFormat, Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';

const statesResource = (name: string): string =>
  Arn.format({ region: '', account: '', partition: Aws.PARTITION, service: 'states', resource: 's3', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

/**
 * ListObjectsV2 over a prefix taken from the execution's input (a JSONPath),
 * allowed only under `allowedPrefix`: the role may list nothing else, so a
 * run asked for another prefix fails its ItemReader.
 */
export class PrefixListingReader implements sfn.IItemReader {
  public readonly bucket: s3.IBucket;
  public readonly resource = statesResource('listObjectsV2');
  readonly #prefixPath: string;
  readonly #allowedPrefix: string;

  /**
   * @param prefixPath JSONPath of the prefix to list in the Map state's input, e.g. `$.args.prefix`.
   * @param allowedPrefix the only prefix the role may list (the input prefix; `''` for the whole bucket).
   */
  constructor(bucket: s3.IBucket, prefixPath: string, allowedPrefix: string) {
    this.bucket = bucket;
    this.#prefixPath = prefixPath;
    this.#allowedPrefix = allowedPrefix;
  }

  render(): unknown {
    return { Resource: this.resource, Parameters: { Bucket: this.bucket.bucketName, 'Prefix.$': this.#prefixPath } };
  }

  providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        sid: 'ListInputPrefix',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        ...(this.#allowedPrefix ? { conditions: { StringLike: { 's3:prefix': [`${this.#allowedPrefix}*`] } } } : {}),
      }),
    ];
  }

  validateItemReader(): string[] {
    return [];
  }
}

/**
 * An S3 Inventory report's `manifest.json`, its key taken from the
 * execution's input; the role may read the reports under `prefix` of the
 * inventory's destination bucket and nothing else there.
 */
export class InventoryManifestReader implements sfn.IItemReader {
  public readonly bucket: s3.IBucket;
  public readonly resource = statesResource('getObject');
  readonly #keyPath: string;
  readonly #prefix: string;

  /**
   * @param keyPath JSONPath of the manifest's key in the Map state's input, e.g. `$.args.manifestKey`.
   * @param prefix where the inventory reports are (their destination prefix).
   */
  constructor(bucket: s3.IBucket, keyPath: string, prefix: string) {
    this.bucket = bucket;
    this.#keyPath = keyPath;
    this.#prefix = prefix;
  }

  render(): unknown {
    return {
      Resource: this.resource,
      ReaderConfig: { InputType: 'MANIFEST' },
      Parameters: { Bucket: this.bucket.bucketName, 'Key.$': this.#keyPath },
    };
  }

  providePolicyStatements(): iam.PolicyStatement[] {
    return [new iam.PolicyStatement({ sid: 'ReadInventoryReports', actions: ['s3:GetObject'], resources: [this.bucket.arnForObjects(`${this.#prefix}*`)] })];
  }

  validateItemReader(): string[] {
    return [];
  }
}

/**
 * The Map Run's results under one folder of the output bucket (what the
 * ResultWriter needs: put the files, and manage its multipart uploads of
 * large ones), in the COMPACT form: the child workflows' outputs (each
 * batch's tally), not their inputs (the batches themselves).
 */
export class FolderResultWriter extends sfn.ResultWriterV2 {
  constructor(bucket: s3.IBucket, prefix: string) {
    super({
      bucket,
      prefix,
      writerConfig: new sfn.WriterConfig({ transformation: sfn.Transformation.COMPACT, outputType: sfn.OutputType.JSON }),
    });
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        sid: 'WriteBackfillResults',
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.bucket!.arnForObjects(`${this.prefix ?? ''}*`)],
      }),
    ];
  }
}
