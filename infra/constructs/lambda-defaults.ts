/**
 * One place for what every fieldlens function has in common: the runtime, the
 * bundle format, a log group with a retention, and a role that starts empty.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * ESM bundles have no `require`; a few CommonJS dependencies still call it
 * for Node built-ins, so the bundle gets one back.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __fieldlensCreateRequire } from 'node:module'; const require = __fieldlensCreateRequire(import.meta.url);";

/** The runtime every fieldlens function runs on (the Node version the code is written and tested for). */
export const FIELDLENS_RUNTIME = Runtime.NODEJS_22_X;

/** Props of {@link FieldlensFunction}. */
export interface FieldlensFunctionProps
  extends Omit<
    NodejsFunctionProps,
    'entry' | 'handler' | 'runtime' | 'architecture' | 'bundling' | 'logGroup' | 'logRetention' | 'role'
  > {
  /** The TypeScript file whose exported `handler` Lambda calls. */
  readonly entry: string;
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
 * its log group and nothing else until a caller grants more.
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
    const { entry, logRetention, logRemovalPolicy, environment, ...rest } = props;

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

    this.function = new NodejsFunction(this, 'Function', {
      memorySize: 512,
      timeout: Duration.minutes(5),
      ...rest,
      entry,
      handler: 'handler',
      runtime: FIELDLENS_RUNTIME,
      architecture: Architecture.ARM_64,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        // Stack traces point at the TypeScript sources, not the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
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
        forceDockerBundling: false,
      },
    });
    // The log group policy must exist before the function first runs.
    this.function.node.addDependency(this.role);

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: the handler is built (esbuild target node22) and tested on Node 22; ' +
        'moving to a newer runtime is a deliberate change made together with the build target.',
    });
  }
}
