// Fine-grained assertions on the synthesized template: the security facts (IAM exactly as
// intended, AWS_IAM Function URL, private tasks, ALB ingress only from the configured CIDRs,
// HTTPS + OIDC when configured), log retention, and architectures matching the configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { HTTPS_OIDC, synth } from './helpers.ts';

const CIDRS = { allowedCidrs: ['203.0.113.0/24'] };
const HTTPS = { ...CIDRS, ...HTTPS_OIDC };

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };

function statementsOf(template: Template, rolePrefix: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const statements: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const roles = JSON.stringify(policy.Properties.Roles);
    if (roles.includes(rolePrefix)) statements.push(...policy.Properties.PolicyDocument.Statement);
  }
  return statements;
}

const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]).slice().sort();

test('the MCP Function URL uses AWS_IAM auth, buffered, and the function runs provided.al2023 on arm64', () => {
  const { template } = synth(CIDRS);
  template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', InvokeMode: 'BUFFERED' });
  template.resourcePropertiesCountIs('AWS::Lambda::Url', { AuthType: 'NONE' }, 0);
  template.hasResourceProperties('AWS::Lambda::Function', {
    Architectures: ['arm64'],
    Runtime: 'provided.al2023',
    Handler: 'bootstrap',
    Timeout: 55,
    Environment: { Variables: Match.objectLike({ CLOUDTRAIL_MCP_SOURCE: 'api', CLOUDTRAIL_MCP_REDACT_SOURCE_IP: 'false' }) },
    LoggingConfig: Match.objectLike({ LogGroup: Match.anyValue() }),
  });
});

test("a summary's scan ends before the function times out, and the function before the agent stops waiting", () => {
  // Out of order, a busy window's summary would be a timeout instead of lower-bound counts.
  const { template } = synth(CIDRS);
  const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'provided.al2023' } }));
  const env: Record<string, string> = fn.Properties.Environment.Variables;
  const scan = Number(env.CLOUDTRAIL_MCP_SUMMARY_SCAN_SECS);
  const [task] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  const agentEnv: { Name: string; Value: string }[] = task.Properties.ContainerDefinitions[0].Environment;
  const toolTimeout = Number(agentEnv.find((e) => e.Name === 'AGENT_TOOL_TIMEOUT_SECS')?.Value);
  assert.ok(scan >= 1 && scan + 5 <= fn.Properties.Timeout, `scan ${scan} s, timeout ${fn.Properties.Timeout} s`);
  assert.ok(fn.Properties.Timeout < toolTimeout, `timeout ${fn.Properties.Timeout} s, agent waits ${toolTimeout} s`);
  // The agent asks every tool for at most 32 KiB (max_bytes); the server's own limit, when set,
  // must allow at least that, or a summary would lose list entries for nothing.
  const limit = env.CLOUDTRAIL_MCP_MAX_RESPONSE_BYTES;
  assert.ok(limit === undefined || Number(limit) >= 32768, `CLOUDTRAIL_MCP_MAX_RESPONSE_BYTES=${limit}`);
});

test("the MCP function's role may look up CloudTrail events and write its own logs, nothing else", () => {
  const { template } = synth(CIDRS);
  const statements = statementsOf(template, 'McpRole');
  assert.equal(statements.length, 2, JSON.stringify(statements));
  assert.deepEqual(actions(statements[0]), ['cloudtrail:LookupEvents']);
  assert.equal(statements[0].Resource, '*');
  assert.deepEqual(actions(statements[1]), ['logs:CreateLogStream', 'logs:PutLogEvents']);
  assert.ok(JSON.stringify(statements[1].Resource).includes('McpLogs'), 'scoped to its log group');
  const roles = Object.entries(template.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('McpRole'));
  assert.equal(roles.length, 1);
  assert.equal(roles[0][1].Properties.ManagedPolicyArns, undefined, 'no managed policies');
  assert.equal(roles[0][1].Properties.Policies, undefined, 'no other inline policies');
  // The MCP server is the only function of ours (CDK's custom resource that locks down the
  // VPC's default security group is the other one).
  template.resourcePropertiesCountIs('AWS::Lambda::Function', { Runtime: 'provided.al2023' }, 1);
});

