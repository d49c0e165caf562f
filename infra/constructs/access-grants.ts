/**
 * The least-privilege access of a pipeline's functions: objects under the
 * two prefixes, and the model: the one secret holding its API key, or with
 * Bedrock the one model (or inference profile) the functions invoke.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { FIELD_PARTS_FOLDER } from '../../functions/core/keys';
import { bedrockInvokeStatements, bedrockRegion } from '../bedrock-access';
import { FieldlensPropsError } from '../errors';
import { acknowledgeWildcardResource } from './acknowledge';
import { isBedrockModel, type ModelEndpointSettings, type PipelineProps } from './pipeline-props';

/** The props the object grants are scoped by. */
export type ObjectScope = Pick<PipelineProps, 'sourceBucket' | 'inputPrefix' | 'outputBucket' | 'outputPrefix'>;

/**
 * The only object access a pipeline function gets: read images under the
 * input prefix; read and write results under the output prefix (the read
 * is the idempotency check, a HEAD on the result key). No bucket-level
 * action, no other prefix. `bucket.grantRead` is not used because it also
 * grants `s3:List*` and `s3:GetBucket*` on the whole bucket.
 *
 * Without `s3:ListBucket`, S3 answers 403, not 404, for a key that does
 * not exist. For the result check the handler reads 403 as "no result yet"
 * (at worst a recomputation). For a source image it does not: an image
 * deleted before it was read then fails the invocation and ends in the
 * dead-letter queue, rather than a permission problem passing as "deleted".
 */
export function grantObjectAccess(role: iam.IRole, props: ObjectScope): void {
  grantObjectAccessFor(role, props, { readImages: true, readResults: true, writeResults: true });
}

/** Which object access one function needs; see {@link grantObjectAccessFor}. */
export interface ObjectAccess {
  /** `s3:GetObject` under the input prefix: HEAD and read the image. */
  readonly readImages?: boolean;
  /** `s3:GetObject` under the output prefix: HEAD a result (the idempotency check). */
  readonly readResults?: boolean;
  /** `s3:PutObject` under the output prefix: write a result. */
  readonly writeResults?: boolean;
  /**
   * `s3:PutObject` under `<output prefix>.fieldlens/parts/` only: write a
   * field's outcome for Merge (Step Functions). Reading the parts back is
   * `readResults`, since they lie under the output prefix.
   */
  readonly writeFieldParts?: boolean;
  /** `s3:DeleteObject` under `<output prefix>.fieldlens/parts/` only: delete the parts once merged. */
  readonly deleteFieldParts?: boolean;
}

/**
 * The parts of {@link grantObjectAccess} one function needs, for pipelines
 * that split the job over several functions (Step Functions): each gets only
 * the object actions its step uses, on the same prefixes.
 */
export function grantObjectAccessFor(role: iam.IRole, props: ObjectScope, access: ObjectAccess): void {
  const inputObjects = props.sourceBucket.arnForObjects(`${props.inputPrefix}*`);
  const outputObjects = props.outputBucket.arnForObjects(`${props.outputPrefix}*`);
  if (access.readImages) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadImages', actions: ['s3:GetObject'], resources: [inputObjects] }),
    );
    acknowledgeWildcardResource(
      role,
      inputObjects,
      `Objects under the input prefix "${props.inputPrefix}" only: image keys are not known in advance, and a key prefix is the narrowest scope S3 IAM offers for them.`,
    );
  }
  const resultActions = [
    ...(access.readResults ? ['s3:GetObject'] : []),
    ...(access.writeResults ? ['s3:PutObject'] : []),
  ];
  if (resultActions.length > 0) {
    const sid = access.readResults && access.writeResults ? 'ReadWriteResults' : access.readResults ? 'ReadResults' : 'WriteResults';
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions: resultActions, resources: [outputObjects] }));
    acknowledgeWildcardResource(
      role,
      outputObjects,
      `Objects under the output prefix "${props.outputPrefix}" only: result keys are derived from image keys at run time, and a key prefix is the narrowest scope S3 IAM offers for them.`,
    );
  }
  const partActions = [
    ...(access.writeFieldParts ? ['s3:PutObject'] : []),
    ...(access.deleteFieldParts ? ['s3:DeleteObject'] : []),
  ];
  if (partActions.length > 0) {
    const partObjects = props.outputBucket.arnForObjects(`${props.outputPrefix}${FIELD_PARTS_FOLDER}*`);
    const sid = access.writeFieldParts && access.deleteFieldParts ? 'WriteDeleteFieldParts' : access.writeFieldParts ? 'WriteFieldParts' : 'DeleteFieldParts';
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions: partActions, resources: [partObjects] }));
    acknowledgeWildcardResource(
      role,
      partObjects,
      `Objects under "${props.outputPrefix}${FIELD_PARTS_FOLDER}" only: one field's outcome per run, keyed by object, version, configuration and run at run time; a key prefix is the narrowest scope S3 IAM offers for them.`,
    );
  }
}

/** Read access to the one secret holding the API key: `GetSecretValue`, nothing else. */
export function grantSecretRead(role: iam.IRole, secret: ISecret): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ReadModelApiKey',
      actions: ['secretsmanager:GetSecretValue'],
      // An imported partial ARN lacks the 6-character suffix Secrets Manager appends.
      resources: [secret.secretFullArn ?? `${secret.secretArn}-??????`],
    }),
  );
  // A secret encrypted with a customer key also needs that key, only through Secrets Manager.
  secret.encryptionKey?.grantDecrypt(
    new iam.PrincipalWithConditions(role, {
      StringEquals: { 'kms:ViaService': `secretsmanager.${secret.stack.region}.${secret.stack.urlSuffix}` },
    }),
  );
}

/**
 * What a function that asks the model needs of it: read the API key's
 * secret, or with Bedrock invoke the one model (`bedrock:InvokeModel`, the
 * action Converse is authorised as) and nothing else.
 *
 * An inference profile's base model is allowed in every region (the profile
 * picks one per request) but only through that profile; that one wildcard
 * is acknowledged to cdk-nag, by its resource.
 *
 * @throws {FieldlensPropsError} for a model id IAM cannot scope (the ARN of
 *   a provisioned model or an application inference profile).
 */
export function grantModelAccess(role: iam.IRole, model: ModelEndpointSettings): void {
  if (!isBedrockModel(model)) {
    grantSecretRead(role, model.apiKeySecret);
    return;
  }
  let statements: iam.PolicyStatement[];
  try {
    statements = bedrockInvokeStatements(role, model.modelId, bedrockRegion(model.modelId, model.region));
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    throw new FieldlensPropsError(
      `model.modelId (context modelId): ${err.message}; give a model id, an inference profile id, or the ARN of a foundation model or system inference profile`,
      { cause: err },
    );
  }
  for (const statement of statements) {
    role.addToPrincipalPolicy(statement);
    for (const resource of statement.resources.filter((r) => r.includes('*'))) {
      acknowledgeWildcardResource(
        role,
        resource,
        'The base model of the one cross-region inference profile the functions call, in any region: the profile routes each request to one of its destination regions, ' +
          'where Bedrock authorises the base model again; the bedrock:InferenceProfileArn condition allows it only through that profile.',
      );
    }
  }
}
