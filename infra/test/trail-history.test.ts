// The opt-in trail history (context trailBucketName): the Glue table and its projection, the
// enforced workgroup, the results bucket, the MCP role's exact Athena/Glue/S3/KMS statements and
// the function's environment; and that none of it exists without the context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { synth } from './helpers.ts';
import { ATHENA_ACTIONS, CLOUDTRAIL_COLUMNS, GLUE_ACTIONS, RESULT_OBJECT_ACTIONS, RESULTS_PREFIX } from '../lib/trail-history.ts';

const CIDRS = { allowedCidrs: ['203.0.113.0/24'] };
const KEY = 'arn:aws:kms:ap-northeast-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab';
/** An organization trail with an SSE-KMS key, two member accounts and two regions. */
const ORG = {
  ...CIDRS,
  trailBucketName: 'org-trail-logs',
  trailOrganizationId: 'o-a1b2c3d4e5',
  trailAccounts: '111122223333,444455556666',
  trailRegions: 'us-east-1,eu-west-1',
  trailKmsKeyArn: KEY,
  trailStartDate: '2024-03-01',
  athenaBytesScannedCutoffMb: 2000,
  historyMaxDays: 180,
};
/** A single-account trail: only the bucket named. */
const SINGLE = { ...CIDRS, trailBucketName: 'my-trail-bucket' };

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };

function mcpStatements(template: Template): Statement[] {
  const statements: Statement[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    if (JSON.stringify(policy.Properties.Roles).includes('McpRole')) statements.push(...policy.Properties.PolicyDocument.Statement);
  }
  return statements;
}

const list = (value: unknown) => (Array.isArray(value) ? value : [value]);
const only = <T>(items: T[], what: string): T => {
  assert.equal(items.length, 1, `${what}: ${JSON.stringify(items)}`);
  return items[0];
};
const resultsId = (template: Template) => only(Object.keys(template.findResources('AWS::S3::Bucket')).filter((id) => id.startsWith('TrailHistoryResults')), 'results bucket');

function lambdaEnv(template: Template): Record<string, string> {
  const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'provided.al2023' } }));
  return fn.Properties.Environment.Variables;
}

test('without trailBucketName: no Glue, Athena or results bucket, the function reads LookupEvents', () => {
  const { template } = synth(CIDRS);
  for (const type of ['AWS::Glue::Database', 'AWS::Glue::Table', 'AWS::Athena::WorkGroup']) template.resourceCountIs(type, 0);
  assert.deepEqual(Object.keys(template.findResources('AWS::S3::Bucket')).filter((id) => id.includes('TrailHistory')), []);
  const env = lambdaEnv(template);
  assert.equal(env.CLOUDTRAIL_MCP_SOURCE, 'api');
  assert.deepEqual(Object.keys(env).filter((k) => k.includes('ATHENA')), []);
  const text = JSON.stringify(mcpStatements(template));
  for (const service of ['athena:', 'glue:', 's3:', 'kms:']) assert.ok(!text.includes(service), `${service} granted: ${text}`);
});

