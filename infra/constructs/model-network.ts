/**
 * The network of the functions that call the model: optional placement in
 * the user's VPC, so an endpoint on a private address (a vLLM server at
 * `http://10.0.0.5:8000/v1`) is reachable.
 *
 * Everything is imported by id, never looked up: synth stays offline and
 * needs no credentials. The stack creates at most a security group; the VPC,
 * its subnets, routes, NAT gateway and VPC endpoints belong to the user's
 * network and are only referred to.
 */
import { BlockList, isIP } from 'node:net';
import { Annotations, Lazy, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct, type IConstruct } from 'constructs';
import { FieldlensPropsError } from '../errors';
import type { FunctionVpcConfig } from './lambda-defaults';

/** Lambda's limits on one function's VPC configuration. */
export const LAMBDA_VPC_LIMITS = Object.freeze({ subnets: 16, securityGroups: 5 });

/** The id formats EC2 uses: a prefix and 8 or 17 hexadecimal digits. */
export const EC2_ID_PATTERNS = Object.freeze({
  vpc: /^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$/,
  subnet: /^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/,
  securityGroup: /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/,
});

/**
 * VPC placement of the functions that call the model: the `on-upload`
 * function, or ExtractField with the Step Functions fan-out. The other
 * functions (the Step Functions starter, Prepare, Merge, RecordFailure) only
 * talk to AWS services and stay outside the VPC.
 *
 * Give either `vpc` (with optional `vpcSubnets` and `securityGroups`) or
 * `vpcId` with `subnetIds` (and optional `securityGroupIds`), not both.
 *
 * In the VPC the functions still read images from S3 and the API key from
 * Secrets Manager, and write results to S3, so their subnets need a way to
 * both: a NAT gateway, or an S3 gateway endpoint and a Secrets Manager
 * interface endpoint. The stack creates none of them.
 */
export interface ModelNetworkProps {
  /**
   * The VPC the endpoint is reachable from.
   * @default - outside any VPC: the endpoint must be reachable from the internet
   */
  readonly vpc?: ec2.IVpc;
  /**
   * The subnets of `vpc` to place the functions in: private subnets with a
   * route to the endpoint, and a NAT gateway or VPC endpoints for S3 and
   * Secrets Manager. Public subnets are refused (a function there gets no
   * public address, so it reaches nothing outside the VPC).
   * @default - the VPC's private subnets with egress (else its isolated ones)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the functions (1 to 5), with `vpc`. They must allow
   * outbound traffic to the endpoint, S3 and Secrets Manager (or their VPC
   * endpoints); the endpoint's own group must let them in.
   * @default - one security group created by the stack: all outbound traffic allowed, no inbound
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * The id of the VPC (`vpc-…`), for an app that has no `IVpc`, such as the
   * context key `vpcId`. Requires `subnetIds`.
   * @default - see `vpc`
   */
  readonly vpcId?: string;
  /**
   * The ids of the subnets (`subnet-…`, 1 to 16) of `vpcId` to place the
   * functions in; the same requirements as `vpcSubnets`.
   * @default - none; required with `vpcId`
   */
  readonly subnetIds?: string[];
  /**
   * The ids of existing security groups (`sg-…`, 1 to 5) for the functions,
   * with `vpcId`; the same requirements as `securityGroups`.
   * @default - see `securityGroups`
   */
  readonly securityGroupIds?: string[];
}

/** Whether the props ask for a VPC at all. */
export function wantsVpc(props: ModelNetworkProps): boolean {
  return props.vpc !== undefined || props.vpcId !== undefined;
}

/**
 * Rejects VPC props that contradict each other or cannot work.
 *
 * @throws {FieldlensPropsError} naming the prop and what it expected.
 */
