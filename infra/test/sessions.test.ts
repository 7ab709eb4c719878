// The sessions table and what the agent may do with it: key schema, on-demand billing, PITR,
// encryption, the TTL attribute the agent writes, RETAIN; the task role's item operations on this
// table only; the agent configured to use it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { synth } from './helpers.ts';

const CIDRS = { allowedCidrs: ['203.0.113.0/24'] };

function tableId(template: Template): string {
  const tables = Object.keys(template.findResources('AWS::DynamoDB::Table'));
  assert.equal(tables.length, 1, 'one table: the sessions');
  return tables[0];
}

test('the sessions table: pk/sk strings, on demand, PITR, AWS managed encryption, TTL on expires_at, retained', () => {
  const { template } = synth(CIDRS);
  const id = tableId(template);
  template.hasResource('AWS::DynamoDB::Table', {
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
    },
  });
  const table = template.toJSON().Resources[id];
  assert.equal(table.Properties.GlobalSecondaryIndexes, undefined, 'no indexes: the store queries by key only');
  assert.equal(table.Properties.TableName, undefined, 'a generated name: a second stack gets its own table');
});

test('the task role may run the store item operations on the sessions table, and nothing else on DynamoDB', () => {
  const { template } = synth(CIDRS);
  const id = tableId(template);
  const statements: { Action: string | string[]; Resource: unknown; Effect: string }[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      const list = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      if (list.some((a: string) => a.startsWith('dynamodb:'))) {
        statements.push(statement);
        assert.ok(JSON.stringify(policy.Properties.Roles).includes('AgentTaskRole'), 'only the task role');
      }
    }
  }
  assert.equal(statements.length, 1, JSON.stringify(statements));
  const [statement] = statements;
  assert.equal(statement.Effect, 'Allow');
  assert.deepEqual([statement.Action].flat().sort(), [
    'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
  ]);
  // The table's ARN itself: no index ARNs, no wildcard.
  assert.deepEqual(statement.Resource, { 'Fn::GetAtt': [id, 'Arn'] });
});

test('the agent keeps its chats in that table', () => {
  const { template } = synth(CIDRS);
  const id = tableId(template);
  const [task] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  const env: { Name: string; Value: unknown }[] = task.Properties.ContainerDefinitions[0].Environment;
  const value = (name: string) => env.find((e) => e.Name === name)?.Value;
  assert.equal(value('AGENT_SESSION_STORE'), 'dynamodb');
  assert.deepEqual(value('AGENT_SESSIONS_TABLE'), { Ref: id });
});