test('the Glue table is the documented CloudTrail table with account, region and day projection (organization trail)', () => {
  const { template } = synth(ORG);
  const database = only(Object.values(template.findResources('AWS::Glue::Database')), 'database');
  const table = only(Object.values(template.findResources('AWS::Glue::Table')), 'table');
  const input = table.Properties.TableInput;
  assert.equal(table.Properties.DatabaseName, database.Properties.DatabaseInput.Name);
  assert.equal(input.TableType, 'EXTERNAL_TABLE');
  assert.deepEqual(input.PartitionKeys, [
    { Name: 'account', Type: 'string' }, { Name: 'region', Type: 'string' }, { Name: 'timestamp', Type: 'string' },
  ]);
  assert.deepEqual(input.Parameters, {
    EXTERNAL: 'TRUE',
    classification: 'cloudtrail',
    'projection.enabled': 'true',
    'projection.account.type': 'enum',
    'projection.account.values': '111122223333,444455556666',
    'projection.region.type': 'enum',
    'projection.region.values': 'us-east-1,eu-west-1',
    'projection.timestamp.type': 'date',
    'projection.timestamp.format': 'yyyy/MM/dd',
    'projection.timestamp.range': '2024/03/01,NOW',
    'projection.timestamp.interval': '1',
    'projection.timestamp.interval.unit': 'DAYS',
    'storage.location.template': 's3://org-trail-logs/AWSLogs/o-a1b2c3d4e5/${account}/CloudTrail/${region}/${timestamp}',
  });
  const storage = input.StorageDescriptor;
  assert.equal(storage.Location, 's3://org-trail-logs/AWSLogs/o-a1b2c3d4e5/');
  assert.equal(storage.InputFormat, 'com.amazon.emr.cloudtrail.CloudTrailInputFormat');
  assert.equal(storage.OutputFormat, 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat');
  assert.equal(storage.SerdeInfo.SerializationLibrary, 'org.apache.hive.hcatalog.data.JsonSerDe');
  assert.deepEqual(storage.Columns, CLOUDTRAIL_COLUMNS.map(([Name, Type]) => ({ Name, Type })));
  // The columns cloudtrail-mcp's SQL compiler reads, with the documented types.
  const types = Object.fromEntries(CLOUDTRAIL_COLUMNS);
  for (const name of ['eventid', 'eventtime', 'eventsource', 'eventname', 'awsregion', 'sourceipaddress', 'useragent',
    'errorcode', 'errormessage', 'readonly', 'requestparameters', 'responseelements', 'additionaleventdata', 'requestid',
    'eventtype', 'recipientaccountid', 'eventversion']) assert.equal(types[name], 'string', name);
  assert.equal(types.resources, 'array<struct<arn:string,accountid:string,type:string>>');
  assert.match(types.useridentity, /^struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,username:string,/);
});

test('a single-account trail: the deploying account, the default regions, no organization folder', () => {
  const { template } = synth(SINGLE);
  const input = only(Object.values(template.findResources('AWS::Glue::Table')), 'table').Properties.TableInput;
  assert.equal(input.Parameters['projection.account.values'], '123456789012', 'the stack account');
  assert.equal(input.Parameters['projection.region.values'].split(',').length, 17);
  assert.ok(input.Parameters['projection.region.values'].split(',').includes('ap-northeast-1'));
  assert.equal(input.Parameters['projection.timestamp.range'], '2020/01/01,NOW');
  assert.equal(input.Parameters['storage.location.template'], 's3://my-trail-bucket/AWSLogs/${account}/CloudTrail/${region}/${timestamp}');
  assert.equal(input.StorageDescriptor.Location, 's3://my-trail-bucket/AWSLogs/');
  const read = only(mcpStatements(template).filter((s) => s.Sid === 'ReadTheTrail'), 'read');
  assert.deepEqual(read.Resource, 'arn:aws:s3:::my-trail-bucket/AWSLogs/123456789012/CloudTrail/*');
  assert.equal(mcpStatements(template).filter((s) => JSON.stringify(s.Action).includes('kms:')).length, 0, 'no key, no kms grant');
});

test('the workgroup enforces its settings: cutoff, encrypted results in this bucket, engine 3, metrics', () => {
  const { template } = synth(ORG);
  const group = only(Object.values(template.findResources('AWS::Athena::WorkGroup')), 'workgroup').Properties;
  assert.equal(group.Name, 'Test-trail-history');
  assert.equal(group.State, 'ENABLED');
  const c = group.WorkGroupConfiguration;
  assert.equal(c.EnforceWorkGroupConfiguration, true);
  assert.equal(c.BytesScannedCutoffPerQuery, 2_000_000_000, '2000 MB of 10^6 bytes');
  assert.equal(c.PublishCloudWatchMetricsEnabled, true);
  assert.equal(c.RequesterPaysEnabled, false);
  assert.deepEqual(c.EngineVersion, { SelectedEngineVersion: 'Athena engine version 3' });
  assert.deepEqual(c.ResultConfiguration.EncryptionConfiguration, { EncryptionOption: 'SSE_S3' });
  assert.equal(c.ResultConfiguration.ExpectedBucketOwner, '123456789012');
  assert.deepEqual(c.ResultConfiguration.OutputLocation, { 'Fn::Join': ['', ['s3://', { Ref: resultsId(template) }, `/${RESULTS_PREFIX}/`]] });
  // The default cutoff: 10 GB; Athena's minimum (10 MB) is the lowest accepted.
  const defaults = only(Object.values(synth(SINGLE).template.findResources('AWS::Athena::WorkGroup')), 'workgroup');
  assert.equal(defaults.Properties.WorkGroupConfiguration.BytesScannedCutoffPerQuery, 10_000_000_000);
  const lowest = only(Object.values(synth({ ...SINGLE, athenaBytesScannedCutoffMb: 10 }).template.findResources('AWS::Athena::WorkGroup')), 'workgroup');
  assert.equal(lowest.Properties.WorkGroupConfiguration.BytesScannedCutoffPerQuery, 10_000_000);
});

test('the results bucket: encrypted, private, SSL only, results expire after 7 days, uploads aborted', () => {
  const { template } = synth(ORG);
  const id = resultsId(template);
  const bucket = template.findResources('AWS::S3::Bucket')[id];
  assert.equal(bucket.DeletionPolicy, 'Retain');
  assert.deepEqual(bucket.Properties.BucketEncryption, { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
  assert.deepEqual(bucket.Properties.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  assert.deepEqual(bucket.Properties.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  assert.deepEqual(bucket.Properties.LifecycleConfiguration, { Rules: [{ ExpirationInDays: 7, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }] });
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: id },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
      Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    })]) },
  });
});