export function checkModelNetworkProps(props: ModelNetworkProps): void {
  const { vpc, vpcSubnets, securityGroups, vpcId, subnetIds, securityGroupIds } = props;
  if (vpc && vpcId !== undefined) {
    throw new FieldlensPropsError('give at most one of vpc and vpcId (a VPC construct, or the id of an existing VPC)');
  }
  if (!vpc && (vpcSubnets || securityGroups)) {
    throw new FieldlensPropsError(
      `${vpcSubnets ? 'vpcSubnets' : 'securityGroups'}: only with vpc${vpcId !== undefined ? ' (with vpcId, give subnetIds and securityGroupIds)' : ''}`,
    );
  }
  if (vpcId === undefined && (subnetIds || securityGroupIds)) {
    throw new FieldlensPropsError(
      `${subnetIds ? 'subnetIds' : 'securityGroupIds'}: only with vpcId, the VPC the ${subnetIds ? 'subnets' : 'security groups'} belong to` +
        (vpc ? ' (with vpc, give vpcSubnets and securityGroups)' : ''),
    );
  }
  if (vpcId !== undefined) {
    checkId('vpcId', vpcId, EC2_ID_PATTERNS.vpc, 'vpc-0a1b2c3d4e5f67890');
    if (!subnetIds || subnetIds.length === 0) {
      throw new FieldlensPropsError(
        'subnetIds: required with vpcId: the private subnets to place the functions in (with a route to the model endpoint)',
      );
    }
    checkIds('subnetIds', subnetIds, EC2_ID_PATTERNS.subnet, 'subnet-0a1b2c3d4e5f67890', LAMBDA_VPC_LIMITS.subnets);
    if (securityGroupIds) {
      checkIds('securityGroupIds', securityGroupIds, EC2_ID_PATTERNS.securityGroup, 'sg-0a1b2c3d4e5f67890', LAMBDA_VPC_LIMITS.securityGroups);
    }
  }
  if (securityGroups && (securityGroups.length === 0 || securityGroups.length > LAMBDA_VPC_LIMITS.securityGroups)) {
    throw new FieldlensPropsError(
      `securityGroups: expected 1 to ${LAMBDA_VPC_LIMITS.securityGroups} security groups (Lambda's limit), got ${securityGroups.length}; leave it unset for one the stack creates`,
    );
  }
}

function checkId(prop: string, id: string, pattern: RegExp, example: string): void {
  if (!Token.isUnresolved(id) && !pattern.test(id)) {
    throw new FieldlensPropsError(`${prop}: expected an id such as ${example}, got ${JSON.stringify(id)}`);
  }
}

function checkIds(prop: string, ids: readonly string[], pattern: RegExp, example: string, max: number): void {
  if (ids.length === 0 || ids.length > max) {
    throw new FieldlensPropsError(`${prop}: expected 1 to ${max} ids (Lambda's limit), got ${ids.length}`);
  }
  for (const id of ids) checkId(prop, id, pattern, example);
  const repeated = ids.filter((id, i) => !Token.isUnresolved(id) && ids.indexOf(id) !== i);
  if (repeated.length > 0) throw new FieldlensPropsError(`${prop}: ${JSON.stringify(repeated[0])} is given twice`);
}

/**
 * Address ranges a function outside a VPC cannot reach: loopback (in Lambda,
 * the function's own sandbox), private (RFC 1918, IPv6 unique local) and
 * link-local addresses.
 */
export const UNREACHABLE_OUTSIDE_VPC: ReadonlyArray<{ readonly range: string; readonly kind: 'loopback' | 'private' | 'link-local' }> =
  Object.freeze([
    { range: '127.0.0.0/8', kind: 'loopback' },
    { range: '::1/128', kind: 'loopback' },
    { range: '10.0.0.0/8', kind: 'private' },
    { range: '172.16.0.0/12', kind: 'private' },
    { range: '192.168.0.0/16', kind: 'private' },
    { range: 'fc00::/7', kind: 'private' },
    { range: '169.254.0.0/16', kind: 'link-local' },
    { range: 'fe80::/10', kind: 'link-local' },
  ] as const);

