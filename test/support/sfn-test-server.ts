/**
 * A loopback HTTP server that speaks the Step Functions JSON protocol
 * (awsJson1_0, `X-Amz-Target: AWSStepFunctions.<Operation>`) for
 * `StartExecution`, so the starter runs with the real SFNClient.
 *
 * Like a standard state machine it refuses a name it has seen:
 * HTTP 400 with `{"__type": "ExecutionAlreadyExists", …}`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One execution the server accepted. */
export interface StartedExecution {
  readonly stateMachineArn: string;
  readonly name: string;
  readonly executionArn: string;
  /** The parsed execution input. */
  readonly input: unknown;
}

export interface SfnTestServerOptions {
  /** Called for every execution accepted (e.g. to run the state machine locally). */
  readonly onStart?: (execution: StartedExecution) => void;
}

export interface SfnTestServer {
  /** `http://127.0.0.1:PORT`, for the client's `endpoint` (or `AWS_ENDPOINT_URL_SFN`). */
  readonly endpoint: string;
  /** Executions accepted, in order. */
  readonly executions: readonly StartedExecution[];
  /** Every StartExecution request received, duplicates and failures included. */
  readonly startRequests: number;
  /** Answer the next `count` StartExecution requests with this error instead. */
  failNext(count: number, error: { status: number; type: string; message?: string }): void;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 with a free port. */
export async function startSfnTestServer(options: SfnTestServerOptions = {}): Promise<SfnTestServer> {
  const executions: StartedExecution[] = [];
  const names = new Set<string>();
  let startRequests = 0;
  let faults: { count: number; error: { status: number; type: string; message?: string } } | undefined;

  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const error = (res: ServerResponse, status: number, type: string, message: string): void =>
    reply(res, status, { __type: type, message });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || target !== 'AWSStepFunctions.StartExecution') {
        return error(res, 400, 'UnknownOperationException', `unsupported operation ${target || req.method}`);
      }
      startRequests++;
      if (faults && faults.count > 0) {
        faults.count--;
        return error(res, faults.error.status, faults.error.type, faults.error.message ?? faults.error.type);
      }
      let body: { stateMachineArn?: string; name?: string; input?: string };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        return error(res, 400, 'SerializationException', 'body is not JSON');
      }
      const arn = body.stateMachineArn ?? '';
      const match = /^arn:aws:states:([a-z0-9-]+):(\d{12}):stateMachine:(.+)$/.exec(arn);
      if (!match) return error(res, 400, 'InvalidArn', `invalid state machine ARN ${JSON.stringify(arn)}`);
      const name = body.name ?? `generated-${executions.length + 1}`;
      if (names.has(name)) {
        return error(res, 400, 'ExecutionAlreadyExists', `Execution Already Exists: 'arn:aws:states:${match[1]}:${match[2]}:execution:${match[3]}:${name}'`);
      }
      names.add(name);
      const execution: StartedExecution = {
        stateMachineArn: arn,
        name,
        executionArn: `arn:aws:states:${match[1]}:${match[2]}:execution:${match[3]}:${name}`,
        input: body.input === undefined ? {} : (JSON.parse(body.input) as unknown),
      };
      executions.push(execution);
      reply(res, 200, { executionArn: execution.executionArn, startDate: Date.now() / 1000 });
      options.onStart?.(execution);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    executions,
    get startRequests() {
      return startRequests;
    },
    failNext(count, err) {
      faults = { count, error: err };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
