// The agent: an ECS Fargate service running the agent image behind an internet-facing ALB that
// only the configured CIDR ranges can reach (nobody by default). With a certificate the ALB
// serves HTTPS (HTTP redirects to it) and can authenticate users with OIDC before any request
// reaches the agent. The task role may invoke the configured Bedrock model and the MCP Function
// URL, and run the chat store's item operations on the sessions table, nothing else.
import * as path from 'node:path';
import { Duration, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Construct } from 'constructs';
import { bedrockModelArns } from './bedrock.ts';
import type { Arch, OidcConfig } from './config.ts';
import type { Network } from './network.ts';
import type { SessionsTable } from './sessions-table.ts';

export interface AgentServiceProps {
  readonly network: Network;
  /** Where the conversations live: every task shares this table. */
  readonly sessions: SessionsTable;
  readonly architecture: Arch;
  readonly desiredCount: number;
  /** Autoscaling's upper bound (its lower bound is `desiredCount`). */
  readonly maxTasks: number;
  readonly modelId: string;
  /** The foundation models an application inference profile (`modelId`) routes to. */
  readonly bedrockFoundationModels?: string[];
  readonly bedrockRegion: string;
  readonly mcpFunction: lambda.IFunction;
  /** The MCP endpoint URL (Function URL plus the server's route). */
  readonly mcpUrl: string;
  /** The MCP function's timeout: the agent waits this plus a margin for a tool answer. */
  readonly mcpTimeout: Duration;
  readonly allowedCidrs: string[];
  readonly certificateArn?: string;
  readonly domainName?: string;
  readonly oidc?: OidcConfig;
  readonly logRetention: logs.RetentionDays;
  readonly repoRoot: string;
}

export class AgentService extends Construct {
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly taskRole: iam.Role;
  /** The agent's container (the stack adds optional environment, e.g. trace export). */
  readonly container: ecs.ContainerDefinition;
  readonly chatUrl: string;

