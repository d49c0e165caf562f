/**
 * What the CDK app defines, apart from how it reports failure: context →
 * props → one FieldlensStack. `app.ts` runs it for the CLI; tests run it in
 * process with their own context.
 */
import { readFileSync } from 'node:fs';
import type { App } from 'aws-cdk-lib';
import { parseContext, stackPropsFromContext } from './context';
import { FieldlensStack } from './fieldlens-stack';

/**
 * Adds the stack the app's context describes.
 *
 * @param readFile reads the `fieldsFile` context value's file. @default readFileSync as UTF-8
 * @throws {import('./errors').ContextError} for a bad context value.
 * @throws {import('./errors').FieldlensPropsError} for props that cannot work.
 */
export function defineFieldlensStack(app: App, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): FieldlensStack {
  const ctx = parseContext(app.node.getAllContext() as Record<string, unknown>);
  return new FieldlensStack(app, 'Fieldlens', stackPropsFromContext(ctx, readFile));
}
