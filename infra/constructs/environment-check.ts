/**
 * Synth-time check of a function's environment with the function's own
 * config (`validateEnvironment` in `functions/config.ts`): one source of
 * truth for every range and cross-check, so synth refuses exactly what the
 * function would refuse at start-up, with the same message.
 */
import { Token } from 'aws-cdk-lib';
import { validateEnvironment, type FunctionKind } from '../../functions/config';
import { ConfigError } from '../../functions/core/errors';
import { FieldlensPropsError } from '../errors';

/**
 * Values of the right shape for variables that are CDK tokens at synth (a
 * secret's ARN, a bucket's name, the state machine's ARN, the stack's region,
 * the fleet gate's table), so the rest of the environment can still be
 * checked (a capacity without its table would be refused). They are used
 * for the check only and never reach the template; the real values are
 * checked at start-up.
 */
export const SYNTH_PLACEHOLDERS: Readonly<Record<string, string>> = Object.freeze({
  MODEL_BASE_URL: 'https://unresolved.invalid/v1',
  MODEL_NAME: 'unresolved-model',
  MODEL_API_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:unresolved-AbCdEf',
  MODEL_ID: 'unresolved.model-v1:0',
  // An environment-agnostic stack's region is AWS::Region until deploy.
  MODEL_REGION: 'us-east-1',
  OUTPUT_BUCKET: 'unresolved-output-bucket',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:unresolved',
  INPUT_PREFIX: 'unresolved-input-prefix/',
  OUTPUT_PREFIX: 'unresolved-output-prefix/',
  FLEET_GATE_TABLE: 'unresolved-fleet-gate-table',
});

/**
 * Checks `env` as the function of `kind` will check it at cold start.
 *
 * @throws {FieldlensPropsError} (PROPS_INVALID) with the function's own
 *   message, e.g. `MODEL_MAX_RETRIES: expected a whole number from 0 to 10 (got "20")`.
 * @example
 * ```ts
 * checkFunctionEnvironment('model', functionEnvironment(props, perImage));
 * ```
 */
export function checkFunctionEnvironment(kind: FunctionKind, env: Readonly<Record<string, string>>): void {
  try {
    validateEnvironment(kind, withPlaceholders(env));
  } catch (err) {
    if (err instanceof ConfigError) throw new FieldlensPropsError(err.message, { cause: err });
    throw err;
  }
}

/**
 * `env` with each unresolved value replaced by its placeholder. An
 * unresolved value without one is left out: the function's default is
 * checked in its place, and the value itself at start-up.
 */
function withPlaceholders(env: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!Token.isUnresolved(value)) out[name] = value;
    else if (SYNTH_PLACEHOLDERS[name] !== undefined) out[name] = SYNTH_PLACEHOLDERS[name];
  }
  return out;
}
