/**
 * A loopback HTTP server that speaks just enough of four AWS protocols for
 * the commands that work against a deployed stack, so they run with the real
 * SDK clients:
 *
 * - CloudFormation (awsQuery, XML): `DescribeStacks`, with `ValidationError`
 *   "Stack with id … does not exist" for an unknown stack;
 * - SQS (awsJson1_0, `X-Amz-Target: AmazonSQS.*`): `GetQueueAttributes`,
 *   `ReceiveMessage`, `DeleteMessage`, `ChangeMessageVisibility`,
 *   `StartMessageMoveTask`, `ListMessageMoveTasks`;
 * - Lambda (REST-JSON): `Invoke`;
 * - Step Functions (awsJson1_0, `X-Amz-Target: AWSStepFunctions.*`):
 *   `StartExecution`, `DescribeExecution`, `ListMapRuns`, `DescribeMapRun`,
 *   each execution following a script of looks;
 * - Secrets Manager (awsJson1_1, `X-Amz-Target: secretsmanager.*`):
 *   `GetSecretValue`, with `ResourceNotFoundException` for an unknown secret.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const ACCOUNT = '123456789012';

/** One look at a scripted execution: its status, its Map Run's item counts, and at the end its output. */
export interface ExecutionLook {
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  readonly itemCounts?: Readonly<Record<string, number>>;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

export interface AwsLoopback {
  readonly endpoint: string;
  /** A queue's URL on this server. */
  queueUrl(name: string): string;
  /** Stacks by name: their outputs. */
  readonly stacks: Map<string, Record<string, string>>;
  /** Puts a message in a queue. */
  send(queue: string, body: string): void;
  /** The bodies waiting in a queue. */
  bodies(queue: string): string[];
  /** Asynchronous invocations received: function name and payload. */
  readonly invocations: Array<{ functionName: string; invocationType: string | undefined; payload: unknown }>;
  /** Executions started: state machine, name, parsed input. */
  readonly executions: Array<{ stateMachineArn: string; name: string; input: unknown }>;
  /** Secrets by ARN: their `SecretString`, or their `SecretBinary` when a Buffer. */
  readonly secrets: Map<string, string | Buffer>;
  /** The looks the next started execution goes through (DescribeExecution walks them; the last one stays). */
  scriptNextExecution(looks: readonly ExecutionLook[]): void;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 with a free port. */
export async function startAwsLoopback(): Promise<AwsLoopback> {
  const stacks = new Map<string, Record<string, string>>();
  const queues = new Map<string, Array<{ id: string; body: string; receipt?: string; invisible: boolean }>>();
  const invocations: AwsLoopback['invocations'] = [];
  const executions: AwsLoopback['executions'] = [];
  const scripts = new Map<string, { looks: readonly ExecutionLook[]; at: number }>();
  let nextScript: readonly ExecutionLook[] = [{ status: 'SUCCEEDED', output: {} }];
  const moveTasks: Array<{ handle: string; source: string; moved: number }> = [];
  const secrets = new Map<string, string | Buffer>();
  let ids = 0;
  let endpoint = '';

  const queueOf = (url: string) => {
    const name = url.split('/').pop() ?? '';
    if (!queues.has(name)) queues.set(name, []);
    return queues.get(name)!;
  };
  const queueArn = (name: string) => `arn:aws:sqs:us-east-1:${ACCOUNT}:${name}`;

  const json = (res: ServerResponse, status: number, body: unknown, type = 'application/x-amz-json-1.0') => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': `req-${++ids}` });
    res.end(text);
  };
  const xml = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': `req-${++ids}` });
    res.end(text);
  };

