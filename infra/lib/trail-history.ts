// Organization-scale history (opt-in, context `trailBucketName`): the CloudTrail trail's S3 files
// queried with Amazon Athena by cloudtrail-mcp's `--source athena`. A Glue database and table
// (AWS's documented CloudTrail table, partition projection on account, region and day), an Athena
// workgroup whose settings are enforced (bytes-scanned cutoff, encrypted results, engine 3), the
// bucket the results go to, and the MCP role's permissions: queries in that workgroup only, the
// table's metadata only, the trail's CloudTrail prefixes read-only, the results prefix.
//
// Permissions, from AWS's documentation: Athena runs a query with the caller's credentials, so
// the caller needs the Athena actions on the workgroup, Glue read on the table and its ancestors
// (catalog, database: "Configure access to databases and tables in the AWS Glue Data Catalog",
// Athena User Guide), S3 read on the data and read/write on the query result location (the
// `BaseQueryResultsPermissions` of the AmazonAthenaFullAccess managed policy: GetBucketLocation,
// GetObject, ListBucket, ListMultipartUploadParts, AbortMultipartUpload, PutObject), and
// kms:Decrypt on an SSE-KMS trail's key. With partition projection Athena computes the partitions
// from the table's properties and does not call glue:GetPartitions ("Use partition projection with
// Amazon Athena"), so that is not granted.
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { TrailHistoryConfig } from './config.ts';

/** The table's name inside its database (CLOUDTRAIL_MCP_ATHENA_TABLE). */
export const TABLE_NAME = 'trail';

/** Where in the results bucket the workgroup writes query results. */
export const RESULTS_PREFIX = 'athena-results';

/** How long query results are kept: a cursor collects a running query's results within minutes. */
export const RESULTS_EXPIRY_DAYS = 7;

/** The Athena actions cloudtrail-mcp calls (GetWorkGroup: to name the cutoff in its error). */
export const ATHENA_ACTIONS = [
  'athena:GetQueryExecution',
  'athena:GetQueryResults',
  'athena:GetWorkGroup',
  'athena:StartQueryExecution',
  'athena:StopQueryExecution',
];

/** The Glue actions Athena calls with the caller's credentials to read a projected table. */
export const GLUE_ACTIONS = ['glue:GetDatabase', 'glue:GetTable'];

/** The S3 actions on query result objects (AmazonAthenaFullAccess's result permissions). */
export const RESULT_OBJECT_ACTIONS = ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'];

/** Seconds kept between the tool's Athena wait and the function's timeout: paging the results,
 *  projecting and answering after a query ends late in the wait. */
export const WAIT_MARGIN_SECS = 15;

/**
 * AWS's documented CloudTrail table (Athena User Guide, "Create the table for CloudTrail logs in
 * Athena using partition projection"), as Glue column types. cloudtrail-mcp's SQL compiler
 * (services/cloudtrail-mcp/src/source/athena/sql.rs) reads a subset of these columns; the
 * deployed wiring test (tests/deployed/athena.test.mjs) checks that the Athena stand-in's table,
 * on which the compiler's SQL is tested, is a subset of this one.
 */
export const CLOUDTRAIL_COLUMNS: [string, string][] = [
  ['eventversion', 'string'],
  ['useridentity', 'struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,'
    + 'accesskeyid:string,username:string,onbehalfof:struct<userid:string,identitystorearn:string>,'
    + 'sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,'
    + 'sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>,'
    + 'ec2roledelivery:string,webidfederationdata:struct<federatedprovider:string,attributes:map<string,string>>>>'],
  ['eventtime', 'string'],
  ['eventsource', 'string'],
  ['eventname', 'string'],
  ['awsregion', 'string'],
  ['sourceipaddress', 'string'],
  ['useragent', 'string'],
  ['errorcode', 'string'],
  ['errormessage', 'string'],
  ['requestparameters', 'string'],
  ['responseelements', 'string'],
  ['additionaleventdata', 'string'],
  ['requestid', 'string'],
  ['eventid', 'string'],
  ['readonly', 'string'],
  ['resources', 'array<struct<arn:string,accountid:string,type:string>>'],
  ['eventtype', 'string'],
  ['apiversion', 'string'],
  ['recipientaccountid', 'string'],
  ['serviceeventdetails', 'string'],
  ['sharedeventid', 'string'],
  ['vpcendpointid', 'string'],
  ['vpcendpointaccountid', 'string'],
  ['eventcategory', 'string'],
  ['addendum', 'struct<reason:string,updatedfields:string,originalrequestid:string,originaleventid:string>'],
  ['sessioncredentialfromconsole', 'string'],
  ['edgedevicedetails', 'string'],
  ['tlsdetails', 'struct<tlsversion:string,ciphersuite:string,clienthostheader:string>'],
];