test("the MCP function searches the context's regions (CLOUDTRAIL_MCP_REGIONS), and its own region by default", () => {
  const mcpEnv = (template: Template): Record<string, string> => {
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'provided.al2023' } }));
    return fn.Properties.Environment.Variables;
  };
  assert.equal(mcpEnv(synth(CIDRS).template).CLOUDTRAIL_MCP_REGIONS, undefined);
  const env = mcpEnv(synth({ ...CIDRS, regions: 'ap-northeast-1,eu-west-1' }).template);
  assert.equal(env.CLOUDTRAIL_MCP_REGIONS, 'ap-northeast-1,eu-west-1');
  assert.equal(env.CLOUDTRAIL_MCP_SOURCE, 'api');
});

test('the task role may invoke the configured model, the MCP Function URL and the sessions table only', () => {
  const { template } = synth(CIDRS);
  const statements = statementsOf(template, 'AgentTaskRole');
  const bedrock = statements.filter((s) => actions(s).some((a) => a.startsWith('bedrock:')));
  assert.equal(bedrock.length, 1);
  assert.deepEqual(actions(bedrock[0]), ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
  const resources = JSON.stringify(bedrock[0].Resource);
  assert.ok(resources.includes('inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0'), resources);
  assert.ok(resources.includes('foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0'), resources);
  assert.ok(!resources.includes('foundation-model/*'), 'never every model');
  const lambda = statements.filter((s) => actions(s).some((a) => a.startsWith('lambda:')));
  assert.deepEqual(lambda.map(actions).flat().sort(), ['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']);
  assert.ok(JSON.stringify(lambda).includes('"lambda:FunctionUrlAuthType":"AWS_IAM"'));
  assert.ok(JSON.stringify(lambda).includes('"lambda:InvokedViaFunctionUrl":true'));
  const dynamodb = statements.filter((s) => actions(s).some((a) => a.startsWith('dynamodb:')));
  assert.equal(dynamodb.length, 1, JSON.stringify(dynamodb));
  assert.equal(statements.length, bedrock.length + lambda.length + dynamodb.length, JSON.stringify(statements));
});

/** The Resource list of the task role's one Bedrock statement, sorted. */
function bedrockResources(template: Template): unknown[] {
  const bedrock = statementsOf(template, 'AgentTaskRole').filter((s) => actions(s).some((a) => a.startsWith('bedrock:')));
  assert.equal(bedrock.length, 1, JSON.stringify(bedrock));
  assert.deepEqual(actions(bedrock[0]), ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
  assert.equal(bedrock[0].Condition, undefined);
  const resources = bedrock[0].Resource;
  return (Array.isArray(resources) ? resources : [resources]).slice().sort();
}

test("the task role's Bedrock resources are exactly those of the configured model id's form", () => {
  const sonnet = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
  const appProfile = 'arn:aws:bedrock:ap-northeast-1:123456789012:application-inference-profile/a1b2c3d4e5f6';
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['global profile (the default)', {}, [
      `arn:aws:bedrock:*::foundation-model/${sonnet}`,
      `arn:aws:bedrock:::foundation-model/${sonnet}`,
      `arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/global.${sonnet}`,
    ]],
    ['geographic profile', { modelId: `jp.${sonnet}` }, [
      `arn:aws:bedrock:*::foundation-model/${sonnet}`,
      `arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/jp.${sonnet}`,
    ]],
    ['foundation model, in the Bedrock region', { modelId: sonnet, bedrockRegion: 'us-east-1' }, [
      `arn:aws:bedrock:us-east-1::foundation-model/${sonnet}`,
    ]],
    ['application inference profile', { modelId: appProfile, bedrockFoundationModels: [sonnet, 'anthropic.claude-haiku-4-5-20251001-v1:0'] }, [
      'arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0',
      `arn:aws:bedrock:*::foundation-model/${sonnet}`,
      'arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0',
      `arn:aws:bedrock:::foundation-model/${sonnet}`,
      appProfile,
    ]],
    ['provisioned model ARN', { modelId: 'arn:aws:bedrock:ap-northeast-1:123456789012:provisioned-model/abcdefghij12' }, [
      'arn:aws:bedrock:ap-northeast-1:123456789012:provisioned-model/abcdefghij12',
    ]],
    ['foundation model ARN', { modelId: `arn:aws:bedrock:ap-northeast-1::foundation-model/${sonnet}` }, [
      `arn:aws:bedrock:ap-northeast-1::foundation-model/${sonnet}`,
    ]],
  ];
  for (const [name, context, expected] of cases) {
    const { template } = synth({ ...CIDRS, ...context });
    assert.deepEqual(bedrockResources(template), expected.slice().sort(), name);
  }
});

/** The MCP function's logical id: the target of the (only) Function URL. */
function mcpFunctionId(template: Template): string {
  const urls = Object.values(template.findResources('AWS::Lambda::Url'));
  assert.equal(urls.length, 1);
  const target = urls[0].Properties.TargetFunctionArn;
  assert.deepEqual(Object.keys(target), ['Fn::GetAtt'], JSON.stringify(target));
  const [id, attribute] = target['Fn::GetAtt'];
  assert.equal(attribute, 'Arn');
  assert.equal(template.findResources('AWS::Lambda::Function')[id]?.Properties.Runtime, 'provided.al2023', `${id} is the MCP function`);
  return id;
}

test("the MCP function's reserved concurrency caps it: 3 by default, configurable, none with 0", () => {
  const reserved = (context: Record<string, unknown>) => {
    const { template } = synth({ ...CIDRS, ...context });
    const fn = template.findResources('AWS::Lambda::Function')[mcpFunctionId(template)];
    return fn.Properties.ReservedConcurrentExecutions;
  };
  assert.equal(reserved({}), 3);
  assert.equal(reserved({ mcpReservedConcurrency: 7 }), 7);
  assert.equal(reserved({ mcpReservedConcurrency: '1' }), 1);
  // New accounts (concurrency quota 10) cannot reserve any: 0 leaves the property out entirely.
  assert.equal(reserved({ mcpReservedConcurrency: 0 }), undefined);
  assert.equal(reserved({ mcpReservedConcurrency: '0' }), undefined);
});

test('the task role may invoke the MCP function, and only it, only through its AWS_IAM Function URL', () => {
  for (const context of [CIDRS, HTTPS]) {
    const { template } = synth(context);
    // The function the Function URL targets, by logical id: the grant must name exactly its ARN.
    const functionArn = { 'Fn::GetAtt': [mcpFunctionId(template), 'Arn'] };
    const lambda = statementsOf(template, 'AgentTaskRole').filter((s) => actions(s).some((a) => a.startsWith('lambda:')));
    assert.deepEqual(lambda.flatMap(actions).sort(), ['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']);
    for (const statement of lambda) {
      assert.equal(statement.Effect, 'Allow');
      // Not "*", not a list with versions or aliases (`ARN:*`), not another function.
      assert.deepEqual(statement.Resource, functionArn, `${actions(statement)}: ${JSON.stringify(statement.Resource)}`);
    }
    const viaUrl = lambda.find((s) => actions(s).includes('lambda:InvokeFunctionUrl'));
    assert.deepEqual(viaUrl?.Condition, { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } });
    // InvokeFunction (required for AWS_IAM URLs) only counts when the call comes through the URL.
    const invoke = lambda.find((s) => actions(s).includes('lambda:InvokeFunction'));
    assert.deepEqual(invoke?.Condition, { Bool: { 'lambda:InvokedViaFunctionUrl': true } });
  }
});

