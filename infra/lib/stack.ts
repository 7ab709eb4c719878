// The stack: the network, the MCP function and the agent service, wired together, plus the
// outputs (the chat URL and the MCP Function URL). With context trailBucketName, also the Athena
// table over the CloudTrail trail that the MCP function then queries (trail-history.ts).
import { CfnOutput, Stack, StackProps, Annotations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AgentService } from './agent-service.ts';
import type { AppConfig } from './config.ts';
import { McpFunction } from './mcp-function.ts';
import { Monitoring } from './monitoring.ts';
import { Network } from './network.ts';
import { SessionsTable } from './sessions-table.ts';
import { Traces } from './traces.ts';
import { TrailHistory } from './trail-history.ts';

export interface AgentStackProps extends StackProps {
  readonly config: AppConfig;
  /** The repository root (Cargo workspace, images/). */
  readonly repoRoot: string;
}

export class AgentStack extends Stack {
  readonly network: Network;
  readonly mcp: McpFunction;
  readonly agent: AgentService;
  readonly sessions: SessionsTable;
  readonly monitoring: Monitoring;
  /** Trace export, when context `traces` turns it on. */
  readonly traces?: Traces;
  /** Athena over the trail in S3 (context trailBucketName); none: the function uses LookupEvents. */
  readonly trailHistory?: TrailHistory;

  constructor(scope: Construct, id: string, props: AgentStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const architecture = config.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    this.network = new Network(this, 'Network', { natGateways: config.natGateways, logRetention });
    this.mcp = new McpFunction(this, 'Mcp', {
      architecture,
      redactSourceIp: config.redactSourceIp,
      regions: config.regions,
      logRetention,
      reservedConcurrency: config.mcpReservedConcurrency,
      repoRoot: props.repoRoot,
    });
    if (config.trailHistory) {
      this.trailHistory = new TrailHistory(this, 'TrailHistory', {
        config: config.trailHistory,
        role: this.mcp.role,
        functionTimeout: this.mcp.timeout,
      });
      for (const [key, value] of Object.entries(this.trailHistory.environment)) this.mcp.function.addEnvironment(key, value);
    }
    this.sessions = new SessionsTable(this, 'Sessions');
    this.agent = new AgentService(this, 'Agent', {
      sessions: this.sessions,
      network: this.network,
      architecture: config.architecture,
      desiredCount: config.desiredCount,
      maxTasks: config.maxTasks,
      modelId: config.modelId,
      bedrockFoundationModels: config.bedrockFoundationModels,
      bedrockRegion: config.bedrockRegion ?? this.region,
      mcpFunction: this.mcp.function,
      mcpUrl: this.mcp.endpoint,
      mcpTimeout: this.mcp.timeout,
      allowedCidrs: config.allowedCidrs,
      certificateArn: config.certificateArn,
      domainName: config.domainName,
      oidc: config.oidc,
      logRetention,
      repoRoot: props.repoRoot,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      loadBalancer: this.agent.loadBalancer,
      targetGroup: this.agent.targetGroup,
      service: this.agent.service,
      desiredCount: config.desiredCount,
      mcpFunction: this.mcp.function,
      mcpTimeout: this.mcp.timeout,
      modelId: config.modelId,
      dailyBudgetUsd: config.dailyBudgetUsd,
      alarmEmail: config.alarmEmail,
    });
    if (config.traces) {
      const traces = this.traces = new Traces(this, 'Traces', { enableTransactionSearch: config.transactionSearch });
      for (const [name, value] of Object.entries(traces.environment)) {
        this.mcp.function.addEnvironment(name, value);
        this.agent.container.addEnvironment(name, value);
      }
      traces.grantExport('McpExport', this.mcp.role);
      traces.grantExport('AgentExport', this.agent.taskRole);
    }
    if (config.allowedCidrs.length === 0) {
      Annotations.of(this).addWarningV2(
        'agent:no-allowed-cidrs',
        'allowedCidrs is empty: nobody can reach the chat. Deploy with -c allowedCidrs=203.0.113.0/24 (your range).',
      );
    }
    new CfnOutput(this, 'ChatUrl', { value: this.agent.chatUrl, description: 'Open this in a browser' });
    new CfnOutput(this, 'McpEndpoint', { value: this.mcp.endpoint, description: 'MCP endpoint (Streamable HTTP, AWS_IAM auth)' });
  }
}
