/**
 * The checks {@link FieldlensStack} runs on its props before it creates
 * anything: props that contradict each other or cannot work. What a
 * function would refuse in its environment (the model's URL, name, ranges,
 * prefixes) is checked with the function's own config when the pipeline
 * builds that environment, so its message is the function's.
 */
import { checkWatchedBucketProps } from './constructs/fieldlens-bucket';
import { checkFunctionEnvironment, SYNTH_PLACEHOLDERS } from './constructs/environment-check';
import { starterEnvironment } from './constructs/function-environment';
import { checkModelApiKeyProps } from './constructs/model-api-key';
import { checkModelNetworkProps } from './constructs/model-network';
import { FieldlensPropsError } from './errors';
import type { FieldlensStack } from './fieldlens-stack';
import type { FieldlensStackProps } from './stack-props';

/**
 * Rejects stack props that cannot describe a working deployment. The
 * pipeline checks its own props, and each function's environment, when it
 * is created.
 *
 * @throws {FieldlensPropsError} naming the prop and what it expected, or
 *   with a function's own message for a value that function would refuse.
 */
export function validateStackProps(props: FieldlensStackProps): void {
  checkWatchedBucketProps(props);
  checkModelApiKeyProps(props.model);
  checkModelNetworkProps(props);
  if (props.reserveConcurrency !== undefined && props.trigger === 'queue') {
    throw new FieldlensPropsError(
      'reserveConcurrency: only the direct trigger uses reserved concurrency (and eventbridge, which invokes the function the same way); the queue trigger limits concurrency on its event source',
    );
  }
  if (props.fanout === 'stepfunctions') checkStarterEnvironment(props);
}

/**
 * The Step Functions starter's environment, checked with the starter's own
 * config. It has no `OUTPUT_BUCKET`, so the starter refuses overlapping
 * prefixes even with a separate output bucket; the message says so then.
 */
function checkStarterEnvironment(props: FieldlensStackProps): void {
  const env = starterEnvironment(
    {
      // The stack's defaults.
      inputPrefix: props.inputPrefix ?? 'incoming/',
      outputPrefix: props.outputPrefix ?? 'results/',
      ...(props.logLevel !== undefined ? { logLevel: props.logLevel } : {}),
    },
    SYNTH_PLACEHOLDERS.STATE_MACHINE_ARN!,
  );
  try {
    checkFunctionEnvironment('starter', env);
  } catch (err) {
    const separate = props.existingOutputBucket !== undefined && props.existingOutputBucket !== props.existingBucket;
    if (err instanceof FieldlensPropsError && separate) {
      throw new FieldlensPropsError(
        `${err.message}. With fanout=stepfunctions this holds even with existingOutputBucket: the starter is not told the output bucket`,
        { cause: err },
      );
    }
    throw err;
  }
}
