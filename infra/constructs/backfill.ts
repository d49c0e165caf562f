/**
 * The backfill: a state machine that walks the objects already in the
 * bucket through the same per-object path as an upload, under the
 * backfill's part of the endpoint budget.
 *
 * ```
 * Defaults ─► Arguments ─► PrefixAllowed? ─► (Source?) ─► Objects: Distributed Map
 *   ItemReader  ListObjectsV2 of the prefix (or an S3 Inventory manifest)
 *   ItemBatcher up to `batchSize` objects per child workflow
 *   child       ProcessBatch (Lambda) ─► MoreItems? ─► ProcessBatch … ─► BatchDone
 *   MaxConcurrency = the backfill's images at once; ResultWriter → <output prefix>.fieldlens/backfill/
 * ```
 *
 * The item function is reserved `budget.concurrentImages` concurrency (and
 * the Map runs at most that many children), each child runs one invocation
 * at a time, and each invocation keeps at most `budget.perImage` requests
 * in flight: the backfill never asks more of the endpoint than its part.
 */
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, FeatureFlags, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { ErrorCode } from '../../functions/core/errors';
import type { EndpointBudget } from '../budget';
import { FieldlensPropsError } from '../errors';
import { grantModelAccess, grantObjectAccess } from './access-grants';
import { grantContentCacheAccess, resolveContentCache } from './content-cache';
import { acknowledgeWildcardResource, flattenForFinding } from './acknowledge';
import { FolderResultWriter, InventoryManifestReader, PrefixListingReader } from './backfill-readers';
import { functionEnvironment } from './function-environment';
import { FieldlensFunction } from './lambda-defaults';
import { functionTelemetry, PIPELINE_DEFAULTS, type PipelineProps } from './pipeline-props';
import { validatePipelineProps } from './pipeline-validation';
import { acknowledgeStateMachineWildcards, retryLambdaService } from './stepfunctions-definition';

/** The backfill's item handler. */
export const BACKFILL_ENTRY = fileURLToPath(new URL('../../functions/backfill-items.ts', import.meta.url));

/** Where, under the output prefix, each Map Run writes its results. */
export const BACKFILL_RESULTS_FOLDER = '.fieldlens/backfill/';

/** State names of the backfill state machine. */
export const BACKFILL_STATES = Object.freeze({
  defaults: 'Defaults',
  argumentsState: 'Arguments',
  prefixAllowed: 'PrefixAllowed',
  prefixOutsideInput: 'PrefixOutsideInput',
  source: 'Source',
  objects: 'Objects',
  inventory: 'InventoryObjects',
  processBatch: 'ProcessBatch',
  processInventoryBatch: 'ProcessInventoryBatch',
  moreItems: 'MoreItems',
  moreInventoryItems: 'MoreInventoryItems',
  batchDone: 'BatchDone',
  inventoryBatchDone: 'InventoryBatchDone',
});

/** Options a user sets for the backfill (the stack's `backfill` prop). */
export interface BackfillOptions {
  /**
   * The backfill's part of the endpoint's capacity, above 0 and below 1;
   * the uploads get the rest (see `infra/backfill-budget.ts`).
   * @default 0.5
   */
  readonly share?: number;
  /**
   * Objects per child workflow (the ItemBatcher's `MaxItemsPerBatch`): larger
   * batches mean fewer child executions and state transitions; a batch that
   * outlasts one invocation continues in the next.
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * Percentage of objects whose batches may fail before the run fails
   * (`ToleratedFailurePercentage`). A batch fails only when every one of its
   * objects failed; an object that fails alone is listed in its batch's output.
   * @default 5
   */
  readonly toleratedFailurePercentage?: number;
  /**
   * The longest a run may take.
   * @default Duration.days(30)
   */
  readonly executionTimeout?: Duration;
  /**
   * An S3 Inventory report destination a run may read its items from
   * instead of listing the bucket (for very large buckets).
   * @default - listing only
   */
  readonly inventory?: BackfillInventoryProps;
}

