// Trace export (context traces=true): the OTLP endpoint both processes get, the one permission
// each role gains (in a policy of its own), and the account-wide Transaction Search setting only
// when asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synth } from './helpers.ts';

const CIDRS = { allowedCidrs: ['203.0.113.0/24'] };
const ENDPOINT = { 'Fn::Join': ['', ['https://xray.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/v1/traces']] };

type Resource = { Properties: Record<string, any>; DependsOn?: string[] };

function environments(template: ReturnType<typeof synth>['template']) {
  const fn = Object.values(template.findResources('AWS::Lambda::Function')) as Resource[];
  const mcp = fn.find((f) => f.Properties.Environment?.Variables?.CLOUDTRAIL_MCP_SOURCE);
  assert.ok(mcp, 'the MCP function');
  const task = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0] as Resource;
  const container = task.Properties.ContainerDefinitions.find((c: { Name: string }) => c.Name === 'agent');
  const agent = Object.fromEntries(container.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
  return { mcp: mcp.Properties.Environment.Variables as Record<string, unknown>, agent };
}

function xrayPolicies(template: ReturnType<typeof synth>['template']) {
  return (Object.values(template.findResources('AWS::IAM::Policy')) as Resource[])
    .filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes('xray:'));
}

test('without the context nothing exports traces and no role may', () => {
  const { template } = synth(CIDRS);
  const { mcp, agent } = environments(template);
  for (const env of [mcp, agent]) {
    assert.ok(!Object.keys(env).some((k) => k.startsWith('OTEL_')), JSON.stringify(env));
  }
  assert.equal(xrayPolicies(template).length, 0);
  assert.equal(Object.keys(template.findResources('AWS::XRay::TransactionSearchConfig')).length, 0);
});

test('traces=true points both processes at the region\'s X-Ray OTLP endpoint with one grant each', () => {
  const { template } = synth({ ...CIDRS, traces: true });
  const { mcp, agent } = environments(template);
  for (const env of [mcp, agent]) {
    assert.deepEqual(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, ENDPOINT);
    assert.equal(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, 'http/protobuf');
  }
  const policies = xrayPolicies(template);
  assert.equal(policies.length, 2);
  const roles = new Set<string>();
  for (const policy of policies) {
    assert.deepEqual(policy.Properties.PolicyDocument.Statement, [
      { Action: 'xray:PutTraceSegments', Effect: 'Allow', Resource: '*' },
    ]);
    assert.equal(policy.Properties.Roles.length, 1);
    roles.add(policy.Properties.Roles[0].Ref);
  }
  const roleIds = Object.keys(template.findResources('AWS::IAM::Role'));
  const taskRole = roleIds.find((id) => id.startsWith('AgentTaskRole'));
  const mcpRole = roleIds.find((id) => id.startsWith('McpRole'));
  assert.deepEqual([...roles].sort(), [taskRole, mcpRole].sort());
  // The account-wide setting is left alone unless asked for.
  assert.equal(Object.keys(template.findResources('AWS::XRay::TransactionSearchConfig')).length, 0);
});

test('transactionSearch=true turns Transaction Search on after letting X-Ray write the span log groups', () => {
  const { template } = synth({ ...CIDRS, traces: true, transactionSearch: true });
  const configs = template.findResources('AWS::XRay::TransactionSearchConfig') as Record<string, Resource>;
  assert.equal(Object.keys(configs).length, 1);
  const [config] = Object.values(configs);
  assert.equal(config.Properties.IndexingPercentage, 1);
  const policies = template.findResources('AWS::Logs::ResourcePolicy') as Record<string, Resource>;
  const [policyId, policy] = Object.entries(policies).find(([, p]) => String(JSON.stringify(p)).includes('xray.amazonaws.com'))!;
  assert.deepEqual(config.DependsOn, [policyId]);
  const document = JSON.stringify(policy.Properties.PolicyDocument);
  assert.match(document, /logs:PutLogEvents/);
  assert.match(document, /log-group:aws\/spans:\*/);
  assert.match(document, /aws:SourceAccount/);
});
