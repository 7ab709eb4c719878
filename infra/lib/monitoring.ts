// Alarms and the dashboard: what an operator is paged for (the chat failing, tasks missing, the
// MCP function failing or throttled or close to its timeout, Bedrock throttling, the day's model
// spend over budget), sent to one SNS topic (with an optional e-mail subscription), and one
// dashboard with those and the per-answer metrics the agent writes as EMF (namespace OpsAgent).
import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** The agent's EMF namespace (services/agent/src/metrics.rs). */
export const AGENT_NAMESPACE = 'OpsAgent';

export interface MonitoringProps {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly service: ecs.FargateService;
  readonly desiredCount: number;
  readonly mcpFunction: lambda.IFunction;
  readonly mcpTimeout: Duration;
  /** The model id (or inference profile id) whose Bedrock throttling is watched. */
  readonly modelId: string;
  readonly dailyBudgetUsd: number;
  readonly alarmEmail?: string;
}

export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: Record<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'AWS ops agent alarms', enforceSSL: true });
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SNS2',
      reason: 'Alarm notifications carry alarm names and metric values only; CloudWatch alarms cannot publish to a '
        + 'topic encrypted with the AWS managed SNS key, and a customer managed key for them adds cost and nothing to protect.',
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const notify = new actions.SnsAction(this.topic);
    const fiveMinutes = Duration.minutes(5);
    const alarm = (name: string, metric: cloudwatch.IMetric, options: Partial<cloudwatch.CreateAlarmOptions> & { threshold: number; description: string }) => {
      const created = new cloudwatch.Alarm(this, name, {
        metric,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: options.description,
        ...options,
      });
      created.addAlarmAction(notify);
      return created;
    };
    const timeoutMs = props.mcpTimeout.toMilliseconds();
    this.alarms = {
      albFiveXx: alarm('Alb5xx', props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: fiveMinutes, statistic: 'Sum' }), {
        threshold: 5, description: 'The load balancer answered 5xx (no healthy task, or a task failed the connection) 5 times in 5 minutes',
      }),
      targetFiveXx: alarm('Target5xx', props.loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: fiveMinutes, statistic: 'Sum' }), {
        threshold: 5, description: 'The agent answered 5xx (its session store failing, for one) 5 times in 5 minutes',
      }),
      unhealthyTargets: alarm('UnhealthyTargets', props.targetGroup.metrics.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }), {
        threshold: 1, evaluationPeriods: 3, description: 'An agent task failed its health checks for 3 minutes',
      }),
      runningTasks: alarm('RunningTasksBelowDesired', new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: props.service.cluster.clusterName, ServiceName: props.service.serviceName },
        period: Duration.minutes(1),
        statistic: 'Minimum',
      }), {
        threshold: props.desiredCount,
        evaluationPeriods: 5,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        description: `Fewer agent tasks than the ${props.desiredCount} desired for 5 minutes`,
      }),
      mcpErrors: alarm('McpErrors', props.mcpFunction.metricErrors({ period: fiveMinutes, statistic: 'Sum' }), {
        threshold: 3, description: 'The MCP function failed (crashed or timed out) 3 times in 5 minutes',
      }),
      mcpThrottles: alarm('McpThrottles', props.mcpFunction.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }), {
        threshold: 1, description: 'The MCP function was throttled: its reserved concurrency is exhausted',
      }),
      mcpDuration: alarm('McpDurationNearTimeout', props.mcpFunction.metricDuration({ period: fiveMinutes, statistic: 'Maximum' }), {
        threshold: Math.round(timeoutMs * 0.9),
        description: `An MCP invocation took over 90% of the function's ${props.mcpTimeout.toSeconds()} s timeout`,
      }),
      bedrockThrottles: alarm('BedrockThrottles', new cloudwatch.Metric({
        namespace: 'AWS/Bedrock',
        metricName: 'InvocationThrottles',
        dimensionsMap: { ModelId: props.modelId },
        period: fiveMinutes,
        statistic: 'Sum',
      }), {
        threshold: 5, description: 'Bedrock throttled the model 5 times in 5 minutes (the agent retries, users wait)',
      }),
      dailySpend: alarm('DailySpendOverBudget', new cloudwatch.Metric({
        namespace: AGENT_NAMESPACE,
        metricName: 'CostUSD',
        period: Duration.days(1),
        statistic: 'Sum',
      }), {
        threshold: props.dailyBudgetUsd,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        description: `The day's model spend (the agent's estimate from token counts) is over the ${props.dailyBudgetUsd} USD budget`,
      }),
    };

    const answers = (name: string, statistic = 'Sum') => new cloudwatch.Metric({
      namespace: AGENT_NAMESPACE, metricName: name, period: fiveMinutes, statistic,
    });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({
      title: 'Alarms', alarms: Object.values(this.alarms), width: 24, height: 3,
    }));
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Answers and errors', left: [answers('Answers'), answers('Errors')], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Answer duration (ms)', left: [answers('Duration', 'p50'), answers('Duration', 'p99')], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Cost (USD)', left: [answers('CostUSD')], width: 8 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Tokens',
        left: [answers('InputTokens'), answers('OutputTokens'), answers('CacheReadTokens'), answers('CacheWriteTokens')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({ title: 'Model and tool calls', left: [answers('ModelCalls'), answers('ToolCalls')], width: 12 }),
    );
    this.dashboard.addWidgets(
      ...Object.entries(this.alarms).map(([name, a]) => new cloudwatch.AlarmWidget({ title: name, alarm: a, width: 6 })),
    );
  }
}