/** Where S3 Inventory delivers the watched bucket's reports. Give `bucket` or `bucketName`. */
export interface BackfillInventoryProps {
  /** The destination bucket of the reports. @default - the bucket named `bucketName` */
  readonly bucket?: s3.IBucket;
  /** The destination bucket's name (in this account). @default - `bucket` */
  readonly bucketName?: string;
  /**
   * The reports' prefix in that bucket (the inventory's destination prefix);
   * the state machine may read nothing else there.
   * @default '' (the whole bucket)
   */
  readonly prefix?: string;
}

/** Props of {@link Backfill}. */
export interface BackfillProps extends PipelineProps, BackfillOptions {
  /** The backfill's part of the endpoint budget. */
  readonly budget: EndpointBudget;
  /**
   * Reserve `budget.concurrentImages` concurrency for the item function:
   * the bound across runs. Without it only one run's Map `MaxConcurrency`
   * bounds the backfill (two runs at once would ask twice as much).
   * @default true
   */
  readonly reserveConcurrency?: boolean;
}

/**
 * The backfill state machine and its item function, for either fan-out:
 * the item function runs the direct mode's per-object path, whatever the
 * uploads use, so an object whose result is current costs one HEAD and no
 * per-image run, and both write the same document.
 */
export class Backfill extends Construct {
  /** The state machine `npm run backfill` starts. */
  public readonly stateMachine: sfn.StateMachine;
  /** The function each batch runs in. */
  public readonly items: FieldlensFunction;
  /** Every state event of every run, without state data. */
  public readonly logGroup: logs.LogGroup;
  /** The backfill's part of the endpoint budget. */
  public readonly budget: EndpointBudget;
  /** Objects per batch. */
  public readonly batchSize: number;

  constructor(scope: Construct, id: string, props: BackfillProps) {
    super(scope, id);
    validatePipelineProps(props);
    const batchSize = props.batchSize ?? 100;
    const tolerated = props.toleratedFailurePercentage ?? 5;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) {
      throw new FieldlensPropsError(`backfill.batchSize: expected a whole number from 1 to 1000, got ${batchSize}`);
    }
    if (!(Number.isFinite(tolerated) && tolerated >= 0 && tolerated <= 100)) {
      throw new FieldlensPropsError(`backfill.toleratedFailurePercentage: expected a number from 0 to 100, got ${tolerated}`);
    }
    if (!FeatureFlags.of(this).isEnabled(STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2)) {
      throw new FieldlensPropsError(
        `the backfill writes its Map Run results with ResultWriterV2: set the feature flag "${STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2}": true in your app's cdk.json context`,
      );
    }
    this.budget = props.budget;
    this.batchSize = batchSize;
    const reserve = props.reserveConcurrency ?? true;

    this.items = new FieldlensFunction(this, 'Items', {
      entry: BACKFILL_ENTRY,
      memorySize: props.memorySize ?? PIPELINE_DEFAULTS.memorySize,
      timeout: props.timeout ?? PIPELINE_DEFAULTS.timeout,
      logRetention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
      environment: functionEnvironment(props, props.budget.perImage),
      telemetry: functionTelemetry(props),
      description: "fieldlens backfill: a batch of existing objects through the upload's per-object path",
      ...(props.vpcConfig ? { vpcConfig: props.vpcConfig } : {}),
      ...(reserve ? { reservedConcurrentExecutions: props.budget.concurrentImages } : {}),
    });
    grantObjectAccess(this.items.role, props);
    grantContentCacheAccess(this.items.role, props.outputBucket, props.outputPrefix, resolveContentCache(props));
    grantModelAccess(this.items.role, props.model);
    // The backfill asks the same endpoint: it counts in the same fleet gate as the uploads.
    props.fleetGate?.grantAccess(this.items.role);