test('no IAM statement anywhere grants a wildcard action', () => {
  for (const context of [CIDRS, HTTPS, { ...CIDRS, natGateways: 0 }]) {
    const { template } = synth(context);
    const all = [
      ...Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement),
      ...Object.values(template.findResources('AWS::IAM::Role')).flatMap((r) => (r.Properties.Policies ?? []).flatMap((p: { PolicyDocument: { Statement: Statement[] } }) => p.PolicyDocument.Statement)),
    ] as Statement[];
    for (const statement of all) {
      for (const action of actions(statement)) {
        assert.ok(action !== '*' && !action.endsWith(':*'), `wildcard action ${action}`);
      }
    }
  }
});

test('tasks run in private subnets without public IPs; with no NAT they move to public subnets', () => {
  const { template } = synth(CIDRS);
  const service = Object.values(template.findResources('AWS::ECS::Service'))[0];
  const network = service.Properties.NetworkConfiguration.AwsvpcConfiguration;
  assert.equal(network.AssignPublicIp, 'DISABLED');
  assert.ok(JSON.stringify(network.Subnets).includes('privateSubnet'), JSON.stringify(network.Subnets));
  template.resourceCountIs('AWS::EC2::NatGateway', 1);

  const noNat = synth({ ...CIDRS, natGateways: 0 }).template;
  noNat.resourceCountIs('AWS::EC2::NatGateway', 0);
  const publicTasks = Object.values(noNat.findResources('AWS::ECS::Service'))[0].Properties.NetworkConfiguration.AwsvpcConfiguration;
  assert.equal(publicTasks.AssignPublicIp, 'ENABLED');
  assert.ok(JSON.stringify(publicTasks.Subnets).includes('publicSubnet'));
});