  const cloudFormation = (res: ServerResponse, form: URLSearchParams) => {
    const name = form.get('StackName') ?? '';
    const outputs = stacks.get(name);
    if (form.get('Action') !== 'DescribeStacks') return xml(res, 400, errorXml('InvalidAction', `unsupported ${form.get('Action')}`));
    if (!outputs) return xml(res, 400, errorXml('ValidationError', `Stack with id ${name} does not exist`));
    const members = Object.entries(outputs)
      .map(([k, v]) => `<member><OutputKey>${esc(k)}</OutputKey><OutputValue>${esc(v)}</OutputValue></member>`)
      .join('');
    xml(
      res,
      200,
      `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
        `<StackName>${esc(name)}</StackName><StackId>arn:aws:cloudformation:us-east-1:${ACCOUNT}:stack/${esc(name)}/1</StackId>` +
        `<CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs>` +
        `</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>`,
    );
  };

  const sqs = (res: ServerResponse, op: string, body: Record<string, any>) => {
    switch (op) {
      case 'GetQueueAttributes': {
        const name = String(body.QueueUrl).split('/').pop()!;
        const visible = queueOf(body.QueueUrl).filter((m) => !m.invisible).length;
        return json(res, 200, { Attributes: { QueueArn: queueArn(name), ApproximateNumberOfMessages: String(visible) } });
      }
      case 'ReceiveMessage': {
        const q = queueOf(body.QueueUrl);
        const picked = q.filter((m) => !m.invisible).slice(0, body.MaxNumberOfMessages ?? 1);
        for (const m of picked) {
          m.invisible = true;
          m.receipt = `rh-${++ids}`;
        }
        return json(res, 200, {
          Messages: picked.map((m) => ({ MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body, MD5OfBody: createHash('md5').update(m.body).digest('hex') })),
        });
      }
      case 'DeleteMessage': {
        const q = queueOf(body.QueueUrl);
        const i = q.findIndex((m) => m.receipt === body.ReceiptHandle);
        if (i >= 0) q.splice(i, 1);
        return json(res, 200, {});
      }
      case 'ChangeMessageVisibility': {
        const m = queueOf(body.QueueUrl).find((x) => x.receipt === body.ReceiptHandle);
        if (m && body.VisibilityTimeout === 0) m.invisible = false;
        return json(res, 200, {});
      }
      case 'StartMessageMoveTask': {
        const source = String(body.SourceArn).split(':').pop()!;
        const destination = String(body.DestinationArn).split(':').pop()!;
        const from = queues.get(source) ?? [];
        const moved = from.splice(0, from.length);
        for (const m of moved) queueOf(destination).push({ ...m, invisible: false });
        const handle = `task-${++ids}`;
        moveTasks.push({ handle, source: body.SourceArn, moved: moved.length });
        return json(res, 200, { TaskHandle: handle });
      }
      case 'ListMessageMoveTasks':
        return json(res, 200, {
          Results: moveTasks
            .filter((t) => t.source === body.SourceArn)
            .reverse()
            .map((t) => ({ TaskHandle: t.handle, Status: 'COMPLETED', SourceArn: t.source, ApproximateNumberOfMessagesMoved: t.moved })),
        });
      default:
        return json(res, 400, { __type: 'com.amazonaws.sqs#UnsupportedOperation', message: op });
    }
  };

  const stepFunctions = (res: ServerResponse, op: string, body: Record<string, any>) => {
    switch (op) {
      case 'StartExecution': {
        const machine = String(body.stateMachineArn).split(':').pop();
        const executionArn = `arn:aws:states:us-east-1:${ACCOUNT}:execution:${machine}:${body.name}`;
        executions.push({ stateMachineArn: body.stateMachineArn, name: body.name, input: JSON.parse(body.input ?? '{}') });
        scripts.set(executionArn, { looks: nextScript, at: 0 });
        nextScript = [{ status: 'SUCCEEDED', output: {} }];
        return json(res, 200, { executionArn, startDate: Date.now() / 1000 });
      }
      case 'DescribeExecution': {
        const s = scripts.get(body.executionArn);
        if (!s) return json(res, 400, { __type: 'ExecutionDoesNotExist', message: body.executionArn });
        const look = s.looks[Math.min(s.at, s.looks.length - 1)]!;
        s.at++;
        return json(res, 200, {
          executionArn: body.executionArn,
          stateMachineArn: 'arn',
          status: look.status,
          startDate: Date.now() / 1000,
          ...(look.output !== undefined ? { output: JSON.stringify(look.output) } : {}),
          ...(look.error ? { error: look.error } : {}),
          ...(look.cause ? { cause: look.cause } : {}),
        });
      }
      case 'ListMapRuns':
        return json(res, 200, { mapRuns: [{ executionArn: body.executionArn, mapRunArn: `${body.executionArn}/map`, stateMachineArn: 'arn', startDate: Date.now() / 1000 }] });
      case 'DescribeMapRun': {
        const executionArn = String(body.mapRunArn).replace(/\/map$/, '');
        const s = scripts.get(executionArn)!;
        const look = s.looks[Math.min(Math.max(0, s.at - 1), s.looks.length - 1)]!;
        const counts = { pending: 0, running: 0, succeeded: 0, failed: 0, timedOut: 0, aborted: 0, total: 0, resultsWritten: 0, ...look.itemCounts };
        return json(res, 200, {
          mapRunArn: body.mapRunArn,
          executionArn,
          status: look.status,
          startDate: Date.now() / 1000,
          maxConcurrency: 1,
          toleratedFailurePercentage: 5,
          toleratedFailureCount: 0,
          itemCounts: counts,
          executionCounts: counts,
        });
      }
      default:
        return json(res, 400, { __type: 'UnknownOperationException', message: op });
    }
  };

  const secretsManager = (res: ServerResponse, op: string, body: { SecretId?: string }) => {
    const type = 'application/x-amz-json-1.1';
    if (op !== 'GetSecretValue') return json(res, 400, { __type: 'UnknownOperationException', message: op }, type);
    const value = secrets.get(String(body.SecretId));
    if (value === undefined) {
      return json(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }, type);
    }
    return json(
      res,
      200,
      { ARN: body.SecretId, Name: 'secret', ...(typeof value === 'string' ? { SecretString: value } : { SecretBinary: value.toString('base64') }) },
      type,
    );
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const target = String(req.headers['x-amz-target'] ?? '');
      const lambda = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
      if (lambda) {
        invocations.push({
          functionName: decodeURIComponent(lambda[1]!),
          invocationType: req.headers['x-amz-invocation-type'] as string | undefined,
          payload: text ? (JSON.parse(text) as unknown) : undefined,
        });
        res.writeHead(202, { 'content-length': 0 });
        return res.end();
      }
      if (target.startsWith('AmazonSQS.')) return sqs(res, target.slice('AmazonSQS.'.length), JSON.parse(text || '{}'));
      if (target.startsWith('AWSStepFunctions.')) return stepFunctions(res, target.slice('AWSStepFunctions.'.length), JSON.parse(text || '{}'));
      if (target.startsWith('secretsmanager.')) return secretsManager(res, target.slice('secretsmanager.'.length), JSON.parse(text || '{}'));
      return cloudFormation(res, new URLSearchParams(text));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    queueUrl: (name) => `${endpoint}/${ACCOUNT}/${name}`,
    stacks,
    send: (queue, body) => void queueOf(queue).push({ id: `m-${++ids}`, body, invisible: false }),
    bodies: (queue) => queueOf(queue).map((m) => m.body),
    invocations,
    executions,
    secrets,
    scriptNextExecution: (looks) => void (nextScript = looks),
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** Clients' settings for this server: its endpoint, a region and keys that are never real. */
export function loopbackClientConfig(endpoint: string) {
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'LOOPBACK', secretAccessKey: 'LOOPBACK' } } as const;
}

function errorXml(code: string, message: string): string {
  return `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>r</RequestId></ErrorResponse>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
