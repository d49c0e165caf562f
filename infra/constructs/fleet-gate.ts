/**
 * The fleet gate as the stack deploys it: one DynamoDB table whose one item
 * holds the in-flight count and the learnt limit shared by every execution
 * environment that asks the model (the functions' `FLEET_GATE_*`
 * variables), and exactly the access a function needs to take part. The
 * gate itself is `functions/core/fleet-gate.ts`.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { FieldlensPropsError } from '../errors';

/** What a user sets for the fleet gate (the stack's `fleetGate` prop). */
export interface FleetGateOptions {
  /**
   * How often an invocation waiting for a slot reads the item again
   * (`FLEET_GATE_POLL_MS`, whole milliseconds from 5 to 5000). Shorter
   * means a freed slot is taken sooner, for one more read per wait.
   * @default - the function's default, 25 ms
   */
  readonly pollInterval?: Duration;
}

/** Props of {@link FleetGate}. */
export interface FleetGateProps extends FleetGateOptions {
  /**
   * The most requests every function together sends at once
   * (`FLEET_GATE_CAPACITY`): the endpoint's whole capacity `C`, not the
   * uploads' or the backfill's part, since one count covers them all.
   */
  readonly capacity: number;
}

/** The actions the gate's store uses: a consistent read, the first write of the item, conditional updates. */
export const FLEET_GATE_ACTIONS = Object.freeze(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] as const);

/**
 * The table of the fleet gate. Pass it to the pipelines (`fleetGate` of
 * their props): each function that asks the model gets the variables of
 * {@link environment} and the grant of {@link grantAccess}; the others get
 * neither.
 *
 * @example
 * ```ts
 * const gate = new FleetGate(stack, 'FleetGate', { capacity: 10 });
 * new DirectPipeline(stack, 'Pipeline', { ...pipelineProps, fleetGate: gate });
 * ```
 */
export class FleetGate extends Construct {
  /** The table: one item per endpoint and model, key `pk`. */
  public readonly table: dynamodb.Table;
  /** The most requests the fleet sends at once. */
  public readonly capacity: number;
  /** How often a waiting invocation looks again, when not the function's default. */
  public readonly pollInterval?: Duration;

  /** @throws {FieldlensPropsError} for a capacity that is not a whole number ≥ 1. */
  constructor(scope: Construct, id: string, props: FleetGateProps) {
    super(scope, id);
    if (!(Number.isInteger(props.capacity) && props.capacity >= 1)) {
      throw new FieldlensPropsError(`fleetGate: the capacity must be a whole number of at least 1 (the endpoint's capacity C), got ${props.capacity}`);
    }
    // The range of the poll interval is the function's: functionEnvironment checks it with the function's config.
    this.capacity = props.capacity;
    if (props.pollInterval !== undefined) this.pollInterval = props.pollInterval;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      // A few requests per model request, in bursts: on demand costs nothing while idle.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Nothing in it outlives a deployment: leases end within minutes and a
      // missing item is created again at the cap, so deleting it loses nothing.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'The fleet gate holds one live counter: its slots are leases that end within minutes. Restoring it from a backup ' +
        'would bring back leases that already ended, and a lost item is rebuilt at the cap on the next read.',
    });
  }

  /** The variables of a function that asks the model (see `functions/config.ts`, `FLEET_GATE_*`). */
  environment(): Record<string, string> {
    return {
      FLEET_GATE_TABLE: this.table.tableName,
      FLEET_GATE_CAPACITY: String(this.capacity),
      ...(this.pollInterval !== undefined ? { FLEET_GATE_POLL_MS: String(this.pollInterval.toMilliseconds({ integral: false })) } : {}),
    };
  }

  /**
   * Lets `role` read and update the gate's item: {@link FLEET_GATE_ACTIONS}
   * on the table's ARN and nothing else (`table.grant` would add the index
   * ARNs, and the table has no index to reach).
   */
  grantAccess(role: iam.IRole): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'FleetGate', actions: [...FLEET_GATE_ACTIONS], resources: [this.table.tableArn] }));
  }
}

/** The fleet gate's variables, none without a gate. */
export function fleetGateEnvironment(gate: FleetGate | undefined): Record<string, string> {
  return gate ? gate.environment() : {};
}