test('the chat listener is reachable only from the configured CIDR ranges (nobody by default)', () => {
  const ingressOf = (template: Template) => {
    const groups = template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('Chat ALB') } });
    return Object.values(groups).flatMap((g) => g.Properties.SecurityGroupIngress ?? []);
  };
  const { template } = synth({ allowedCidrs: ['203.0.113.0/24', '198.51.100.7/32'] });
  const ingress = ingressOf(template);
  assert.deepEqual(ingress.map((r: { CidrIp: string; FromPort: number }) => `${r.CidrIp}:${r.FromPort}`).sort(), ['198.51.100.7/32:80', '203.0.113.0/24:80']);
  template.resourcePropertiesCountIs('AWS::EC2::SecurityGroup', { SecurityGroupIngress: Match.arrayWith([Match.objectLike({ CidrIp: '0.0.0.0/0' })]) }, 0);

  const closed = synth({});
  assert.deepEqual(ingressOf(closed.template), []);
  const warnings = Annotations.fromStack(closed.stack).findWarning('*', Match.stringLikeRegexp('allowedCidrs is empty'));
  assert.equal(warnings.length, 1);
});

test('with a certificate: HTTPS with OIDC authentication before forwarding, HTTP redirects', () => {
  const { template } = synth(HTTPS);
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 443,
    Protocol: 'HTTPS',
    Certificates: [{ CertificateArn: HTTPS.certificateArn }],
    DefaultActions: [
      Match.objectLike({ Type: 'authenticate-oidc', Order: 1, AuthenticateOidcConfig: Match.objectLike({ Issuer: HTTPS.oidcIssuer, ClientId: 'agent' }) }),
      Match.objectLike({ Type: 'forward', Order: 2 }),
    ],
  });
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 80,
    DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }) })],
  });
  // The client secret is a Secrets Manager reference, never plain text.
  const listeners = JSON.stringify(template.findResources('AWS::ElasticLoadBalancingV2::Listener'));
  assert.ok(listeners.includes('{{resolve:secretsmanager:'), 'secret resolved by CloudFormation');
  template.hasResourceProperties('AWS::ECS::TaskDefinition', {
    ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'AGENT_SECURE_COOKIE', Value: 'true' }]) })],
  });
  const outputs = template.findOutputs('ChatUrl');
  assert.equal(Object.values(outputs)[0].Value, 'https://chat.example.com/');
});

