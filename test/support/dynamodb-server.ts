/**
 * A DynamoDB-compatible server on loopback, in memory (dynalite), for the
 * fleet store's tests and the benchmark. No test framework here: the
 * benchmark imports it as well.
 *
 * dynalite answers a refused condition without the item, whatever
 * `ReturnValuesOnConditionCheckFailure` asks, so against it the store takes
 * the state after a refusal from a second read.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * A region and credentials the server accepts (it checks that a request is
 * signed, not by whom). Not frozen: the SDK marks the credentials object it
 * is given with where they came from.
 */
export const DYNAMODB_TEST_CONFIG = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
};

export interface LocalDynamoDb {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Creates a table with partition key `pk` (S), on demand, and waits until it is ACTIVE. */
  createTable(name: string): Promise<void>;
  close(): Promise<void>;
}

/** The parts of dynalite 4's options used here. */
interface DynaliteOptions {
  /** How long a table stays CREATING (and DELETING, UPDATING): 500 ms unless set. */
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
  /** A LevelDB directory; in memory without it. */
  readonly path?: string;
}

// dynalite is CommonJS and ships no types: required, typed by the interface above.
const dynalite = createRequire(import.meta.url)('dynalite') as (options?: DynaliteOptions) => Server;

/** Starts dynalite on 127.0.0.1 with a free port, its tables made at once. */
export async function startDynamoDb(): Promise<LocalDynamoDb> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const admin = new DynamoDBClient({ ...DYNAMODB_TEST_CONFIG, endpoint, maxAttempts: 1 });

  return {
    endpoint,
    async createTable(name) {
      await admin.send(
        new CreateTableCommand({
          TableName: name,
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      // CREATING for createTableMs (0), then ACTIVE on the next turn of the event loop.
      const giveUpAt = Date.now() + 5_000;
      for (;;) {
        const out = await admin.send(new DescribeTableCommand({ TableName: name }));
        if (out.Table?.TableStatus === 'ACTIVE') return;
        if (Date.now() > giveUpAt) throw new Error(`table ${name} is still ${out.Table?.TableStatus ?? 'unknown'} after 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    async close() {
      admin.destroy();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets of clients not yet destroyed would hold the close up.
        server.closeAllConnections();
      });
    },
  };
}
