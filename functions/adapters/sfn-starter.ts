/**
 * {@link ExecutionStarter} over the AWS SDK's Step Functions client.
 *
 * The SDK reads `AWS_ENDPOINT_URL_SFN` (or `AWS_ENDPOINT_URL`) itself, so the
 * same code runs against any server that speaks the Step Functions protocol.
 */
import type { SFNClient, SFNClientConfig } from '@aws-sdk/client-sfn';
import { once } from '../core/once';
import type { ExecutionStarter, StartResult } from '../core/ports';

/**
 * The SDK, imported when the first client is made: the runtime module that
 * wires the starter is in every function's bundle, and a static import of
 * an external module would load it at every function's cold start.
 */
const loadSdk = once(() => import('@aws-sdk/client-sfn'));

/** Starts executions of one state machine. */
export class SfnExecutionStarter implements ExecutionStarter {
  readonly #client: SFNClient;
  readonly #stateMachineArn: string;

  constructor(client: SFNClient, stateMachineArn: string) {
    this.#client = client;
    this.#stateMachineArn = stateMachineArn;
  }

  async start(name: string | undefined, input: unknown): Promise<StartResult> {
    const { ExecutionAlreadyExists, StartExecutionCommand } = await loadSdk();
    try {
      const out = await this.#client.send(
        new StartExecutionCommand({
          stateMachineArn: this.#stateMachineArn,
          ...(name ? { name } : {}),
          input: JSON.stringify(input),
        }),
      );
      return { kind: 'started', executionArn: out.executionArn ?? '' };
    } catch (err) {
      // Compared by name too: a second copy of the SDK in a bundle has its own class.
      if (err instanceof ExecutionAlreadyExists || (err as { name?: unknown })?.name === 'ExecutionAlreadyExists') {
        return { kind: 'duplicate' };
      }
      throw err;
    }
  }
}

/** A Step Functions client; `config` is for tests (endpoint, credentials). */
export async function createSfnClient(config: SFNClientConfig = {}): Promise<SFNClient> {
  const { SFNClient } = await loadSdk();
  return new SFNClient(config);
}
