/**
 * One place for what every fieldlens function has in common: the runtime, the
 * bundle format, a log group with a retention, a role that starts empty, and
 * (for the functions that call the model) an optional place in a VPC.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ConfigError } from '../../functions/core/errors';
import { METRICS_NAMESPACE } from '../../functions/telemetry/catalogue';
import { loadTelemetryConfig } from '../../functions/telemetry/telemetry-config';
import { FieldlensPropsError } from '../errors';

/**
 * ESM bundles have no `require`; a few CommonJS dependencies still call it
 * for Node built-ins, so the bundle gets one back.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __fieldlensCreateRequire } from 'node:module'; const require = __fieldlensCreateRequire(import.meta.url);";

/** The runtime every fieldlens function runs on (the Node version the code is written and tested for). */
export const FIELDLENS_RUNTIME = Runtime.NODEJS_22_X;

/**
 * The EC2 actions Lambda performs with a VPC function's execution role to
 * create, find and remove the function's network interfaces in its subnets:
 * exactly the EC2 actions of the AWSLambdaVPCAccessExecutionRole managed
 * policy. They are granted on "*" as in that policy: the interfaces do not
 * exist before Lambda creates them, Lambda requires
 * `ec2:DescribeNetworkInterfaces` on "*", and the Describe actions have no
 * resource-level permissions at all.
 */
export const VPC_NETWORK_INTERFACE_ACTIONS = Object.freeze([
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
]);

/** Where a function's network interfaces go when it runs in a VPC. */
export interface FunctionVpcConfig {
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /**
   * The subnets the function's network interfaces are placed in.
   * @default - the VPC's private subnets with egress (else its isolated ones)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** The function's security groups (1 to 5); they decide where it may connect. */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
}

/** Logs, metrics and traces of a function (Powertools for AWS Lambda). */
export interface FunctionTelemetry {
  /**
   * X-Ray active tracing: the function's invocations, each model request and
   * each S3 call as subsegments. Also bundles the tracer (about 125 kB),
   * which a bundle without tracing leaves out.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Share of invocations whose debug lines are written whatever the log
   * level (`POWERTOOLS_LOGGER_SAMPLE_RATE`), from 0 to 1.
   * @default 0
   */
  readonly debugLogSampleRate?: number;
}

