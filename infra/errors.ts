/**
 * Errors the CDK app raises on purpose, so the entry point can print them
 * as one readable message instead of a stack trace. They are
 * {@link FieldlensError}s like the runtime's, with codes from the same table.
 */
import { ErrorCode, FieldlensError, type FieldlensErrorOptions } from '../functions/core/errors';

/** A CDK context value is missing or invalid; the message names the key and what it expected. */
export class ContextError extends FieldlensError {
  override name = 'ContextError';
  constructor(message: string, options: FieldlensErrorOptions = {}) {
    super(ErrorCode.CONTEXT_INVALID, message, options);
  }
}

/** Stack or construct props that cannot describe a working deployment. */
export class FieldlensPropsError extends FieldlensError {
  override name = 'FieldlensPropsError';
  constructor(message: string, options: FieldlensErrorOptions = {}) {
    super(ErrorCode.PROPS_INVALID, message, options);
  }
}