test('with OIDC the agent verifies the ALB sign-in token against this ALB and applies the allow-lists', () => {
  const envOf = (context: Record<string, unknown>) => {
    const { template } = synth(context);
    const [task] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const env: { Name: string; Value: unknown }[] = task.Properties.ContainerDefinitions[0].Environment;
    const [albId] = Object.keys(template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'));
    return { value: (name: string) => env.find((e) => e.Name === name)?.Value, albId };
  };
  const oidc = envOf(HTTPS);
  // Ref of an ALB is its ARN: the `signer` the agent requires in each token's header.
  assert.deepEqual(oidc.value('AGENT_ALB_ARN'), { Ref: oidc.albId });
  assert.equal(oidc.value('AGENT_REQUIRE_ALB_IDENTITY'), 'true');
  assert.equal(oidc.value('AGENT_ALLOWED_EMAIL_DOMAINS'), 'example.com');
  assert.equal(oidc.value('AGENT_ALLOWED_GROUPS'), 'secops,platform');
  assert.equal(oidc.value('AGENT_GROUPS_CLAIM'), 'cognito:groups');
  // Without OIDC nothing could sign a token: the agent is not told to expect one.
  const plain = envOf(CIDRS);
  for (const name of ['AGENT_ALB_ARN', 'AGENT_REQUIRE_ALB_IDENTITY', 'AGENT_ALLOWED_EMAIL_DOMAINS']) {
    assert.equal(plain.value(name), undefined, name);
  }
});

test('the agent serves only the names browsers reach it by (DNS rebinding) and trusts the ALB for client addresses', () => {
  const hostsOf = (context: Record<string, unknown>) => {
    const { template } = synth(context);
    const [task] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const env: { Name: string; Value: unknown }[] = task.Properties.ContainerDefinitions[0].Environment;
    assert.equal(env.find((e) => e.Name === 'AGENT_TRUST_FORWARDED_FOR')?.Value, 'true');
    const [albId] = Object.keys(template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'));
    return { hosts: JSON.stringify(env.find((e) => e.Name === 'AGENT_ALLOWED_HOSTS')?.Value), albId };
  };
  const plain = hostsOf(CIDRS);
  assert.ok(plain.hosts.includes(`{"Fn::GetAtt":["${plain.albId}","DNSName"]}`), plain.hosts);
  const https = hostsOf(HTTPS);
  assert.ok(https.hosts.includes('chat.example.com,') && https.hosts.includes(`"${https.albId}","DNSName"`), https.hosts);
});

test('the agent is wired to the Function URL with iam auth, health-checked, sticky, and rolls back', () => {
  const { template } = synth(CIDRS);
  template.hasResourceProperties('AWS::ECS::TaskDefinition', {
    RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
    ContainerDefinitions: [Match.objectLike({
      ReadonlyRootFilesystem: true,
      Environment: Match.arrayWith([
        { Name: 'AGENT_MODEL', Value: 'bedrock' },
        { Name: 'AGENT_MCP_AUTH', Value: 'iam' },
        { Name: 'AGENT_MCP_REGION', Value: 'ap-northeast-1' },
        // A little longer than the function's 55 s timeout, so its own error arrives first.
        { Name: 'AGENT_TOOL_TIMEOUT_SECS', Value: '58' },
      ]),
    })],
  });
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
    HealthCheckPath: '/healthz',
    TargetGroupAttributes: Match.arrayWith([
      { Key: 'deregistration_delay.timeout_seconds', Value: '10' },
      { Key: 'stickiness.enabled', Value: 'true' },
    ]),
  });
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
    Scheme: 'internet-facing',
    LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '300' }]),
  });
  template.hasResourceProperties('AWS::ECS::Service', {
    DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
  });
  // The MCP URL is the Function URL plus the route the server serves: a Function URL passes the
  // path through unchanged, and cloudtrail-mcp answers 404 on `/`.
  const [task] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  const env: { Name: string; Value: unknown }[] = task.Properties.ContainerDefinitions[0].Environment;
  const mcpUrl = env.find((e) => e.Name === 'AGENT_MCP_URL')?.Value as { 'Fn::Join': [string, unknown[]] };
  const [separator, parts] = mcpUrl['Fn::Join'];
  assert.equal(separator, '');
  assert.deepEqual(parts.length, 2, JSON.stringify(mcpUrl));
  assert.match(JSON.stringify(parts[0]), /"Fn::GetAtt":\["McpFunctionFunctionUrl[0-9A-F]+","FunctionUrl"\]/);
  assert.equal(parts[1], 'mcp', 'the Function URL (ending in /) plus mcp');
  assert.deepEqual(template.findOutputs('McpEndpoint').McpEndpoint.Value, mcpUrl);
});

test('every log group has a retention period', () => {
  for (const context of [CIDRS, { ...HTTPS, logRetentionDays: 90 }]) {
    const { template } = synth(context);
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    assert.ok(groups.length >= 3);
    for (const group of groups) assert.ok(group.Properties.RetentionInDays > 0, JSON.stringify(group));
  }
});

test('Lambda and task architectures follow the configuration', () => {
  for (const [arch, lambda, ecs] of [['arm64', 'arm64', 'ARM64'], ['x86_64', 'x86_64', 'X86_64']]) {
    const { template } = synth({ ...CIDRS, architecture: arch });
    template.hasResourceProperties('AWS::Lambda::Function', { Architectures: [lambda], Runtime: 'provided.al2023' });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { RuntimePlatform: Match.objectLike({ CpuArchitecture: ecs }) });
  }
});

test('the ALB reaches out only to the tasks, plus HTTPS to the identity provider when OIDC is on', () => {
  const egressOf = (template: Template) => {
    const groups = template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('Chat ALB') } });
    const inline = Object.values(groups).flatMap((g) => g.Properties.SecurityGroupEgress ?? []);
    const separate = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress'));
    return { inline, separate };
  };
  const plain = egressOf(synth(CIDRS).template);
  assert.deepEqual(plain.inline, [], 'no egress to the internet');
  assert.equal(plain.separate.length, 1);
  assert.equal(plain.separate[0].Properties.FromPort, 8080);
  assert.ok(JSON.stringify(plain.separate[0].Properties.DestinationSecurityGroupId).includes('AgentServiceSecurityGroup'));

  // The ALB itself calls the IdP's token and user-info endpoints during authenticate-oidc.
  const oidc = egressOf(synth(HTTPS).template);
  assert.deepEqual(oidc.inline.map((r: { CidrIp: string; FromPort: number; IpProtocol: string }) => `${r.IpProtocol}:${r.CidrIp}:${r.FromPort}`), ['tcp:0.0.0.0/0:443']);
  assert.equal(oidc.separate.length, 1);
});