/** Where an endpoint's host is, when its URL alone tells. */
export interface EndpointAddress {
  readonly kind: 'loopback' | 'private' | 'link-local';
  /** The range it is in, e.g. `10.0.0.0/8`, or `localhost`. */
  readonly range: string;
}

/**
 * The range an endpoint's host is in, when the host is an IP literal in one
 * of {@link UNREACHABLE_OUTSIDE_VPC} or is `localhost`. Host names are not
 * resolved (synth stays offline), so a name that resolves to a private
 * address is not caught here.
 *
 * @returns `undefined` for any other host, and for a URL that does not parse
 *   (the function's config refuses that one).
 */
export function endpointAddress(baseUrl: string): EndpointAddress | undefined {
  if (!URL.canParse(baseUrl)) return undefined;
  // WHATWG URL normalizes the host: lower case, IPv4 in dotted decimal, IPv6 in brackets.
  const host = new URL(baseUrl).hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return { kind: 'loopback', range: 'localhost' };
  const family = isIP(host);
  if (family === 0) return undefined;
  for (const entry of UNREACHABLE_OUTSIDE_VPC) {
    const [network, bits] = entry.range.split('/') as [string, string];
    const list = new BlockList();
    list.addSubnet(network, Number(bits), isIP(network) === 6 ? 'ipv6' : 'ipv4');
    // BlockList also matches IPv4-mapped IPv6 addresses (::ffff:10.0.0.5) against IPv4 ranges.
    if (list.check(host, family === 6 ? 'ipv6' : 'ipv4')) return { kind: entry.kind, range: entry.range };
  }
  return undefined;
}

/** What {@link checkModelEndpointPlacement} needs to know. */
export interface ModelEndpointPlacement {
  /** The endpoint's base URL. */
  readonly baseUrl: string;
  /** Whether the functions that call the model are placed in a VPC. */
  readonly inVpc: boolean;
  /**
   * The construct a warning is attached to: the API key's secret, whose
   * value a plain-http request carries.
   */
  readonly warnOn: IConstruct;
}

/**
 * Refuses an endpoint no function outside a VPC can reach, and warns about
 * an API key sent in clear text:
 *
 * - a loopback, private or link-local address (by IP literal, or
 *   `localhost`) without a VPC is an error that says what to set;
 * - a plain-`http` endpoint outside a VPC is a warning: the stack always
 *   gives the function an API key secret (a random placeholder until the
 *   real key is put in it), and the function sends its value as a bearer
 *   token with every request, next to the image.
 *
 * Host names are not resolved: synth stays offline.
 *
 * @throws {FieldlensPropsError} for an unreachable address outside a VPC.
 */
export function checkModelEndpointPlacement({ baseUrl, inVpc, warnOn }: ModelEndpointPlacement): void {
  if (inVpc || Token.isUnresolved(baseUrl)) return;
  const address = endpointAddress(baseUrl);
  if (address) {
    const where =
      address.kind === 'loopback'
        ? `a loopback address (${address.range}), which in Lambda is the function's own sandbox`
        : `a ${address.kind} address (${address.range}), which a function outside a VPC cannot reach`;
    throw new FieldlensPropsError(
      `model.baseUrl ${JSON.stringify(baseUrl)} is on ${where}: ` +
        `${address.kind === 'loopback' ? 'use the endpoint\'s address in its network and ' : ''}place the functions that call the model in the endpoint's VPC, ` +
        'with the context keys vpcId and subnetIds (-c vpcId=vpc-0a1b2c3d4e5f67890 -c subnetIds=subnet-0a1b2c3d,subnet-4e5f6a7b), ' +
        'or the stack props vpcId and subnetIds, or vpc (an ec2.IVpc); a pipeline construct takes vpcConfig',
    );
  }
  if (URL.canParse(baseUrl) && new URL(baseUrl).protocol === 'http:') {
    Annotations.of(warnOn).addWarningV2(
      'fieldlens:plainHttpEndpoint',
      `model.baseUrl ${JSON.stringify(baseUrl)} is plain http and the functions run outside a VPC: the API key from the secret ` +
        'and every image travel unencrypted over the internet; use an https endpoint, or place the functions in the endpoint\'s VPC (vpcId and subnetIds)',
    );
  }
}

