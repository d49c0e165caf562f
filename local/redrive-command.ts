/**
 * `npm run redrive`: what is in the stack's dead-letter queue goes back
 * through the pipeline, and the command says how many it sent.
 *
 * - queue trigger: an SQS redrive (a message move task) from the
 *   dead-letter queue back to the event queue;
 * - otherwise each message by its kind (see `dead-letters.ts`): the original
 *   event to the function, asynchronously, or a fresh execution with the
 *   failed run's input. A message is deleted once it has been sent; one the
 *   command does not recognise stays in the queue.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { parseArgs } from 'node:util';
import { CommandError, FieldlensError } from '../functions/core/errors';
import type { CommandIo } from './backfill-command';
import { planRedrive } from './dead-letters';
import { readStackOutputs, requireOutput } from './stack-outputs';

export const REDRIVE_USAGE = [
  'usage: npm run redrive -- [--stack <name>] [--region <r>]',
  '',
  "Sends what is in the stack's dead-letter queue back through the pipeline, with your AWS credentials:",
  '  queue trigger            an SQS redrive from the dead-letter queue back to the event queue',
  '  direct, EventBridge      each original event to the function again (asynchronous invocation)',
  '  Step Functions runs      a fresh execution with the failed run\'s input',
  'Messages it does not recognise stay in the queue. Fix the cause first (see docs/deploying.md).',
  '  --stack <name>     the stack (default: FIELDLENS_STACK, else Fieldlens)',
  '  --region <r>       its region (default: AWS_REGION / your profile)',
].join('\n');

/** The clients the command uses (loopback servers in tests). */
export interface RedriveClients {
  readonly cfn: CloudFormationClient;
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
  readonly sfn: SFNClient;
}

/** What a redrive sent. */
export interface RedriveReport {
  readonly sent: number;
  readonly byKind: Readonly<Record<string, number>>;
  /** Messages left in the queue (not recognised, or their sending failed). */
  readonly left: number;
}

/** Parses the arguments. @throws {CommandError} for an unknown one. */
export function parseRedriveArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { stack: string; region?: string; help: boolean } {
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { stack: { type: 'string' }, region: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    return { stack: values.stack ?? env.FIELDLENS_STACK ?? 'Fieldlens', ...(values.region ? { region: values.region } : {}), help: values.help === true };
  } catch (err) {
    throw new CommandError(`${(err as Error).message.replace(/\.\s*To specify.*$/s, '')}\n\n${REDRIVE_USAGE}`);
  }
}

/**
 * Redrives the dead-letter queue of `stack`.
 *
 * @throws {CommandError} when the stack or its queue cannot be found.
 */
export async function redrive(stack: string, clients: RedriveClients, io: CommandIo, options: { readonly pollMs?: number } = {}): Promise<RedriveReport> {
  const { outputs, address } = await readStackOutputs(clients.cfn, stack);
  const dlqUrl = requireOutput(outputs, 'DeadLetterQueueUrl', address, 'is it a fieldlens stack?');
  if (outputs.EventQueueUrl) return moveBack(clients.sqs, dlqUrl, outputs.EventQueueUrl, io, options.pollMs ?? 2_000);

  const byKind: Record<string, number> = {};
  const seen = new Set<string>();
  const keep: Array<{ receipt: string }> = [];
  let sent = 0;
  for (;;) {
    const received = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 300 }),
    );
    const fresh = (received.Messages ?? []).filter((m) => m.MessageId && !seen.has(m.MessageId));
    if (fresh.length === 0) break;
    for (const m of fresh) {
      seen.add(m.MessageId!);
      const action = planRedrive(m.Body, { ...(outputs.FunctionName ? { functionName: outputs.FunctionName } : {}), now: new Date() });
      try {
        if (action.kind === 'unknown') {
          io.err(`left ${m.MessageId} in the queue: ${action.reason}\n`);
          keep.push({ receipt: m.ReceiptHandle! });
          continue;
        }
        if (action.kind === 'invoke') {
          await clients.lambda.send(
            new InvokeCommand({ FunctionName: action.functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(action.payload)) }),
          );
        } else {
          await clients.sfn.send(new StartExecutionCommand({ stateMachineArn: action.stateMachineArn, name: action.name, input: action.input }));
        }
        await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle! }));
        const kind = action.kind === 'invoke' ? `events sent again to ${action.functionName.split(':').pop()} (${action.from})` : 'fresh Step Functions runs';
        byKind[kind] = (byKind[kind] ?? 0) + 1;
        sent++;
      } catch (err) {
        const e = err as { name?: string; message?: string };
        io.err(`could not send ${m.MessageId} back (${e.name ?? 'Error'}: ${e.message ?? String(err)}); it stays in the queue\n`);
        keep.push({ receipt: m.ReceiptHandle! });
      }
    }
  }
  // What stays is visible again at once, for the console or the next redrive.
  for (const k of keep) await clients.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: dlqUrl, ReceiptHandle: k.receipt, VisibilityTimeout: 0 }));
  return { sent, byKind, left: keep.length };
}

/** The queue trigger: an SQS redrive of the dead-letter queue back to its source queue. */
async function moveBack(sqs: SQSClient, dlqUrl: string, eventQueueUrl: string, io: CommandIo, pollMs: number): Promise<RedriveReport> {
  const attributes = async (url: string) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages'] }))).Attributes ?? {};
  const dlq = await attributes(dlqUrl);
  const waiting = Number(dlq.ApproximateNumberOfMessages ?? 0);
  if (waiting === 0) return { sent: 0, byKind: {}, left: 0 };
  const destination = (await attributes(eventQueueUrl)).QueueArn!;
  const task = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.QueueArn!, DestinationArn: destination }));
  io.err(`moving about ${waiting} messages back to the event queue (task ${task.TaskHandle ?? '?'})\n`);
  for (;;) {
    const tasks = (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlq.QueueArn!, MaxResults: 1 }))).Results ?? [];
    const current = tasks.find((t) => t.TaskHandle === task.TaskHandle) ?? tasks[0];
    if (current && current.Status !== 'RUNNING') {
      const moved = current.ApproximateNumberOfMessagesMoved ?? 0;
      if (current.Status !== 'COMPLETED') throw new CommandError(`the SQS redrive ended ${current.Status}: ${current.FailureReason ?? 'no reason given'} (${moved} moved)`);
      return { sent: moved, byKind: { 'messages moved back to the event queue (SQS redrive)': moved }, left: Math.max(0, waiting - moved) };
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Runs the command; resolves to its exit code. */
export async function redriveCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: CommandIo, makeClients: (region: string | undefined) => RedriveClients): Promise<number> {
  try {
    const args = parseRedriveArgs(argv, env);
    if (args.help) {
      io.out(`${REDRIVE_USAGE}\n`);
      return 0;
    }
    const report = await redrive(args.stack, makeClients(args.region), io);
    io.out(
      report.sent === 0 && report.left === 0
        ? 'the dead-letter queue is empty: nothing to send\n'
        : `sent ${report.sent} back through the pipeline${Object.entries(report.byKind).map(([k, n]) => `\n  ${n} ${k}`).join('')}` +
            (report.left > 0 ? `\nleft ${report.left} in the dead-letter queue` : '') +
            '\n',
    );
    return report.left > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof FieldlensError) {
      io.err(`${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