test('every Lambda function logs into a log group of the stack that has a retention period', () => {
  // A function without LoggingConfig would create /aws/lambda/NAME on first run, kept forever.
  const cases: [Record<string, unknown>, number][] = [[CIDRS, 30], [{ ...CIDRS, natGateways: 0, logRetentionDays: 7 }, 7]];
  for (const [context, days] of cases) {
    const { template } = synth(context);
    const groups = template.findResources('AWS::Logs::LogGroup');
    const functions = Object.entries(template.findResources('AWS::Lambda::Function'));
    assert.ok(functions.length >= 2, 'the MCP server and CDK\'s default-security-group handler');
    for (const [id, fn] of functions) {
      const ref = fn.Properties.LoggingConfig?.LogGroup?.Ref;
      assert.ok(ref && groups[ref], `${id} logs into a log group of the stack`);
      assert.equal(groups[ref].Properties.RetentionInDays, days, id);
    }
  }
});

test('with HTTPS the configured CIDR ranges may reach ports 443 and 80 (the redirect), nothing else', () => {
  const { template } = synth({ ...HTTPS, allowedCidrs: ['203.0.113.0/24', '198.51.100.7/32'] });
  const groups = template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('Chat ALB') } });
  const ingress = Object.values(groups).flatMap((g) => g.Properties.SecurityGroupIngress ?? []) as { CidrIp: string; FromPort: number; ToPort: number }[];
  assert.deepEqual(ingress.map((r) => `${r.CidrIp}:${r.FromPort}-${r.ToPort}`).sort(), [
    '198.51.100.7/32:443-443', '198.51.100.7/32:80-80', '203.0.113.0/24:443-443', '203.0.113.0/24:80-80',
  ]);
  template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 1); // the tasks' rule: from the ALB only
});

test('the tasks may only make HTTPS connections', () => {
  for (const context of [CIDRS, { ...CIDRS, natGateways: 0 }]) {
    const { template } = synth(context);
    const groups = template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('Agent tasks') } });
    const egress = Object.values(groups).flatMap((g) => g.Properties.SecurityGroupEgress ?? []) as { CidrIp: string; IpProtocol: string; FromPort: number; ToPort: number }[];
    assert.deepEqual(egress.map((r) => `${r.IpProtocol}:${r.CidrIp}:${r.FromPort}-${r.ToPort}`), ['tcp:0.0.0.0/0:443-443']);
  }
});

test('context settings reach the resources: model, Bedrock region, desired count, IP redaction', () => {
  const { template } = synth({
    ...CIDRS,
    modelId: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
    bedrockRegion: 'us-west-2',
    desiredCount: 2,
    redactSourceIp: true,
  });
  template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2 });
  template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 4, ScalableDimension: 'ecs:service:DesiredCount' });
  const policies = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy'))
    .map((p) => p.Properties.TargetTrackingScalingPolicyConfiguration);
  assert.deepEqual(policies.map((c) => [c.PredefinedMetricSpecification.PredefinedMetricType, c.TargetValue]).sort(),
    [['ECSServiceAverageCPUUtilization', 60], ['ECSServiceAverageMemoryUtilization', 70]]);
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ CLOUDTRAIL_MCP_REDACT_SOURCE_IP: 'true' }) },
  });
  template.hasResourceProperties('AWS::ECS::TaskDefinition', {
    ContainerDefinitions: [Match.objectLike({
      Environment: Match.arrayWith([
        { Name: 'AGENT_BEDROCK_MODEL_ID', Value: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0' },
        { Name: 'AGENT_BEDROCK_REGION', Value: 'us-west-2' },
      ]),
    })],
  });
  const bedrock = statementsOf(template, 'AgentTaskRole').filter((s) => actions(s).includes('bedrock:InvokeModel'));
  assert.deepEqual(bedrock.flatMap((s) => s.Resource).sort(), [
    'arn:aws:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0',
    'arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0',
  ]);
});
