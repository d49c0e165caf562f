import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { FieldlensPropsError } from '../../infra/errors';
import { FieldlensStack, type FieldlensStackProps } from '../../infra/fieldlens-stack';
import { buildStack, logicalId, MODEL, testApp } from './support';

const VPC_ID = 'vpc-0a1b2c3d4e5f67890';
const SUBNETS = ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'];
const BY_IDS = { vpcId: VPC_ID, subnetIds: SUBNETS } satisfies Partial<FieldlensStackProps>;

/** The VpcConfig of every function in the template, by logical id (`undefined` outside a VPC). */
function vpcConfigs(template: Template): Record<string, { SubnetIds: unknown[]; SecurityGroupIds: unknown[] } | undefined> {
  return Object.fromEntries(
    Object.entries(template.findResources('AWS::Lambda::Function')).map(([id, r]) => [id, r.Properties.VpcConfig]),
  );
}

/** The logical ids of the functions placed in a VPC. */
function functionsInVpc(template: Template): string[] {
  return Object.entries(vpcConfigs(template))
    .filter(([, config]) => config !== undefined)
    .map(([id]) => id)
    .sort();
}

describe('VPC placement: off by default', () => {
  it('places no function in a VPC, creates no security group and grants no EC2 action', () => {
    // Act
    const { template } = buildStack();

    // Assess
    expect(functionsInVpc(template)).toEqual([]);
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('ec2:');
    expect(Object.keys(template.findOutputs('*'))).not.toContain('ModelClientSecurityGroupIds');
  });
});

describe('VPC placement by id (the context keys vpcId, subnetIds, securityGroupIds)', () => {
  const { app, stack, template } = buildStack(BY_IDS);
  const sg = logicalId(template, 'AWS::EC2::SecurityGroup', 'ModelNetwork');

  it('places the on-upload function in the given subnets with the security group the stack creates', () => {
    expect(functionsInVpc(template)).toEqual([logicalId(template, 'AWS::Lambda::Function', 'OnUpload')]);
    expect(Object.values(vpcConfigs(template)).find(Boolean)).toEqual({
      SubnetIds: SUBNETS,
      SecurityGroupIds: [{ 'Fn::GetAtt': [sg, 'GroupId'] }],
    });
  });

  it('creates one security group in the VPC that allows all egress and no ingress', () => {
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: VPC_ID,
      SecurityGroupEgress: [Match.objectLike({ CidrIp: '0.0.0.0/0', IpProtocol: '-1' })],
      SecurityGroupIngress: Match.absent(),
    });
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
  });

  it('outputs the security group, to let it in on the model endpoint', () => {
    template.hasOutput('ModelClientSecurityGroupIds', { Value: { 'Fn::GetAtt': [sg, 'GroupId'] } });
  });

  it('synthesizes offline, without a lookup, and without a warning', () => {
    expect(app.synth().manifest.missing ?? []).toEqual([]);
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('uses the given security groups instead of creating one', () => {
    // Act
    const { template: withGroups } = buildStack({ ...BY_IDS, securityGroupIds: ['sg-0a1b2c3d', 'sg-4e5f6a7b'] });

    // Assess
    withGroups.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    expect(Object.values(vpcConfigs(withGroups)).find(Boolean)).toEqual({
      SubnetIds: SUBNETS,
      SecurityGroupIds: ['sg-0a1b2c3d', 'sg-4e5f6a7b'],
    });
  });

  it('places the function in the VPC with the queue trigger too', () => {
    const { template: queue } = buildStack({ ...BY_IDS, trigger: 'queue' });

    expect(functionsInVpc(queue)).toEqual([logicalId(queue, 'AWS::Lambda::Function', 'OnUpload')]);
  });

  it('places only ExtractField in the VPC with the Step Functions fan-out: the other functions never call the model', () => {
    // Act
    const { template: sfn } = buildStack({ ...BY_IDS, fanout: 'stepfunctions' });

    // Assess
    expect(functionsInVpc(sfn)).toEqual([logicalId(sfn, 'AWS::Lambda::Function', 'PipelineExtractField')]);
    sfn.resourceCountIs('AWS::EC2::SecurityGroup', 1);
  });
});

