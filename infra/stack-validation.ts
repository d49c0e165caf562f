/**
 * The checks {@link FieldlensStack} runs on its props before it creates
 * anything: props that contradict each other or cannot work.
 */
import { Token } from 'aws-cdk-lib';
import { checkWatchedBucketProps } from './constructs/fieldlens-bucket';
import { checkModelApiKeyProps } from './constructs/model-api-key';
import { checkModelNetworkProps } from './constructs/model-network';
import { FieldlensPropsError } from './errors';
import type { FieldlensStack } from './fieldlens-stack';
import type { FieldlensStackProps } from './stack-props';

/**
 * Rejects stack props that cannot describe a working deployment. The
 * pipeline checks its own props when it is created.
 *
 * @throws {FieldlensPropsError} naming the prop and what it expected.
 */
export function validateStackProps(props: FieldlensStackProps): void {
  checkWatchedBucketProps(props);
  if (!Token.isUnresolved(props.model.baseUrl) && !/^https?:\/\/[^/\s]+/.test(props.model.baseUrl)) {
    throw new FieldlensPropsError(
      `model.baseUrl: expected an http(s) URL such as https://vllm.example.com/v1, got ${JSON.stringify(props.model.baseUrl)}`,
    );
  }
  if (!props.model.name.trim()) throw new FieldlensPropsError('model.name: expected the model name sent in each request');
  checkModelApiKeyProps(props.model);
  checkModelNetworkProps(props);
  if (props.reserveConcurrency !== undefined && props.trigger === 'queue') {
    throw new FieldlensPropsError(
      'reserveConcurrency: only the direct trigger uses reserved concurrency (and eventbridge, which invokes the function the same way); the queue trigger limits concurrency on its event source',
    );
  }
}
