/**
 * The starter's wiring. The starter asks no model and reads no object, so
 * it has its own small config instead of the pipeline's (which requires the
 * model endpoint): the state machine to start and the prefixes to guard.
 */
import * as z from 'zod';
import { createJsonLogger } from './adapters/logger';
import { createSfnClient, SfnExecutionStarter } from './adapters/sfn-starter';
import type { ExecutionStarter, Logger } from './core/ports';
import { keyPrefix, logLevel, parseEnvironment } from './env';

/** The starter's typed configuration. */
export interface StarterConfig {
  readonly stateMachineArn: string;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Everything the starter handler needs; tests build their own. */
export interface StarterRuntime {
  readonly config: StarterConfig;
  readonly starter: ExecutionStarter;
  readonly logger: Logger;
}

const envSchema = z.object({
  STATE_MACHINE_ARN: z
    .string({ error: 'expected the ARN of the state machine to start' })
    .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/, 'expected a state machine ARN'),
  INPUT_PREFIX: keyPrefix('incoming/'),
  OUTPUT_PREFIX: keyPrefix('results/'),
  LOG_LEVEL: logLevel,
});

/**
 * Parses the starter's environment.
 *
 * @throws {ConfigError} naming every bad variable and what it expected.
 */
export function loadStarterConfig(env: Readonly<Record<string, string | undefined>>): StarterConfig {
  const e = parseEnvironment(envSchema, env);
  return Object.freeze({
    stateMachineArn: e.STATE_MACHINE_ARN,
    inputPrefix: e.INPUT_PREFIX,
    outputPrefix: e.OUTPUT_PREFIX,
    logLevel: e.LOG_LEVEL,
  });
}

/** Builds the starter's runtime from the environment (once per cold start). */
export async function loadStarterRuntime(env: Readonly<Record<string, string | undefined>>): Promise<StarterRuntime> {
  const config = loadStarterConfig(env);
  return {
    config,
    starter: new SfnExecutionStarter(createSfnClient(), config.stateMachineArn),
    logger: createJsonLogger({ level: config.logLevel }),
  };
}
