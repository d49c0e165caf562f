/**
 * Runs the state machine a stack synthesizes, locally: the definition is
 * taken from the template (never a hand-written copy), each Lambda ARN in it
 * replaced by a recognisable fake, and every Task state bound in-process to
 * the handler of the function its `Resource` names, by aws-local-stepfunctions.
 *
 * Binding by resource, not by state name, is what proves the wiring: a
 * state that invoked the wrong function would run the wrong handler.
 */
import './promise-with-resolvers';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { Template } from 'aws-cdk-lib/assertions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { StateMachine } from 'aws-local-stepfunctions';

const FAKE_ARN_PREFIX = 'arn:aws:lambda:us-east-1:123456789012:function:';

/** A task handler as the state machine sees it: JSON in, JSON out, or a thrown error. */
export type TaskHandler = (input: unknown) => Promise<unknown>;

type Definition = ConstructorParameters<typeof StateMachine>[0];
type StateDef = { Type: string; Resource?: string; ItemProcessor?: { States: Record<string, StateDef> }; Iterator?: { States: Record<string, StateDef> }; Branches?: Array<{ States: Record<string, StateDef> }> } & Record<string, unknown>;

/** The synthesized definition and which function each Task state invokes. */
export interface SynthesizedStateMachine {
  /** The definition, with `arn:aws:lambda:us-east-1:123456789012:function:<logical id>` for each function ARN. */
  readonly definition: Definition;
  /** Task state name → logical id of the function it invokes. */
  readonly taskFunctions: Readonly<Record<string, string>>;
}

/** The logical id of a function in its stack. */
export function functionLogicalId(fn: IFunction): string {
  return fn.stack.getLogicalId(fn.node.defaultChild as CfnElement);
}

/** Which state machine to take, and what its `Ref`s stand for. */
export interface SynthesizedStateMachineOptions {
  /** The state machine, when the stack has more than one. */
  readonly machine?: IConstruct;
  /** Values for `Ref`s in the definition, by logical id (`AWS::Partition` is `aws`). */
  readonly refs?: Readonly<Record<string, string>>;
}

/**
 * The only state machine in `stack`'s template (or the one given), its
 * `DefinitionString` (an `Fn::Join` around the functions' `Fn::GetAtt … Arn`)
 * resolved.
 */
export function synthesizedStateMachine(stack: Stack, options: SynthesizedStateMachineOptions = {}): SynthesizedStateMachine {
  const all = Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine');
  const wanted = options.machine ? stack.getLogicalId(options.machine.node.defaultChild as CfnElement) : undefined;
  const machines = Object.entries(all).filter(([id]) => wanted === undefined || id === wanted).map(([, m]) => m);
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  const refs = { 'AWS::Partition': 'aws', ...options.refs };
  const text = resolve(machines[0]!.Properties.DefinitionString, refs);
  const definition = JSON.parse(text) as Definition;
  const taskFunctions: Record<string, string> = {};
  walk((definition as unknown as { States: Record<string, StateDef> }).States, (name, state) => {
    if (state.Type === 'Task' && state.Resource?.startsWith(FAKE_ARN_PREFIX)) {
      taskFunctions[name] = state.Resource.slice(FAKE_ARN_PREFIX.length);
    }
  });
  return { definition, taskFunctions };
}

/** One local run: its output (or error) and the states it went through. */
export interface LocalRun {
  readonly output: unknown;
  readonly error?: Error;
  /** Names of the states entered, in order (Map iterations included). */
  readonly statesEntered: readonly string[];
}

/**
 * Runs the definition with every Task state bound to `handlers[logical id of its function]`.
 * Inputs and results go through JSON, as they do between Step Functions and
 * Lambda; a thrown error reaches the state machine the way Lambda reports a
 * function error: `Error` is its name, `Cause` the JSON `{errorType, errorMessage, trace}`.
 */
export async function runLocally(
  machine: SynthesizedStateMachine,
  input: unknown,
  handlers: Readonly<Record<string, TaskHandler>>,
): Promise<LocalRun> {
  const overrides: Record<string, (input: unknown) => Promise<never>> = {};
  for (const [state, fn] of Object.entries(machine.taskFunctions)) {
    const handler = handlers[fn];
    if (!handler) throw new Error(`no handler bound for function ${fn} (state ${state})`);
    overrides[state] = async (taskInput: unknown) => {
      try {
        return JSON.parse(JSON.stringify(await handler(JSON.parse(JSON.stringify(taskInput))))) as never;
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        const lambdaError = new Error(JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: [] }));
        lambdaError.name = e.name;
        throw lambdaError;
      }
    };
  }
  const execution = new StateMachine(machine.definition).run(input as never, {
    overrides: { taskResourceLocalHandlers: overrides as never },
  });
  const statesEntered: string[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') statesEntered.push(event.state.name);
    }
  })();
  try {
    const output = await execution.result;
    await collecting;
    return { output, statesEntered };
  } catch (err) {
    await collecting.catch(() => undefined);
    return { output: undefined, error: err as Error, statesEntered };
  }
}

function walk(states: Record<string, StateDef>, visit: (name: string, state: StateDef) => void): void {
  for (const [name, state] of Object.entries(states)) {
    visit(name, state);
    if (state.ItemProcessor) walk(state.ItemProcessor.States, visit);
    if (state.Iterator) walk(state.Iterator.States, visit);
    for (const branch of state.Branches ?? []) walk(branch.States, visit);
  }
}

/** A definition string: `Fn::Join` of text and `Fn::GetAtt [<logical id>, Arn]`. */
function resolve(value: unknown, refs: Readonly<Record<string, string>>): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolve(p, refs)).join(sep);
  }
  if (typeof v.Ref === 'string' && refs[v.Ref] !== undefined) return refs[v.Ref]!;
  if (Array.isArray(v['Fn::GetAtt'])) {
    const [id, attribute] = v['Fn::GetAtt'] as [string, string];
    if (attribute !== 'Arn') throw new Error(`unexpected Fn::GetAtt ${id}.${attribute} in the definition`);
    return `${FAKE_ARN_PREFIX}${id}`;
  }
  throw new Error(`unexpected value in the definition: ${JSON.stringify(value)}`);
}
