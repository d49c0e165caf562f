/**
 * The checks {@link FieldlensStack} runs on its props before it creates
 * anything: props that contradict each other or cannot work. What a
 * function would refuse in its environment (the model's URL, name, ranges,
 * prefixes) is checked with the function's own config when the pipeline
 * builds that environment, so its message is the function's.
 */
import { checkWatchedBucketProps } from './constructs/fieldlens-bucket';
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
  checkModelNetworkProps(props);
  if (props.reserveConcurrency !== undefined && props.trigger === 'queue') {
    throw new FieldlensPropsError(
      'reserveConcurrency: only the direct trigger uses reserved concurrency (and eventbridge, which invokes the function the same way); the queue trigger limits concurrency on its event source',
    );
  }
}
