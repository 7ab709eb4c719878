// Trace export (opt-in, context `traces=true`): both processes send their OpenTelemetry spans
// straight to the X-Ray OTLP traces endpoint of the stack's region, SigV4-signed with their own
// roles (the `telemetry` crate signs when the endpoint is X-Ray's). No collector runs beside
// them: no ADOT sidecar in the task, no collector layer on the function (docs/infra.md, "Traces").
//
// The endpoint requires CloudWatch Transaction Search, an account-wide setting. With
// `transactionSearch=true` this construct turns it on (the X-Ray setting and the CloudWatch Logs
// resource policy it needs); leave it off when the account already has it, since an account
// holds one such setting.
import { Aws, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as xray from 'aws-cdk-lib/aws-xray';
import { Construct } from 'constructs';

export interface TracesProps {
  /** Also turn on CloudWatch Transaction Search for the account (one per account and region). */
  readonly enableTransactionSearch: boolean;
  /** Share of spans indexed as searchable trace summaries (1 is free of charge per AWS's pricing). */
  readonly indexingPercentage?: number;
}

export class Traces extends Construct {
  /** The environment that makes a process export its spans (the standard OTEL_* variables). */
  readonly environment: Readonly<Record<string, string>>;
  /** The OTLP traces endpoint spans go to. */
  readonly endpoint: string;

  constructor(scope: Construct, id: string, props: TracesProps) {
    super(scope, id);
    this.endpoint = `https://xray.${Aws.REGION}.${Aws.URL_SUFFIX}/v1/traces`;
    this.environment = {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: this.endpoint,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
    };
    if (props.enableTransactionSearch) {
      // X-Ray writes the spans to these log groups once Transaction Search is on.
      const stack = Stack.of(this);
      const policy = new logs.CfnResourcePolicy(this, 'SpansDelivery', {
        policyName: `${stack.stackName}-transaction-search`,
        policyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{
            Sid: 'TransactionSearchXRayAccess',
            Effect: 'Allow',
            Principal: { Service: 'xray.amazonaws.com' },
            Action: 'logs:PutLogEvents',
            Resource: [
              `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:aws/spans:*`,
              `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:/aws/application-signals/data:*`,
            ],
            Condition: {
              ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:xray:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
              StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
            },
          }],
        }),
      });
      const search = new xray.CfnTransactionSearchConfig(this, 'TransactionSearch', {
        indexingPercentage: props.indexingPercentage ?? 1,
      });
      search.node.addDependency(policy);
    }
  }

  /** Lets `role` send spans: the OTLP endpoint authorizes `xray:PutTraceSegments`. A policy of
   *  its own (named `id`), so its acknowledgement is apart from the role's other statements. */
  grantExport(id: string, role: iam.IRole): iam.Policy {
    const policy = new iam.Policy(this, id, {
      statements: [new iam.PolicyStatement({ actions: ['xray:PutTraceSegments'], resources: ['*'] })],
      roles: [role],
    });
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'xray:PutTraceSegments (what the X-Ray OTLP traces endpoint authorizes) supports no '
        + 'resource-level permissions: "*" is its only resource; it writes spans and reads nothing.',
    });
    return policy;
  }
}