    const states = new Construct(this, 'States');
    const args = '$.args';
    const batchInput = (source: 'list' | 'inventory') => ({
      bucket: props.sourceBucket.bucketName,
      'only.$': `${args}.only`,
      'dryRun.$': `${args}.dryRun`,
      'prefix.$': `${args}.prefix`,
      source,
    });
    const objectsMap = (name: string, reader: sfn.IItemReader, source: 'list' | 'inventory', processName: string, moreName: string, doneName: string) =>
      sfn.DistributedMap.jsonPath(states, name, {
        comment: `The objects of the prefix (${source === 'list' ? 'ListObjectsV2' : 'an S3 Inventory manifest'}) in batches; MaxConcurrency is the backfill's budget`,
        itemReader: reader,
        itemBatcher: new sfn.ItemBatcher({ maxItemsPerBatch: batchSize, maxInputBytesPerBatch: 128 * 1024, batchInput: batchInput(source) }),
        maxConcurrency: props.budget.concurrentImages,
        toleratedFailurePercentage: tolerated,
        label: source === 'list' ? 'Backfill' : 'BackfillInventory',
        resultWriterV2: new FolderResultWriter(props.outputBucket, `${props.outputPrefix}${BACKFILL_RESULTS_FOLDER}`),
        // Standard children: a batch that computes may outlast an Express workflow's five minutes.
        mapExecutionType: sfn.StateMachineType.STANDARD,
      }).itemProcessor(this.childWorkflow(states, processName, moreName, doneName));

    const listing = objectsMap(
      BACKFILL_STATES.objects,
      new PrefixListingReader(props.sourceBucket, `${args}.prefix`, props.inputPrefix),
      'list',
      BACKFILL_STATES.processBatch,
      BACKFILL_STATES.moreItems,
      BACKFILL_STATES.batchDone,
    );
    let afterPrefix: sfn.IChainable = listing;
    const inventoryBucket = this.inventoryBucket(props.inventory);
    if (props.inventory && inventoryBucket) {
      const inventory = objectsMap(
        BACKFILL_STATES.inventory,
        new InventoryManifestReader(inventoryBucket, `${args}.manifestKey`, props.inventory.prefix ?? ''),
        'inventory',
        BACKFILL_STATES.processInventoryBatch,
        BACKFILL_STATES.moreInventoryItems,
        BACKFILL_STATES.inventoryBatchDone,
      );
      afterPrefix = sfn.Choice.jsonPath(states, BACKFILL_STATES.source, { comment: 'List the prefix, or read an S3 Inventory manifest' })
        .when(sfn.Condition.and(sfn.Condition.stringEquals(`${args}.source`, 'inventory'), sfn.Condition.isPresent(`${args}.manifestKey`)), inventory)
        .otherwise(listing);
    }

    const defaults = sfn.Pass.jsonPath(states, BACKFILL_STATES.defaults, {
      comment: 'What a run does when its input leaves it out: the whole input prefix, every object that needs work, for real',
      result: sfn.Result.fromObject({ prefix: props.inputPrefix, only: 'all', dryRun: false, source: 'list' }),
      resultPath: '$.defaults',
    });
    const merged = sfn.Pass.jsonPath(states, BACKFILL_STATES.argumentsState, {
      comment: "The run's input over the defaults",
      parameters: { args: sfn.JsonPath.jsonMerge(sfn.JsonPath.objectAt('$.defaults'), sfn.JsonPath.objectAt('$$.Execution.Input')) },
    });
    const outside = new sfn.Fail(states, BACKFILL_STATES.prefixOutsideInput, {
      comment: 'Only objects under the input prefix are ever processed',
      error: 'PrefixOutsideInput',
      cause: `the prefix must lie under the input prefix "${props.inputPrefix}"`,
    });
    const prefixAllowed = sfn.Choice.jsonPath(states, BACKFILL_STATES.prefixAllowed)
      .when(sfn.Condition.stringMatches(`${args}.prefix`, `${escapeMatch(props.inputPrefix)}*`), afterPrefix)
      .otherwise(outside);

