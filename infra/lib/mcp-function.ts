// The MCP server on Lambda: the cloudtrail-mcp crate built by cargo-lambda-cdk from the Cargo
// workspace, behind a Function URL with AWS_IAM auth (never NONE). Its role may look up
// CloudTrail events and write its own log group, nothing else.
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

/** The path cloudtrail-mcp serves MCP on (its router's `/mcp` route). */
export const MCP_PATH = '/mcp';

export interface McpFunctionProps {
  readonly architecture: lambda.Architecture;
  readonly redactSourceIp: boolean;
  /** The regions LookupEvents searches (CLOUDTRAIL_MCP_REGIONS); empty or undefined: the
   *  function's own region. The role's cloudtrail:LookupEvents on "*" covers every region. */
  readonly regions?: string[];
  readonly logRetention: logs.RetentionDays;
  /** Concurrent executions reserved for the function, which also cap it; 0 or undefined: none. */
  readonly reservedConcurrency?: number;
  /** The repository root (holds the workspace Cargo.toml). */
  readonly repoRoot: string;
}

export class McpFunction extends Construct {
  readonly function: lambda.Function;
  readonly url: lambda.FunctionUrl;
  /** The MCP endpoint: the Function URL plus the path cloudtrail-mcp routes (`/mcp`). A Function
   *  URL passes the request path through unchanged, and the server answers 404 on any other path. */
  readonly endpoint: string;
  readonly role: iam.Role;
  /** The function's timeout: callers should wait a little longer for a tool answer. */
  readonly timeout: Duration;
  /** How long summarize_activity pages through a window before it answers with lower-bound
   *  counts (CLOUDTRAIL_MCP_SUMMARY_SCAN_SECS): under the timeout, so a busy window still gets an
   *  answer that says its counts are partial rather than a timeout. */
  readonly summaryScanSecs: number;

  constructor(scope: Construct, id: string, props: McpFunctionProps) {
    super(scope, id);
    // summarize_activity counts every event of its window, paging through LookupEvents at
    // CloudTrail's 2 requests per second (100 events a second); it answers after at most 45 s of
    // paging (about 4500 events, lower-bound counts beyond that), and the function's 55 s leave
    // room to answer. Kept under the agent's 60 s HTTP timeout.
    this.summaryScanSecs = 45;
    this.timeout = Duration.seconds(55);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'cloudtrail-mcp: look up CloudTrail events and write its logs, nothing else',
    });
    // LookupEvents has no resource-level permissions: "*" is the only resource it accepts.
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['cloudtrail:LookupEvents'], resources: ['*'] }));
    this.role.addToPolicy(new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn, `${logGroup.logGroupArn}:log-stream:*`],
    }));
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudtrail:LookupEvents supports no resource-level permissions (Service Authorization '
        + 'Reference): "*" is the only valid resource; the action is read-only and the only one granted.',
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>:log-stream:*]`,
      reason: 'Lambda names its log streams at run time; the wildcard is limited to streams of this '
        + "function's own log group.",
    });
    this.function = new RustFunction(this, 'Function', {
      manifestPath: path.join(props.repoRoot, 'Cargo.toml'),
      binaryName: 'cloudtrail-mcp',
      architecture: props.architecture,
      // The bootstrap is built with `cargo lambda build --profile lambda --package cloudtrail-mcp
      // --no-default-features --features athena`: the workspace's `lambda` profile (release tuned
      // for size); features resolved for cloudtrail-mcp alone (without --package, Cargo unifies them
      // with the agent's, e.g. rmcp's HTTP client); without the credential sources only a
      // developer's machine uses (SSO, credential_process); with the athena source always, so that
      // the artifact a synth checks is the one every configuration deploys (`--source athena` is
      // chosen at run time by CLOUDTRAIL_MCP_SOURCE, see trail-history.ts). README "Performance";
      // infra/scripts/check-bootstrap.mjs fails a synth over 9 MiB (arm64).
      bundling: {
        profile: 'lambda',
        cargoLambdaFlags: ['--package', 'cloudtrail-mcp', '--no-default-features', '--features', 'athena'],
      },
      memorySize: 256,
      timeout: this.timeout,
      role: this.role,
      logGroup,
      // A cap, so that a runaway loop (an agent retrying a tool, a stuck client) can neither
      // exhaust the account's shared 2 requests/s LookupEvents quota for everything else that
      // reads CloudTrail nor take the account's Lambda concurrency from other functions.
      // AWS refuses a reservation that leaves fewer than 100 unreserved executions in the account
      // (a new account's quota can be 10): 0 deploys without one.
      reservedConcurrentExecutions: props.reservedConcurrency || undefined,
      environment: {
        CLOUDTRAIL_MCP_SOURCE: 'api',
        CLOUDTRAIL_MCP_REDACT_SOURCE_IP: String(props.redactSourceIp),
        CLOUDTRAIL_MCP_SUMMARY_SCAN_SECS: String(this.summaryScanSecs),
        ...(props.regions?.length ? { CLOUDTRAIL_MCP_REGIONS: props.regions.join(',') } : {}),
        RUST_LOG: 'info',
      },
      description: 'CloudTrail MCP server (read-only tools over MCP Streamable HTTP)',
    });
    this.url = this.function.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
      invokeMode: lambda.InvokeMode.BUFFERED,
    });
    // The Function URL always ends in `/` (`https://<id>.lambda-url.<region>.on.aws/`).
    this.endpoint = `${this.url.url}${MCP_PATH.slice(1)}`;
  }
}
