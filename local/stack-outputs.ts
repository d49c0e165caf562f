/**
 * A deployed stack's outputs, read with the user's AWS credentials
 * (CloudFormation `DescribeStacks`), for the commands that work against it.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CommandError } from '../functions/core/errors';

/** Where the stack is. */
export interface StackAddress {
  readonly stack: string;
  /** The region the client uses, for the messages. */
  readonly region: string;
}

/** The region the SDK will use, or a clear error when there is none. */
export async function resolveRegion(client: { config: { region: () => Promise<string> } }): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    throw new CommandError('no AWS region: set AWS_REGION (or a region in your AWS profile), or pass --region');
  }
}

/**
 * The outputs of `stack`, by key.
 *
 * @throws {CommandError} naming the stack and region when it does not exist
 *   (or the credentials may not see it), and for any other failure, with
 *   what the service said.
 */
export async function readStackOutputs(client: CloudFormationClient, stack: string): Promise<{ outputs: Record<string, string>; address: StackAddress }> {
  const region = await resolveRegion(client);
  let found;
  try {
    found = await client.send(new DescribeStacksCommand({ StackName: stack }));
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ValidationError' && /does not exist/i.test(e.message ?? '')) {
      throw new CommandError(
        `no stack named ${stack} in ${region}: deploy it (npx cdk deploy …), or name yours with --stack <name> (or FIELDLENS_STACK) and its region with --region`,
        { cause: err },
      );
    }
    if (e.name === 'CredentialsProviderError' || /credential/i.test(e.message ?? '')) {
      throw new CommandError(`cannot read stack ${stack} in ${region}: no usable AWS credentials (${e.message ?? e.name})`, { cause: err });
    }
    throw new CommandError(`cannot read stack ${stack} in ${region}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { cause: err });
  }
  const outputs = Object.fromEntries((found.Stacks?.[0]?.Outputs ?? []).flatMap((o) => (o.OutputKey && o.OutputValue !== undefined ? [[o.OutputKey, o.OutputValue]] : [])));
  return { outputs, address: { stack, region } };
}

/**
 * One output that must be there.
 *
 * @param hint what to do when it is missing (e.g. how to deploy what provides it).
 */
export function requireOutput(outputs: Readonly<Record<string, string>>, key: string, address: StackAddress, hint: string): string {
  const value = outputs[key];
  if (!value) throw new CommandError(`stack ${address.stack} in ${address.region} has no ${key} output: ${hint}`);
  return value;
}