    this.logGroup = new logs.LogGroup(this, 'RunLogs', {
      ...(Token.isUnresolved(Stack.of(this).stackName) ? {} : { logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-fieldlens-backfill` }),
      retention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: "fieldlens backfill: the objects already in the bucket, through the upload's per-object path",
      definitionBody: sfn.DefinitionBody.fromChainable(defaults.next(merged).next(prefixAllowed)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.executionTimeout ?? Duration.days(30),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    this.acknowledgeFindings(props, inventoryBucket);
    if (!reserve) {
      Annotations.of(this).addWarningV2(
        'fieldlens:unreservedBackfillConcurrency',
        `reserved concurrency is off: one backfill run keeps at most ${props.budget.maxInFlight} requests in flight (its Map's MaxConcurrency), ` +
          'but two runs at once would ask twice as much; start one run at a time',
      );
    }
  }

  /** The inventory's destination bucket, given or imported by name. */
  private inventoryBucket(inventory: BackfillInventoryProps | undefined): s3.IBucket | undefined {
    if (!inventory) return undefined;
    if ((inventory.bucket === undefined) === (inventory.bucketName === undefined)) {
      throw new FieldlensPropsError('backfill.inventory: give exactly one of bucket and bucketName (where S3 Inventory delivers its reports)');
    }
    return inventory.bucket ?? s3.Bucket.fromBucketName(this, 'InventoryBucket', inventory.bucketName!);
  }

  /** ProcessBatch, invoked again with what it left while items remain. */
  private childWorkflow(states: Construct, processName: string, moreName: string, doneName: string): sfn.IChainable {
    const fn = this.items.function;
    const process = tasks.LambdaInvoke.jsonPath(states, processName, {
      comment: 'A batch through the per-object path; returns the items it had no time for, and the tally so far',
      lambdaFunction: fn,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      taskTimeout: sfn.Timeout.duration(Duration.seconds((fn.timeout ?? Duration.seconds(60)).toSeconds() + 30)),
    });
    retryLambdaService(process, 200);
    // A batch whose every object failed (an outage): tried twice more, a minute apart, then counted as failed.
    process.addRetry({ errors: ['BackfillBatchError', ErrorCode.BACKFILL_BATCH_FAILED], interval: Duration.seconds(60), backoffRate: 2, maxAttempts: 2 });
    const done = sfn.Succeed.jsonPath(states, doneName, { comment: "The batch's tally: what the ResultWriter records", outputPath: '$.tally' });
    return process.next(
      sfn.Choice.jsonPath(states, moreName, { comment: 'Items left for lack of time go to a fresh invocation' })
        .when(sfn.Condition.isPresent('$.Items[0]'), process)
        .otherwise(done),
    );
  }

  /** cdk-nag findings of the state machine's roles, acknowledged one by one. */
  private acknowledgeFindings(props: BackfillProps, inventoryBucket: s3.IBucket | undefined): void {
    const role = this.stateMachine.role;
    acknowledgeWildcardResource(
      role,
      `${this.items.function.functionArn}:*`,
      "CDK's LambdaInvoke also grants the qualified ARNs (versions, aliases) of the backfill item function; the definition invokes only its unqualified ARN.",
    );
    acknowledgeWildcardResource(
      role,
      props.outputBucket.arnForObjects(`${props.outputPrefix}${BACKFILL_RESULTS_FOLDER}*`),
      `The Map Run's result files, under "${props.outputPrefix}${BACKFILL_RESULTS_FOLDER}" only: their names are made by Step Functions per run.`,
    );
    if (props.inventory && inventoryBucket) {
      acknowledgeWildcardResource(
        role,
        inventoryBucket.arnForObjects(`${props.inventory.prefix ?? ''}*`),
        'The S3 Inventory reports under their destination prefix only: the manifest and data file names are dated by S3 per report.',
      );
    }
    acknowledgeStateMachineWildcards(role);
    this.acknowledgeChildExecutions();
  }

  /**
   * The Distributed Map's own policy (added by CDK): starting child
   * executions of this state machine and describing, stopping and
   * redriving them, on its execution ARNs, which exist only at run time.
   */
  private acknowledgeChildExecutions(): void {
    const policy = this.stateMachine.node.tryFindChild('DistributedMapPolicy');
    if (!policy) return;
    const document = Stack.of(this).resolve((policy as unknown as { document: { toJSON(): unknown } }).document.toJSON()) as {
      Statement: Array<{ Resource: unknown }>;
    };
    for (const statement of document.Statement) {
      for (const resource of ([] as unknown[]).concat(statement.Resource)) {
        const flat = flattenForFinding(resource);
        if (!flat.includes('*')) continue;
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${flat}]`,
          reason:
            "The Distributed Map's child workflow executions of this one state machine: Step Functions names them at run time, " +
            'so their ARNs are only known up to the state machine name (and Map Run label).',
        });
      }
    }
  }
}

/** Escapes a literal for a Choice `StringMatches` pattern (`*` and `\` are special). */
function escapeMatch(literal: string): string {
  return literal.replace(/[\\*]/g, (c) => `\\${c}`);
}
