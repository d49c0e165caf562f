/**
 * Errors the CDK app raises on purpose, so the entry point can print them
 * as one readable message instead of a stack trace.
 */

/** A CDK context value is missing or invalid; the message names the key and what it expected. */
export class ContextError extends Error {
  override name = 'ContextError';
}

/** Stack or construct props that cannot describe a working deployment. */
export class FieldlensPropsError extends Error {
  override name = 'FieldlensPropsError';
}