export interface TrailHistoryProps {
  readonly config: TrailHistoryConfig;
  /** The MCP function's role: it is granted what `--source athena` needs, nothing more. */
  readonly role: iam.Role;
  /** The MCP function's timeout: the tool's Athena wait stays WAIT_MARGIN_SECS under it. */
  readonly functionTimeout: Duration;
}

/** A Glue/Athena name from the stack's name: lower case, `_` for anything else (Athena's rule). */
function athenaName(stackName: string, suffix: string): string {
  return `${stackName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${suffix}`;
}

/** A value as cdk-nag names it in a finding: intrinsics flattened (`<Id.Attr>`, `<AWS::Partition>`). */
function nagText(stack: Stack, value: string): string {
  const flat = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string') return `<${o.Ref}>`;
    if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    if (Array.isArray(o['Fn::Join'])) {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(flat).join(separator);
    }
    throw new Error(`cannot name ${JSON.stringify(v)} as cdk-nag does`);
  };
  return flat(stack.resolve(value));
}

export class TrailHistory extends Construct {
  readonly database: glue.CfnDatabase;
  readonly table: glue.CfnTable;
  readonly workGroup: athena.CfnWorkGroup;
  readonly resultsBucket: s3.Bucket;
  readonly databaseName: string;
  readonly tableName: string;
  readonly workGroupName: string;
  /** `AWSLogs/` or `AWSLogs/o-ORG/`: where the trail's account folders are. */
  readonly logsPrefix: string;
  /** The MCP function's environment for `--source athena`. */
  readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: TrailHistoryProps) {
    super(scope, id);
    const { config } = props;
    const stack = Stack.of(this);
    this.databaseName = athenaName(stack.stackName, 'cloudtrail');
    this.tableName = TABLE_NAME;
    this.workGroupName = `${stack.stackName}-trail-history`;
    this.logsPrefix = config.organizationId ? `AWSLogs/${config.organizationId}/` : 'AWSLogs/';
    // A single-account trail covers the deploying account unless trailAccounts says otherwise.
    const accounts = config.accounts.length > 0 ? config.accounts : [stack.account];
    const bucket = config.bucketName;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description: `CloudTrail trail in s3://${bucket}/${this.logsPrefix} for cloudtrail-mcp`,
      },
    });
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: stack.account,
      databaseName: this.databaseName,
      tableInput: {
        name: this.tableName,
        description: 'CloudTrail events (AWS\'s documented table) with partition projection on account, region and delivery day',
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: [
          { name: 'account', type: 'string' },
          { name: 'region', type: 'string' },
          { name: 'timestamp', type: 'string' },
        ],
        parameters: {
          EXTERNAL: 'TRUE',
          classification: 'cloudtrail',
          'projection.enabled': 'true',
          'projection.account.type': 'enum',
          'projection.account.values': accounts.join(','),
          'projection.region.type': 'enum',
          'projection.region.values': config.regions.join(','),
          // The day folders CloudTrail delivers to (delivery time, UTC), from the start day to today.
          'projection.timestamp.type': 'date',
          'projection.timestamp.format': 'yyyy/MM/dd',
          'projection.timestamp.range': `${config.startDate},NOW`,
          'projection.timestamp.interval': '1',
          'projection.timestamp.interval.unit': 'DAYS',
          'storage.location.template': `s3://${bucket}/${this.logsPrefix}\${account}/CloudTrail/\${region}/\${timestamp}`,
        },
        storageDescriptor: {
          columns: CLOUDTRAIL_COLUMNS.map(([name, type]) => ({ name, type })),
          location: `s3://${bucket}/${this.logsPrefix}`,
          // CloudTrail's input format reads the `Records` array of each gzipped file.
          inputFormat: 'com.amazon.emr.cloudtrail.CloudTrailInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe' },
        },
      },
    });
    this.table.node.addDependency(this.database);

    this.resultsBucket = new s3.Bucket(this, 'Results', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // As the stack's other buckets: a teardown keeps it (no auto-delete custom resource, one
      // Lambda role fewer); the lifecycle rule empties it within a week, then delete it by hand.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{
        expiration: Duration.days(RESULTS_EXPIRY_DAYS),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      }],
    });
    Validations.of(this.resultsBucket).acknowledge({
      id: 'AwsSolutions::AwsSolutions-S1',
      reason: 'The bucket holds only Athena query results, which expire after 7 days; every query that '
        + 'writes them is already recorded by Athena (query history) and CloudTrail (StartQueryExecution), '
        + 'and every tool call by the function\'s audit log. Access logs would add cost without a reader.',
    });

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: 'cloudtrail-mcp: queries over the CloudTrail trail, with an enforced bytes-scanned cutoff',
      state: 'ENABLED',
      // A teardown deletes the workgroup with its query history (the results stay in the bucket).
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // Clients cannot override these settings per query (cutoff, result location, encryption).
        enforceWorkGroupConfiguration: true,
        bytesScannedCutoffPerQuery: config.bytesScannedCutoffMb * 1_000_000,
        publishCloudWatchMetricsEnabled: true,
        requesterPaysEnabled: false,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/${RESULTS_PREFIX}/`,
          expectedBucketOwner: stack.account,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    this.grantQueries(props.role, config, accounts);

    const waitSecs = props.functionTimeout.toSeconds() - WAIT_MARGIN_SECS;
    if (waitSecs < 5) throw new Error(`the MCP function's timeout (${props.functionTimeout.toSeconds()} s) leaves no time to wait for Athena`);
    this.environment = {
      CLOUDTRAIL_MCP_SOURCE: 'athena',
      CLOUDTRAIL_MCP_ATHENA_WORKGROUP: this.workGroupName,
      CLOUDTRAIL_MCP_ATHENA_DATABASE: this.databaseName,
      CLOUDTRAIL_MCP_ATHENA_TABLE: this.tableName,
      CLOUDTRAIL_MCP_ATHENA_WAIT_SECS: String(waitSecs),
      CLOUDTRAIL_MCP_ATHENA_MAX_DAYS: String(config.maxDays),
    };
  }

  /** The role's statements: each action on the resources it needs, nothing account-wide. */
  private grantQueries(role: iam.Role, config: TrailHistoryConfig, accounts: string[]): void {
    const stack = Stack.of(this);
    const glueArn = (resource: string) => `arn:${stack.partition}:glue:${stack.region}:${stack.account}:${resource}`;
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'AthenaQueriesInTheWorkgroup',
      actions: ATHENA_ACTIONS,
      resources: [`arn:${stack.partition}:athena:${stack.region}:${stack.account}:workgroup/${this.workGroupName}`],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'GlueTableMetadata',
      actions: GLUE_ACTIONS,
      resources: [glueArn('catalog'), glueArn(`database/${this.databaseName}`), glueArn(`table/${this.databaseName}/${this.tableName}`)],
    }));
    // Only the CloudTrail folders of the table's accounts (not digests, not other services' logs
    // that may share the bucket).
    const trailPrefixes = accounts.map((account) => `${this.logsPrefix}${account}/CloudTrail/`);
    const bucketArn = `arn:${stack.partition}:s3:::${config.bucketName}`;
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ReadTheTrail',
      actions: ['s3:GetObject'],
      resources: trailPrefixes.map((prefix) => `${bucketArn}/${prefix}*`),
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ListTheTrail',
      actions: ['s3:ListBucket'],
      resources: [bucketArn],
      conditions: { StringLike: { 's3:prefix': trailPrefixes.map((prefix) => `${prefix}*`) } },
    }));
    const resultsArn = this.resultsBucket.bucketArn;
    const resultObjects = `${resultsArn}/${RESULTS_PREFIX}/*`;
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'BucketLocations',
      actions: ['s3:GetBucketLocation'],
      resources: [bucketArn, resultsArn],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'WriteAndReadQueryResults',
      actions: RESULT_OBJECT_ACTIONS,
      resources: [resultObjects],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      sid: 'ListQueryResults',
      actions: ['s3:ListBucket'],
      resources: [resultsArn],
      conditions: { StringLike: { 's3:prefix': [`${RESULTS_PREFIX}/*`] } },
    }));
    const acknowledge = (resource: string, reason: string) => Validations.of(role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagText(stack, resource)}]`,
      reason,
    });
    for (const prefix of trailPrefixes) {
      acknowledge(`${bucketArn}/${prefix}*`, 'Athena reads the trail\'s log files, whose keys (day folders, '
        + 'file names) are only known at query time: read-only (s3:GetObject), limited to the CloudTrail folder '
        + 'of one account of the table in the trail bucket.');
    }
    acknowledge(resultObjects, 'Athena names each query\'s result objects after its execution id at run time: '
      + 'the wildcard is limited to the workgroup\'s result prefix in this stack\'s own results bucket.');
    if (config.kmsKeyArn) {
      role.addToPolicy(new iam.PolicyStatement({
        sid: 'DecryptTheTrailThroughS3',
        actions: ['kms:Decrypt'],
        resources: [config.kmsKeyArn],
        // Only for S3 reads (Athena reading the trail's objects), not direct Decrypt calls.
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }));
    }
  }
}
