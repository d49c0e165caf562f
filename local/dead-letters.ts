/**
 * What each kind of dead letter holds, and how it goes back through the
 * pipeline. Pure: it reads a message body and says what to send where.
 *
 * | in the dead-letter queue | sent back as |
 * |---|---|
 * | Lambda's on-failure record of an asynchronous invocation (direct and EventBridge triggers, the Step Functions starter): `requestPayload` is the original event | the original event, to the function named in the record, invoked asynchronously |
 * | an EventBridge event the rule could not deliver (EventBridge trigger) | the event, to the function |
 * | a Step Functions run that ended FAILED, TIMED_OUT or ABORTED | a fresh execution with the run's input (a new name: the old one stays taken for 90 days) |
 *
 * The queue trigger's dead letters are the event queue's own messages; they
 * go back with an SQS redrive (a message move task), not through here.
 */

/** What to do with one dead letter. */
export type RedriveAction =
  | { readonly kind: 'invoke'; readonly functionName: string; readonly payload: unknown; readonly from: 'on-failure record' | 'EventBridge event' }
  | { readonly kind: 'start-execution'; readonly stateMachineArn: string; readonly input: string; readonly name: string }
  | { readonly kind: 'unknown'; readonly reason: string };

/** What the stack says about where things go. */
export interface RedriveTargets {
  /** The function the EventBridge rule targets (the `FunctionName` output). */
  readonly functionName?: string;
  /** Now, for fresh execution names. */
  readonly now: Date;
}

/**
 * The way back for one dead letter's body.
 *
 * @example
 * ```ts
 * planRedrive(message.Body, { functionName: outputs.FunctionName, now: new Date() });
 * ```
 */
export function planRedrive(body: string | undefined, targets: RedriveTargets): RedriveAction {
  let message: Record<string, any>;
  try {
    message = JSON.parse(body ?? '') as Record<string, any>;
  } catch {
    return { kind: 'unknown', reason: 'the body is not JSON' };
  }
  if (message === null || typeof message !== 'object') return { kind: 'unknown', reason: 'the body is not a JSON object' };

  const functionArn = message.requestContext?.functionArn;
  if (typeof functionArn === 'string' && 'requestPayload' in message) {
    // `arn:…:function:name:$LATEST`: the record names the version that failed; send it to the function as it is now.
    return { kind: 'invoke', functionName: functionArn.replace(/:\$LATEST$/, ''), payload: message.requestPayload, from: 'on-failure record' };
  }
  if (message.source === 'aws.s3' && message['detail-type'] === 'Object Created') {
    if (!targets.functionName) return { kind: 'unknown', reason: 'an EventBridge event, but the stack names no function to send it to' };
    return { kind: 'invoke', functionName: targets.functionName, payload: message, from: 'EventBridge event' };
  }
  if (message.source === 'aws.states' && message['detail-type'] === 'Step Functions Execution Status Change') {
    const { stateMachineArn, input, name } = (message.detail ?? {}) as { stateMachineArn?: unknown; input?: unknown; name?: unknown };
    if (typeof stateMachineArn !== 'string' || typeof input !== 'string') {
      return { kind: 'unknown', reason: 'a Step Functions status change without its state machine or input' };
    }
    return { kind: 'start-execution', stateMachineArn, input, name: redriveName(typeof name === 'string' ? name : 'run', targets.now) };
  }
  return { kind: 'unknown', reason: 'neither an on-failure record, an EventBridge S3 event nor a Step Functions status change' };
}

/** `r<time>-<the old name>`, at most 80 characters of `[A-Za-z0-9_-]`. */
export function redriveName(original: string, now: Date): string {
  return `r${now.getTime().toString(36)}-${original.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 80);
}
