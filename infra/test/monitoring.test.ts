// The alarms (each one's metric, threshold, comparison and action: the one SNS topic), the
// optional e-mail subscription, the EMF switch of the agent and the dashboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { synth } from './helpers.ts';

const CIDRS = { allowedCidrs: ['203.0.113.0/24'] };

type Alarm = { Properties: Record<string, unknown> };

function alarms(context: Record<string, unknown> = {}) {
  const { template } = synth({ ...CIDRS, ...context });
  const all = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Alarm[];
  const topics = Object.keys(template.findResources('AWS::SNS::Topic'));
  assert.equal(topics.length, 1, 'one alarm topic');
  const byMetric = (namespace: string, metricName: string) => {
    const found = all.filter((a) => a.Properties.Namespace === namespace && a.Properties.MetricName === metricName);
    assert.equal(found.length, 1, `one alarm on ${namespace} ${metricName}`);
    const alarm = found[0].Properties;
    assert.deepEqual(alarm.AlarmActions, [{ Ref: topics[0] }], `${metricName} notifies the topic`);
    return alarm;
  };
  return { template, all, byMetric };
}

test('every alarm watches its metric with its threshold and notifies the one topic', () => {
  const { all, byMetric } = alarms({ desiredCount: 2, dailyBudgetUsd: 30 });
  assert.equal(all.length, 9);
  const expect = (alarm: Record<string, unknown>, fields: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(fields)) assert.deepEqual(alarm[key], value, key);
  };
  const ge = 'GreaterThanOrEqualToThreshold';
  expect(byMetric('AWS/ApplicationELB', 'HTTPCode_ELB_5XX_Count'), { Threshold: 5, Statistic: 'Sum', Period: 300, ComparisonOperator: ge });
  expect(byMetric('AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count'), { Threshold: 5, Statistic: 'Sum', Period: 300, ComparisonOperator: ge });
  expect(byMetric('AWS/ApplicationELB', 'UnHealthyHostCount'), { Threshold: 1, Statistic: 'Maximum', Period: 60, EvaluationPeriods: 3 });
  const tasks = byMetric('ECS/ContainerInsights', 'RunningTaskCount');
  expect(tasks, { Threshold: 2, Statistic: 'Minimum', ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching', EvaluationPeriods: 5 });
  assert.deepEqual((tasks.Dimensions as { Name: string }[]).map((d) => d.Name).sort(), ['ClusterName', 'ServiceName']);
  expect(byMetric('AWS/Lambda', 'Errors'), { Threshold: 3, Statistic: 'Sum', ComparisonOperator: ge });
  expect(byMetric('AWS/Lambda', 'Throttles'), { Threshold: 1, Statistic: 'Sum', ComparisonOperator: ge });
  // 90% of the function's 55 s timeout.
  expect(byMetric('AWS/Lambda', 'Duration'), { Threshold: 49500, Statistic: 'Maximum', ComparisonOperator: ge });
  const bedrock = byMetric('AWS/Bedrock', 'InvocationThrottles');
  expect(bedrock, { Threshold: 5, Statistic: 'Sum' });
  assert.deepEqual(bedrock.Dimensions, [{ Name: 'ModelId', Value: 'global.anthropic.claude-sonnet-4-5-20250929-v1:0' }]);
  expect(byMetric('OpsAgent', 'CostUSD'), { Threshold: 30, Statistic: 'Sum', Period: 86400, ComparisonOperator: 'GreaterThanThreshold' });
});

test('alarms are e-mailed only when alarmEmail is set, and a bad address is refused', () => {
  const none = alarms().template;
  none.resourceCountIs('AWS::SNS::Subscription', 0);
  const some = alarms({ alarmEmail: 'ops@example.com' }).template;
  some.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  assert.throws(() => alarms({ alarmEmail: 'not an address' }), /alarmEmail must be an e-mail address/);
});

test('the agent writes EMF metrics, and one dashboard shows them with the alarms', () => {
  const { template } = alarms();
  template.hasResourceProperties('AWS::ECS::TaskDefinition', {
    ContainerDefinitions: Match.arrayWith([Match.objectLike({
      Environment: Match.arrayWith([{ Name: 'AGENT_METRICS_EMF', Value: 'true' }]),
    })]),
  });
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  assert.equal(dashboards.length, 1);
  const body = JSON.stringify(dashboards[0].Properties.DashboardBody);
  for (const metric of ['CostUSD', 'InputTokens', 'CacheReadTokens', 'ModelCalls', 'ToolCalls', 'Duration']) {
    assert.ok(body.includes(metric), `the dashboard shows ${metric}`);
  }
});