describe('VPC placement with CDK types (a construct user with an IVpc)', () => {
  /**
   * The stack over a VPC with public, private and isolated subnets from
   * another stack, as a user's own network stack would provide it; `extra`
   * adds props that need that stack.
   */
  function withVpc(extra: (network: Stack) => Partial<FieldlensStackProps>): Template {
    const app = testApp();
    const network = new Stack(app, 'Network');
    const vpc = new ec2.Vpc(network, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      ],
    });
    return Template.fromStack(new FieldlensStack(app, 'Fieldlens', { model: MODEL, vpc, ...extra(network) }));
  }

  /** The network stack's subnets (by construct name) the function is placed in. */
  const subnetNames = (template: Template) =>
    (Object.values(vpcConfigs(template)).find(Boolean)?.SubnetIds ?? []).map((ref) => JSON.stringify(ref).match(/Vpc(\w+?Subnet\d)/)?.[1]);

  it('takes the VPC\'s private subnets by default, and the given security groups', () => {
    // Act
    const template = withVpc((network) => ({
      securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(network, 'ModelClients', 'sg-0a1b2c3d', { mutable: false })],
    }));

    // Assess
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    expect(subnetNames(template)).toEqual(['PrivateSubnet1', 'PrivateSubnet2']);
    expect(Object.values(vpcConfigs(template)).find(Boolean)?.SecurityGroupIds).toEqual(['sg-0a1b2c3d']);
  });

  it('takes a subnet selection, and creates the security group when none is given', () => {
    const template = withVpc(() => ({ vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }));

    expect(subnetNames(template)).toEqual(['IsolatedSubnet1', 'IsolatedSubnet2']);
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
  });

  it('refuses public subnets, where the function could reach nothing outside the VPC', () => {
    const act = () => withVpc(() => ({ vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } }));

    expect(act).toThrow(/public subnet/);
  });
});

describe('VPC placement: props that cannot work', () => {
  it.each<[string, Partial<FieldlensStackProps>, RegExp]>([
    ['vpcId without subnetIds', { vpcId: VPC_ID }, /subnetIds: required with vpcId/],
    ['subnetIds without vpcId', { subnetIds: SUBNETS }, /subnetIds: only with vpcId/],
    ['securityGroupIds without vpcId', { securityGroupIds: ['sg-0a1b2c3d'] }, /securityGroupIds: only with vpcId/],
    ['a malformed VPC id', { vpcId: 'vpc-xyz', subnetIds: SUBNETS }, /vpcId: expected an id such as vpc-/],
    ['a malformed subnet id', { vpcId: VPC_ID, subnetIds: ['subnet-0a1b2c3d', 'sn-1'] }, /subnetIds: .*got "sn-1"/],
    ['a repeated subnet', { vpcId: VPC_ID, subnetIds: [SUBNETS[0]!, SUBNETS[0]!] }, /subnetIds: "subnet-0a1b2c3d" is given twice/],
    ['six security groups', { ...BY_IDS, securityGroupIds: ['1', '2', '3', '4', '5', '6'].map((n) => `sg-0000000${n}`) }, /securityGroupIds: expected 1 to 5/],
  ])('refuses %s', (_name, props, message) => {
    const act = () => buildStack(props);

    expect(act).toThrow(FieldlensPropsError);
    expect(act).toThrow(message);
  });

  it('refuses both a VPC construct and a VPC id', () => {
    const app = testApp();
    const vpc = ec2.Vpc.fromVpcAttributes(new Stack(app, 'Network'), 'Vpc', { vpcId: VPC_ID, availabilityZones: ['eu-west-1a'] });

    const act = () => new FieldlensStack(app, 'Fieldlens', { model: MODEL, vpc, ...BY_IDS });

    expect(act).toThrow(/at most one of vpc and vpcId/);
  });

  it('refuses a subnet selection that finds no subnet', () => {
    const app = testApp();
    const vpc = ec2.Vpc.fromVpcAttributes(new Stack(app, 'Network'), 'Vpc', {
      vpcId: VPC_ID,
      availabilityZones: ['eu-west-1a'],
      privateSubnetIds: [SUBNETS[0]!],
    });

    const act = () =>
      new FieldlensStack(app, 'Fieldlens', { model: MODEL, vpc, vpcSubnets: { subnetFilters: [ec2.SubnetFilter.byIds([SUBNETS[1]!])] } });

    expect(act).toThrow(/vpcSubnets: selects no subnet/);
  });
});