test("the MCP role: queries in the workgroup, the table's metadata, the trail's CloudTrail folders, the results prefix, the key through S3", () => {
  const { template } = synth(ORG);
  const results = resultsId(template);
  const arn = { 'Fn::GetAtt': [results, 'Arn'] };
  const added = mcpStatements(template).filter((s) => s.Sid);
  const bySid = Object.fromEntries(added.map((s) => [s.Sid, s]));
  assert.deepEqual(Object.keys(bySid).sort(), ['AthenaQueriesInTheWorkgroup', 'BucketLocations', 'DecryptTheTrailThroughS3',
    'GlueTableMetadata', 'ListQueryResults', 'ListTheTrail', 'ReadTheTrail', 'WriteAndReadQueryResults']);
  for (const s of added) assert.equal(s.Effect, 'Allow');
  const actionsOf = (s: Statement) => list(s.Action).slice().sort();
  assert.deepEqual(bySid.AthenaQueriesInTheWorkgroup.Action, ATHENA_ACTIONS);
  assert.deepEqual(actionsOf(bySid.AthenaQueriesInTheWorkgroup), ['athena:GetQueryExecution', 'athena:GetQueryResults',
    'athena:GetWorkGroup', 'athena:StartQueryExecution', 'athena:StopQueryExecution']);
  assert.equal(bySid.AthenaQueriesInTheWorkgroup.Resource, 'arn:aws:athena:ap-northeast-1:123456789012:workgroup/Test-trail-history');
  assert.deepEqual(actionsOf(bySid.GlueTableMetadata), GLUE_ACTIONS);
  assert.deepEqual(bySid.GlueTableMetadata.Resource, [
    'arn:aws:glue:ap-northeast-1:123456789012:catalog',
    'arn:aws:glue:ap-northeast-1:123456789012:database/test_cloudtrail',
    'arn:aws:glue:ap-northeast-1:123456789012:table/test_cloudtrail/trail',
  ]);
  assert.deepEqual(actionsOf(bySid.ReadTheTrail), ['s3:GetObject']);
  assert.deepEqual(bySid.ReadTheTrail.Resource, [
    'arn:aws:s3:::org-trail-logs/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/*',
    'arn:aws:s3:::org-trail-logs/AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail/*',
  ]);
  assert.deepEqual(bySid.ListTheTrail, {
    Sid: 'ListTheTrail', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::org-trail-logs',
    Condition: { StringLike: { 's3:prefix': ['AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/*', 'AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail/*'] } },
  });
  assert.deepEqual(bySid.BucketLocations.Action, 's3:GetBucketLocation');
  assert.deepEqual(bySid.BucketLocations.Resource, ['arn:aws:s3:::org-trail-logs', arn]);
  assert.deepEqual(actionsOf(bySid.WriteAndReadQueryResults), RESULT_OBJECT_ACTIONS);
  assert.deepEqual(bySid.WriteAndReadQueryResults.Resource, { 'Fn::Join': ['', [arn, `/${RESULTS_PREFIX}/*`]] });
  assert.deepEqual(bySid.ListQueryResults, {
    Sid: 'ListQueryResults', Effect: 'Allow', Action: 's3:ListBucket', Resource: arn,
    Condition: { StringLike: { 's3:prefix': [`${RESULTS_PREFIX}/*`] } },
  });
  assert.deepEqual(bySid.DecryptTheTrailThroughS3, {
    Sid: 'DecryptTheTrailThroughS3', Effect: 'Allow', Action: 'kms:Decrypt', Resource: KEY,
    Condition: { StringEquals: { 'kms:ViaService': 's3.ap-northeast-1.amazonaws.com' } },
  });
  // No write anywhere but the results prefix, no delete at all.
  const writes = added.filter((s) => actionsOf(s).some((a) => /Put|Delete|Create|Update|Abort/.test(a)));
  assert.deepEqual(writes.map((s) => s.Sid), ['WriteAndReadQueryResults']);
});

test('the function runs --source athena on exactly the workgroup, database and table of the stack, waiting under its timeout', () => {
  const { template } = synth(ORG);
  const env = lambdaEnv(template);
  const group = only(Object.values(template.findResources('AWS::Athena::WorkGroup')), 'workgroup').Properties;
  const table = only(Object.values(template.findResources('AWS::Glue::Table')), 'table').Properties;
  assert.equal(env.CLOUDTRAIL_MCP_SOURCE, 'athena');
  assert.equal(env.CLOUDTRAIL_MCP_ATHENA_WORKGROUP, group.Name);
  assert.equal(env.CLOUDTRAIL_MCP_ATHENA_DATABASE, table.DatabaseName);
  assert.equal(env.CLOUDTRAIL_MCP_ATHENA_TABLE, table.TableInput.Name);
  assert.equal(env.CLOUDTRAIL_MCP_ATHENA_MAX_DAYS, '180');
  const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'provided.al2023' } }));
  const wait = Number(env.CLOUDTRAIL_MCP_ATHENA_WAIT_SECS);
  // Room after the wait to page the results and answer before the function times out.
  assert.ok(wait >= 10 && wait + 10 <= fn.Properties.Timeout, `wait ${wait} s, timeout ${fn.Properties.Timeout} s`);
  assert.equal(lambdaEnv(synth(SINGLE).template).CLOUDTRAIL_MCP_ATHENA_MAX_DAYS, '365');
});
