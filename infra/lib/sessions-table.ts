// The conversations' DynamoDB table, shared by every agent task (`--session-store dynamodb`):
// one partition per session (`pk`), a head item and one item per exchange (`sk`), the TTL
// attribute `expires_at` on every item. On-demand (chats come in bursts), point-in-time
// recovery, encrypted with the AWS managed key. Removal policy RETAIN: a `cdk destroy` keeps the
// table (conversations can be evidence in an investigation); its items expire by TTL within a day
// of their end, after which the empty table can be deleted by hand.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The item operations the agent's store sends (transactions are authorized as their Put and
 *  Update parts); no Scan, no batch operations, no table management. */
export const SESSION_STORE_ACTIONS = [
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
];

/** The TTL attribute the agent writes (epoch seconds). */
export const SESSION_TTL_ATTRIBUTE = 'expires_at';

export class SessionsTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: SESSION_TTL_ATTRIBUTE,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** Lets `grantee` run the store's item operations on this table only. */
  grantStore(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: SESSION_STORE_ACTIONS,
      resourceArns: [this.table.tableArn],
    });
  }
}
