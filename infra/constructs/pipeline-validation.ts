/**
 * The checks every pipeline runs on its props before it creates anything.
 */
import { Token } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { FieldlensPropsError } from '../errors';
import { PIPELINE_DEFAULTS, type PipelineProps } from './pipeline-props';

/**
 * Rejects props that would deploy something that cannot work: overlapping
 * prefixes in one bucket (each result would trigger another invocation),
 * prefixes IAM would read as wildcards, timeouts that leave no time to work.
 *
 * @throws {FieldlensPropsError} naming the prop and what it expected.
 */
export function validatePipelineProps(props: PipelineProps): void {
  for (const [name, prefix] of [
    ['inputPrefix', props.inputPrefix],
    ['outputPrefix', props.outputPrefix],
  ] as const) {
    if (prefix !== '' && !prefix.endsWith('/')) {
      throw new FieldlensPropsError(`${name}: expected a key prefix ending in "/" (or empty), got ${JSON.stringify(prefix)}`);
    }
    if (/[*?]/.test(prefix)) {
      throw new FieldlensPropsError(`${name}: "*" and "?" are IAM wildcards and cannot be part of a prefix, got ${JSON.stringify(prefix)}`);
    }
  }
  if (sameBucket(props.sourceBucket, props.outputBucket)) {
    const { inputPrefix: i, outputPrefix: o } = props;
    if (i.startsWith(o) || o.startsWith(i)) {
      throw new FieldlensPropsError(
        `inputPrefix ${JSON.stringify(i)} and outputPrefix ${JSON.stringify(o)} overlap in the same bucket: ` +
          'every result would land under the input prefix and trigger another invocation; use two separate prefixes such as "incoming/" and "results/"',
      );
    }
  }
  const timeout = props.timeout ?? PIPELINE_DEFAULTS.timeout;
  const margin = props.deadlineMargin ?? PIPELINE_DEFAULTS.deadlineMargin;
  if (!timeout.isUnresolved() && !margin.isUnresolved() && timeout.toMilliseconds() <= margin.toMilliseconds() + 1000) {
    throw new FieldlensPropsError(
      `timeout (${timeout.toSeconds()} s) must exceed deadlineMargin (${margin.toSeconds()} s) by more than a second, ` +
        'or no time is left to ask the model',
    );
  }
}

function sameBucket(a: s3.IBucket, b: s3.IBucket): boolean {
  if (a === b) return true;
  // Imported twice by name: same bucket. Tokens of two constructs cannot be compared, so they count as different.
  return !Token.isUnresolved(a.bucketName) && a.bucketName === b.bucketName;
}