/**
 * The VPC placement of the functions that call the model, built from
 * {@link ModelNetworkProps}: the VPC and subnets (imported by id when given
 * as ids) and their security groups (imported, or one created here).
 *
 * @example
 * ```ts
 * const network = new ModelNetwork(this, 'ModelNetwork', { vpcId: 'vpc-0a1b2c3d', subnetIds: ['subnet-0a1b2c3d'] });
 * new OnUploadFunction(this, 'OnUpload', { ...props, vpcConfig: network.vpcConfig });
 * ```
 */
export class ModelNetwork extends Construct {
  /** What the model-calling functions get as their `vpcConfig`. */
  public readonly vpcConfig: FunctionVpcConfig;
  /** The security group created here, when none was given. */
  public readonly securityGroup?: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ModelNetworkProps) {
    super(scope, id);
    checkModelNetworkProps(props);

    let vpc: ec2.IVpc;
    let vpcSubnets: ec2.SubnetSelection | undefined;
    let given: ec2.ISecurityGroup[] | undefined;
    if (props.vpc) {
      vpc = props.vpc;
      vpcSubnets = props.vpcSubnets;
      given = props.securityGroups;
    } else if (props.vpcId !== undefined) {
      vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: props.vpcId,
        // Required by fromVpcAttributes, but only a lookup (with credentials)
        // could tell the VPC's zones. Nothing here reads them: the subnets
        // are given by id and the security group needs only the VPC id. A
        // value that fails synth if it is ever rendered keeps a made-up zone
        // out of the template.
        availabilityZones: [
          Lazy.string({
            produce: () => {
              throw new FieldlensPropsError(
                'the availability zones of a VPC given by vpcId are unknown; pass an ec2.IVpc as vpc to use them',
              );
            },
          }),
        ],
      });
      vpcSubnets = { subnets: (props.subnetIds ?? []).map((subnetId) => this.importSubnet(subnetId)) };
      given = props.securityGroupIds?.map((sgId) =>
        // Not mutable: the stack never adds rules to a group it does not own.
        ec2.SecurityGroup.fromSecurityGroupId(this, sgId, sgId, { mutable: false }),
      );
    } else {
      throw new FieldlensPropsError('ModelNetwork: give vpc or vpcId');
    }

    const selected = vpc.selectSubnets(vpcSubnets);
    if (selected.subnetIds.length === 0 && !selected.isPendingLookup) {
      throw new FieldlensPropsError(
        'vpcSubnets: selects no subnet of the VPC; the functions need private subnets with a route to the model endpoint',
      );
    }

    if (given) {
      this.vpcConfig = { vpc, ...(vpcSubnets ? { vpcSubnets } : {}), securityGroups: given };
    } else {
      // One group for every model-calling function: egress only. Nothing
      // connects to the functions (Lambda invokes them through its own API),
      // so there is no inbound rule; outbound is open because the endpoint,
      // S3 and Secrets Manager (or their VPC endpoints) are all destinations.
      this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc,
        description: 'fieldlens functions that call the model: outbound only (model endpoint, S3, Secrets Manager), no inbound',
        allowAllOutbound: true,
      });
      this.vpcConfig = { vpc, ...(vpcSubnets ? { vpcSubnets } : {}), securityGroups: [this.securityGroup] };
    }
  }

  private importSubnet(subnetId: string): ec2.ISubnet {
    const subnet = ec2.Subnet.fromSubnetId(this, subnetId, subnetId);
    Validations.of(subnet).acknowledge({
      id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      reason:
        'The subnet is imported by id only to place the functions in it; nothing in fieldlens reads its route table, ' +
        'which belongs to the user\'s network.',
    });
    return subnet;
  }
}
