/**
 * Errors the CDK app raises on purpose, so the entry point can print them
 * as one readable message instead of a stack trace. They are
 * {@link FieldlensError}s like the runtime's, with codes from the same table.
 */
import { ErrorCode, withCode } from '../functions/core/errors';

/** A CDK context value is missing or invalid; the message names the key and what it expected. */
export class ContextError extends withCode(ErrorCode.CONTEXT_INVALID, 'ContextError') {}

/** Stack or construct props that cannot describe a working deployment. */
export class FieldlensPropsError extends withCode(ErrorCode.PROPS_INVALID, 'FieldlensPropsError') {}
