/**
 * A loopback HTTP server that speaks the Step Functions JSON protocol
 * (awsJson1_0, `X-Amz-Target: AWSStepFunctions.<Operation>`) for
 * `StartExecution`, so the starter runs with the real SFNClient.
 *
 * Names follow a standard state machine's rules, as the StartExecution API
 * reference states them: a name already used does not start anything, and
 * - while that execution is open and the input is identical, the call
 *   succeeds and returns the open execution's ARN (the call is idempotent);
 * - while it is open and the input differs, or once it has closed whatever
 *   the input, the call fails with HTTP 400 `{"__type": "ExecutionAlreadyExists", …}`.
 *
 * An execution stays open until `onStart`'s promise settles (or `finish` is
 * called); without `onStart` it stays open.
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
  /** Open until its run ends. */
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
}

export interface SfnTestServerOptions {
  /**
   * Called for every execution accepted (e.g. to run the state machine
   * locally); the execution closes when the returned promise settles:
   * `SUCCEEDED` when it resolves, `FAILED` when it rejects.
   */
  readonly onStart?: (execution: StartedExecution) => unknown;
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
  /** Closes an open execution, as its run ending would. */
  finish(name: string, status?: 'SUCCEEDED' | 'FAILED'): void;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 with a free port. */
export async function startSfnTestServer(options: SfnTestServerOptions = {}): Promise<SfnTestServer> {
  const executions: Array<StartedExecution & { status: StartedExecution['status']; inputText: string }> = [];
  const byName = new Map<string, (typeof executions)[number]>();
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
      const inputText = body.input ?? '{}';
      const existing = byName.get(name);
      if (existing) {
        if (existing.status === 'RUNNING' && existing.inputText === inputText) {
          return reply(res, 200, { executionArn: existing.executionArn, startDate: Date.now() / 1000 });
        }
        return error(res, 400, 'ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
      }
      const execution = {
        stateMachineArn: arn,
        name,
        executionArn: `arn:aws:states:${match[1]}:${match[2]}:execution:${match[3]}:${name}`,
        input: JSON.parse(inputText) as unknown,
        inputText,
        status: 'RUNNING' as StartedExecution['status'],
      };
      executions.push(execution);
      byName.set(name, execution);
      reply(res, 200, { executionArn: execution.executionArn, startDate: Date.now() / 1000 });
      if (options.onStart) {
        Promise.resolve(options.onStart(execution)).then(
          () => finish(name, 'SUCCEEDED'),
          () => finish(name, 'FAILED'),
        );
      }
    });
  });
  const finish = (name: string, status: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED'): void => {
    const execution = byName.get(name);
    if (execution && execution.status === 'RUNNING') execution.status = status;
  };
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
    finish,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
