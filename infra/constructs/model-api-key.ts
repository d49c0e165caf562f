/**
 * The secret holding the model endpoint's API key: an existing one, or a new
 * one with a random placeholder the user replaces after deploying.
 *
 * A function rather than a construct, like the bucket's: the secret is
 * created directly in the stack and keeps its logical id.
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { FieldlensPropsError } from '../errors';

/** Which secret holds the API key. */
export interface ModelApiKeyProps {
  /**
   * An existing Secrets Manager secret holding the API key (plain text, or
   * JSON `{"apiKey": "…"}`).
   * @default - the stack creates a secret holding a random placeholder
   *   (servers that check no key ignore it); put the real key in it after deploying
   */
  readonly existingApiKeySecret?: secretsmanager.ISecret;
  /**
   * The complete ARN (with its 6-character suffix) of an existing secret
   * holding the API key. Give at most one of `existingApiKeySecret` and
   * `existingApiKeySecretArn`.
   * @default - see `existingApiKeySecret`
   */
  readonly existingApiKeySecretArn?: string;
}

/**
 * Rejects two secrets at once.
 *
 * @throws {FieldlensPropsError} when both are given.
 */
export function checkModelApiKeyProps(props: ModelApiKeyProps): void {
  if (props.existingApiKeySecret && props.existingApiKeySecretArn) {
    throw new FieldlensPropsError('model: give at most one of existingApiKeySecret and existingApiKeySecretArn');
  }
}

/** The secret holding the API key: the one given, or one created in `scope` as `ModelApiKey`. */
export function modelApiKeySecret(scope: Construct, props: ModelApiKeyProps): secretsmanager.ISecret {
  if (props.existingApiKeySecret) return props.existingApiKeySecret;
  if (props.existingApiKeySecretArn) {
    return secretsmanager.Secret.fromSecretCompleteArn(scope, 'ModelApiKey', props.existingApiKeySecretArn);
  }
  const secret = new secretsmanager.Secret(scope, 'ModelApiKey', {
    description:
      'API key of the fieldlens model endpoint, as plain text. Created with a random placeholder: replace it with the real key (servers that check no key ignore it).',
    generateSecretString: { passwordLength: 32, excludePunctuation: true },
    removalPolicy: RemovalPolicy.DESTROY,
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      'The secret holds an API key issued by the model provider; it can only be rotated at the provider, then pasted here, so Secrets Manager rotation has nothing to call.',
  });
  return secret;
}
