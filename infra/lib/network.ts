// The network: a VPC over two AZs with public and private subnets. With NAT gateways the agent's
// tasks run in private subnets and reach Bedrock and the Function URL through NAT; with
// natGateways = 0 there are no private subnets to egress from (a Lambda Function URL has no
// PrivateLink endpoint), so the tasks run in public subnets with public IPs, still reachable only
// through the ALB's security group.
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { CfnResource, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface NetworkProps {
  readonly natGateways: number;
  readonly logRetention: logs.RetentionDays;
}

export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where the agent's tasks run. */
  readonly taskSubnets: ec2.SubnetSelection;
  /** Whether tasks need a public IP to reach AWS APIs (no NAT). */
  readonly tasksNeedPublicIp: boolean;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const withNat = props.natGateways > 0;
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: props.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        ...(withNat ? [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 }] : []),
      ],
    });
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    this.restrictDefaultSecurityGroupLogs(props.logRetention);
    this.tasksNeedPublicIp = !withNat;
    this.taskSubnets = { subnetType: withNat ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC };
  }

  /**
   * The VPC strips its default security group's rules through a CDK custom resource (feature flag
   * `@aws-cdk/aws-ec2:restrictDefaultSecurityGroup`), whose Lambda would otherwise log into an
   * implicit /aws/lambda/... group kept forever: point it at a log group with our retention.
   */
  private restrictDefaultSecurityGroupLogs(retention: logs.RetentionDays) {
    const provider = Stack.of(this).node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
    const handler = provider?.node.tryFindChild('Handler');
    if (!(handler instanceof CfnResource)) return;
    const logGroup = new logs.LogGroup(this, 'DefaultSecurityGroupRestrictionLogs', {
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    handler.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName });
  }
}