/** Props of {@link FieldlensFunction}. */
export interface FieldlensFunctionProps
  extends Omit<
    NodejsFunctionProps,
    | 'entry'
    | 'handler'
    | 'runtime'
    | 'architecture'
    | 'bundling'
    | 'logGroup'
    | 'logRetention'
    | 'role'
    // VPC placement goes through `vpcConfig` only, so it always comes with the role's network-interface permissions.
    | 'vpc'
    | 'vpcSubnets'
    | 'securityGroups'
    | 'securityGroup'
    | 'allowAllOutbound'
    | 'allowAllIpv6Outbound'
    | 'allowPublicSubnet'
    | 'ipv6AllowedForDualStack'
    // Tracing goes through `telemetry`, so the bundle carries the tracer exactly when the function traces.
    | 'tracing'
  > {
  /** The TypeScript file whose exported `handler` Lambda calls. */
  readonly entry: string;
  /**
   * Tracing and debug-log sampling. Every function also gets the
   * Powertools service name (the stack's name: the `service` of its logs
   * and metrics) and the metrics namespace `fieldlens`.
   * @default - no tracing, no debug-log sampling
   */
  readonly telemetry?: FunctionTelemetry;
  /**
   * Places the function in a VPC (to reach something on a private address)
   * and lets its role manage the function's network interfaces.
   * @default - outside any VPC
   */
  readonly vpcConfig?: FunctionVpcConfig;
  /**
   * How long the function's log group keeps events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.DESTROY (the retention already bounds what is kept)
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A `NodejsFunction` with fieldlens's defaults: Node.js 22 on arm64, an ESM
 * bundle built by the local esbuild (never Docker), minified with source maps,
 * its own log group, and its own role with no managed policy: it may write to
 * its log group (and, in a VPC, manage its network interfaces) and nothing
 * else until a caller grants more.
 *
 * @example
 * ```ts
 * const fn = new FieldlensFunction(this, 'OnUpload', { entry: 'functions/on-upload.ts' });
 * bucket.grantRead(fn.function, 'incoming/*');
 * ```
 */
export class FieldlensFunction extends Construct {
  /** The function. */
  public readonly function: NodejsFunction;
  /** The function's execution role. */
  public readonly role: iam.Role;
  /** The log group the function writes to. */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: FieldlensFunctionProps) {
    super(scope, id);
    const { entry, logRetention, logRemovalPolicy, environment, vpcConfig, telemetry, ...rest } = props;
    const tracing = telemetry?.tracing ?? false;
    const telemetryEnvironment = telemetryVariables(Stack.of(this).stackName, telemetry);

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    // An explicit role instead of the default one: the default attaches the
    // AWSLambdaBasicExecutionRole managed policy, which may write to every log
    // group in the account.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${this.node.path}`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    // Reasons for the role's one `Resource::*` acknowledgement (VPC interfaces, X-Ray).
    const wildcardReasons: string[] = [];
    if (vpcConfig) wildcardReasons.push(this.allowNetworkInterfaces());

    this.function = new NodejsFunction(this, 'Function', {
      memorySize: 512,
      timeout: Duration.minutes(5),
      ...rest,
      ...(vpcConfig
        ? {
            vpc: vpcConfig.vpc,
            ...(vpcConfig.vpcSubnets ? { vpcSubnets: vpcConfig.vpcSubnets } : {}),
            securityGroups: [...vpcConfig.securityGroups],
          }
        : {}),
      entry,
      handler: 'handler',
      runtime: FIELDLENS_RUNTIME,
      architecture: Architecture.ARM_64,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        // Stack traces point at the TypeScript sources, not the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
        ...telemetryEnvironment,
        ...environment,
      },
      ...(tracing ? { tracing: Tracing.ACTIVE } : {}),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The Node.js runtime ships AWS SDK v3; bundling it as well would add
        // about 450 KB to every cold start. Everything else is bundled.
        externalModules: ['@aws-sdk/*'],
        // The tracer (and the X-Ray SDK) only in the bundles of traced functions: see functions/telemetry/tracing.ts.
        define: { FIELDLENS_BUNDLE_TRACER: JSON.stringify(tracing) },
        forceDockerBundling: false,
      },
    });
    // The log group policy must exist before the function first runs; in a
    // VPC, Lambda also checks the network-interface permissions when it
    // creates the function, and needs them until it has removed the
    // interfaces of a deleted function, so the policy is created before the
    // function and deleted after it.
    this.function.node.addDependency(this.role);
    if (tracing) {
      wildcardReasons.push(
        'X-Ray active tracing: CDK grants xray:PutTraceSegments and xray:PutTelemetryRecords on "*", as AWSXRayDaemonWriteAccess does; ' +
          'X-Ray has no resource-level permissions for these actions.',
      );
    }
    if (wildcardReasons.length > 0) {
      Validations.of(this.role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: wildcardReasons.join(' ') });
    }

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: the handler is built (esbuild target node22) and tested on Node 22; ' +
        'moving to a newer runtime is a deliberate change made together with the build target.',
    });
  }

  /**
   * The network-interface permissions a VPC function's role needs, as a
   * statement of the role's own policy rather than the
   * AWSLambdaVPCAccessExecutionRole managed policy: CDK attaches that policy
   * only to roles it creates itself (this role is our own, so without this
   * statement Lambda would refuse to create the function), and the managed
   * policy also grants log writes to every log group in the account, which
   * this role deliberately does not have.
   */
  /** @returns the reason for its `Resource::*` acknowledgement. */
  private allowNetworkInterfaces(): string {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageVpcNetworkInterfaces',
        actions: [...VPC_NETWORK_INTERFACE_ACTIONS],
        resources: ['*'],
      }),
    );
    return (
      'Only the EC2 network-interface actions Lambda performs with this role to connect the function to its VPC ' +
        '(Create/Describe/Delete network interfaces, DescribeSubnets, Assign/Unassign private IPs): the interfaces are ' +
        'created by Lambda at run time, and Lambda requires DescribeNetworkInterfaces on "*"; the same scope as AWS\'s ' +
        'own AWSLambdaVPCAccessExecutionRole, without its log writes to every log group.'
    );
  }
}

/**
 * The Powertools variables of a function, checked with the function's own
 * parser so synth refuses what the function would refuse at start-up.
 *
 * @throws {FieldlensPropsError} naming the prop and the function's message.
 */
export function telemetryVariables(serviceName: string, telemetry: FunctionTelemetry = {}): Record<string, string> {
  const env: Record<string, string> = {
    POWERTOOLS_SERVICE_NAME: serviceName,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_TRACE_ENABLED: String(telemetry.tracing ?? false),
    ...(telemetry.debugLogSampleRate !== undefined ? { POWERTOOLS_LOGGER_SAMPLE_RATE: String(telemetry.debugLogSampleRate) } : {}),
  };
  try {
    loadTelemetryConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new FieldlensPropsError(`debugLogSampleRate: ${err.message}`, { cause: err });
    throw err;
  }
  return env;
}
