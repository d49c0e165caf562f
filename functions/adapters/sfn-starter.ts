/**
 * {@link ExecutionStarter} over the AWS SDK's Step Functions client.
 *
 * The SDK reads `AWS_ENDPOINT_URL_SFN` (or `AWS_ENDPOINT_URL`) itself, so the
 * same code runs against any server that speaks the Step Functions protocol.
 */
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand, type SFNClientConfig } from '@aws-sdk/client-sfn';
import type { ExecutionStarter, StartResult } from '../core/ports';

/** Starts executions of one state machine. */
export class SfnExecutionStarter implements ExecutionStarter {
  readonly #client: SFNClient;
  readonly #stateMachineArn: string;

  constructor(client: SFNClient, stateMachineArn: string) {
    this.#client = client;
    this.#stateMachineArn = stateMachineArn;
  }

  async start(name: string | undefined, input: unknown): Promise<StartResult> {
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
export function createSfnClient(config: SFNClientConfig = {}): SFNClient {
  return new SFNClient(config);
}