  constructor(scope: Construct, id: string, props: AgentServiceProps) {
    super(scope, id);
    const { vpc } = props.network;
    const arm = props.architecture === 'arm64';
    const https = props.certificateArn !== undefined;

    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'agent: invoke the configured Bedrock model and the MCP Function URL, keep chats in the sessions table',
    });
    const modelArns = bedrockModelArns(props.modelId, props.bedrockRegion, Stack.of(this).account, props.bedrockFoundationModels);
    this.taskRole.addToPolicy(new iam.PolicyStatement({
      actions: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
      resources: modelArns,
    }));
    for (const arn of modelArns.filter((a) => a.includes('*'))) {
      Validations.of(this.taskRole).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${arn}]`,
        reason: 'An inference profile (a cross-region one, or an application profile copied from one) routes '
          + 'each request to the same foundation model in one of several regions, so the model ARN needs a region '
          + 'wildcard; the model itself is fixed.',
      });
    }
    props.mcpFunction.grantInvokeUrl(this.taskRole);
    props.sessions.grantStore(this.taskRole);

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 512,
      memoryLimitMiB: 1024,
      taskRole: this.taskRole,
      runtimePlatform: {
        cpuArchitecture: arm ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const image = ecs.ContainerImage.fromAsset(props.repoRoot, {
      file: path.join('images', 'agent', 'Dockerfile'),
      platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
    });
    Validations.of(taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken accepts only "*" as its resource; image pulls themselves are '
        + 'limited to the asset repository by the other statement of this policy.',
    });
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions::AwsSolutions-ECS2',
      reason: 'The environment holds configuration only (model id, MCP URL, listen address); the agent '
        + 'needs no secrets: it authenticates with its task role.',
    });
    const container = this.container = taskDefinition.addContainer('agent', {
      image,
      essential: true,
      readonlyRootFilesystem: true,
      portMappings: [{ containerPort: 8080 }],
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'agent' }),
      environment: {
        AGENT_LISTEN: '0.0.0.0:8080',
        // One Embedded Metric Format line per answer (tokens, calls, duration, cost): CloudWatch
        // Logs makes metrics of it (namespace OpsAgent) for the dashboard and the budget alarm.
        AGENT_METRICS_EMF: 'true',
        AGENT_MODEL: 'bedrock',
        AGENT_BEDROCK_MODEL_ID: props.modelId,
        AGENT_BEDROCK_REGION: props.bedrockRegion,
        AGENT_MCP_URL: props.mcpUrl,
        AGENT_MCP_AUTH: 'iam',
        // SigV4 scope of the Function URL: the stack's region.
        AGENT_MCP_REGION: Stack.of(this).region,
        AGENT_TOOL_TIMEOUT_SECS: String(props.mcpTimeout.toSeconds() + 3),
        AGENT_SECURE_COOKIE: String(https),
        // Tasks are reachable only through the ALB, which appends the client's address to
        // X-Forwarded-For: per-client limits use it.
        AGENT_TRUST_FORWARDED_FOR: 'true',
        // Conversations in the shared table: any task continues any chat.
        AGENT_SESSION_STORE: 'dynamodb',
        AGENT_SESSIONS_TABLE: props.sessions.table.tableName,
        RUST_LOG: 'info',
      },
    });

    const albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc,
      allowAllOutbound: false,
      description: 'Chat ALB: ingress only from the configured CIDR ranges',
    });
    const ports = https ? [80, 443] : [80];
    if (props.oidc && props.allowedCidrs.some((cidr) => cidr.endsWith('/0'))) {
      Validations.of(albSecurityGroup).acknowledge({
        id: 'AwsSolutions::AwsSolutions-EC23',
        reason: 'Open to the internet on purpose and only with OIDC: the HTTPS listener authenticates every '
          + 'request with the identity provider before forwarding it, and port 80 only redirects to HTTPS.',
      });
    }
    for (const cidr of props.allowedCidrs) {
      for (const port of ports) albSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), `chat from ${cidr}`);
    }
    const accessLogs = new s3.Bucket(this, 'AlbAccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Access logs outlive a teardown (audit); the bucket is emptied by its lifecycle rule and
      // can then be deleted by hand. (No auto-delete custom resource: one Lambda role fewer.)
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions::AwsSolutions-S1',
      reason: 'This bucket only receives the ALB access logs; logging access to the log bucket into '
        + 'another bucket would add cost without a reader. It is private, SSL-only and expires objects.',
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      securityGroup: albSecurityGroup,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      // Answers stream for minutes; the agent also sends an SSE keep-alive every 15 s.
      idleTimeout: Duration.seconds(300),
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(accessLogs);
    // The names browsers reach the chat by: any other Host (DNS rebinding) or Origin gets 403.
    container.addEnvironment('AGENT_ALLOWED_HOSTS', [
      ...(props.domainName ? [props.domainName] : []),
      this.loadBalancer.loadBalancerDnsName,
    ].join(','));
    if (props.oidc) {
      // The ALB signs the user's claims into x-amzn-oidc-data on every request it forwards: the
      // agent verifies them against this ALB's ARN (keys from the region's public ELB key
      // endpoint, over the HTTPS egress below) and refuses requests without them.
      container.addEnvironment('AGENT_ALB_ARN', this.loadBalancer.loadBalancerArn);
      container.addEnvironment('AGENT_REQUIRE_ALB_IDENTITY', 'true');
      if (props.oidc.allowedEmailDomains.length > 0) {
        container.addEnvironment('AGENT_ALLOWED_EMAIL_DOMAINS', props.oidc.allowedEmailDomains.join(','));
      }
      if (props.oidc.allowedGroups.length > 0) {
        container.addEnvironment('AGENT_ALLOWED_GROUPS', props.oidc.allowedGroups.join(','));
        container.addEnvironment('AGENT_GROUPS_CLAIM', props.oidc.groupsClaim);
      }
    }

    const serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc,
      allowAllOutbound: false,
      description: 'Agent tasks: ingress only from the chat ALB',
    });
    // Everything the tasks call is HTTPS: Bedrock, DynamoDB, the Function URL, ECR and CloudWatch Logs. (DNS
    // and the task credentials endpoint are link-local and not filtered by security groups.)
    serviceSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs and the MCP Function URL');
    serviceSecurityGroup.addIngressRule(albSecurityGroup, ec2.Port.tcp(8080), 'from the ALB');
    albSecurityGroup.addEgressRule(serviceSecurityGroup, ec2.Port.tcp(8080), 'to the agent tasks');

    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: props.desiredCount,
      vpcSubnets: props.network.taskSubnets,
      assignPublicIp: props.network.tasksNeedPublicIp,
      securityGroups: [serviceSecurityGroup],
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    });
    // Answers mostly wait on Bedrock and the tools, so CPU rises only with many concurrent chats;
    // memory with the answers in flight. Either past its target adds a task.
    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.desiredCount, maxCapacity: props.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });
    scaling.scaleOnMemoryUtilization('Memory', { targetUtilizationPercent: 70 });
    const targetGroup = this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc,
      port: 8080,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      healthCheck: { path: '/healthz', healthyHttpCodes: '200', interval: Duration.seconds(15) },
      deregistrationDelay: Duration.seconds(10),
      // Not needed for correctness (chats live in DynamoDB, and any task continues them); kept
      // because it still helps: a reload on the task running the answer shows it live rather
      // than as of its last progress write (2 s), and the per-address limit on new chats is
      // counted per task.
      stickinessCookieDuration: Duration.days(1),
    });

    if (https) {
      const certificate = elbv2.ListenerCertificate.fromArn(props.certificateArn!);
      const forward = elbv2.ListenerAction.forward([targetGroup]);
      const action = props.oidc
        ? elbv2.ListenerAction.authenticateOidc({
          issuer: props.oidc.issuer,
          authorizationEndpoint: props.oidc.authorizationEndpoint,
          tokenEndpoint: props.oidc.tokenEndpoint,
          userInfoEndpoint: props.oidc.userInfoEndpoint,
          clientId: props.oidc.clientId,
          clientSecret: SecretValue.secretsManager(props.oidc.clientSecretArn),
          next: forward,
        })
        : forward;
      this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [certificate],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
        defaultAction: action,
      });
      this.loadBalancer.addListener('Http', {
        port: 80,
        open: false,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      this.chatUrl = `https://${props.domainName ?? this.loadBalancer.loadBalancerDnsName}/`;
    } else {
      this.loadBalancer.addListener('Http', {
        port: 80,
        open: false,
        defaultAction: elbv2.ListenerAction.forward([targetGroup]),
      });
      this.chatUrl = `http://${this.loadBalancer.loadBalancerDnsName}/`;
    }
  }
}
