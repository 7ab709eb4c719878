// The app's configuration: typed, validated settings read from CDK context (cdk.json or `-c`).
// Only bin/app.ts calls `configFromContext`; constructs receive typed props.
import { isIPv4 } from 'node:net';
import { checkFoundationModelId, ModelIdError, parseModelId } from './bedrock.ts';

/** OIDC authentication on the ALB (works with any OIDC provider, Cognito included). */
export interface OidcConfig {
  readonly issuer: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly userInfoEndpoint: string;
  readonly clientId: string;
  /** ARN of a Secrets Manager secret holding the client secret (never the secret itself). */
  readonly clientSecretArn: string;
  /** Who may use the agent once signed in (checked by the agent on the ALB's signed claims):
   *  verified e-mail addresses in these domains ... */
  readonly allowedEmailDomains: string[];
  /** ... and members of these groups (claim `groupsClaim`). Each non-empty list must be met. */
  readonly allowedGroups: string[];
  readonly groupsClaim: string;
  /** Every user the identity provider signs in may use the agent (explicit: no lists given). */
  readonly allowAnyUser: boolean;
}

export type Arch = 'arm64' | 'x86_64';

/**
 * Organization-scale history (`--source athena`): an Athena table over the CloudTrail trail's S3
 * bucket. Present only when context names the bucket (`trailBucketName`); see trail-history.ts.
 */
export interface TrailHistoryConfig {
  /** The bucket the trail delivers to (`AWSLogs/...` at its root). */
  readonly bucketName: string;
  /** An organization trail's id (`o-...`): its files sit under `AWSLogs/o-.../ACCOUNT/`. */
  readonly organizationId?: string;
  /** The KMS key the trail encrypts its files with (SSE-KMS), if any: a key ARN. */
  readonly kmsKeyArn?: string;
  /** The accounts of the `account` enum projection; empty: the deploying account only (a
   *  single-account trail). An organization trail must list them. */
  readonly accounts: string[];
  /** The regions of the `region` enum projection. */
  readonly regions: string[];
  /** The first day of the `timestamp` date projection, `yyyy/MM/dd`. */
  readonly startDate: string;
  /** The workgroup's bytes-scanned cutoff per query, in MB of 10^6 bytes (at least 10, Athena's minimum). */
  readonly bytesScannedCutoffMb: number;
  /** How many days back a tool's window may reach (CLOUDTRAIL_MCP_ATHENA_MAX_DAYS). */
  readonly maxDays: number;
}

export interface AppConfig {
  readonly stackName: string;
  /** Bedrock model id, inference profile id, or ARN (the forms `parseModelId` accepts). */
  readonly modelId: string;
  /** The foundation model ids an application inference profile (`modelId`) routes to; empty otherwise. */
  readonly bedrockFoundationModels: string[];
  /** Region for Bedrock calls (default: the stack's region). */
  readonly bedrockRegion?: string;
  /** CIDR ranges allowed to reach the chat. Empty: nobody (the default; set yours). */
  readonly allowedCidrs: string[];
  readonly architecture: Arch;
  readonly natGateways: number;
  /** Agent tasks at deploy time, and the lower bound of autoscaling. */
  readonly desiredCount: number;
  /** Upper bound of autoscaling (on CPU and memory): any task continues any chat. */
  readonly maxTasks: number;
  readonly certificateArn?: string;
  readonly domainName?: string;
  readonly oidc?: OidcConfig;
  readonly redactSourceIp: boolean;
  /** The regions the MCP function searches with LookupEvents (CLOUDTRAIL_MCP_REGIONS); empty:
   *  the stack's region only. us-east-1 is added to a search whenever global services' events can match. */
  readonly regions: string[];
  readonly logRetentionDays: number;
  /** Concurrent executions reserved for (and capping) the MCP function; 0: no reservation. */
  readonly mcpReservedConcurrency: number;
  /** Where alarms are e-mailed (an SNS subscription to confirm); none: the topic only. */
  readonly alarmEmail?: string;
  /** The daily model spend (USD, the agent's cost estimate) above which an alarm fires. */
  readonly dailyBudgetUsd: number;
  /** Export both processes' spans to X-Ray's OTLP endpoint (needs Transaction Search). */
  readonly traces: boolean;
  /** Also turn CloudWatch Transaction Search on for the account (with `traces`). */
  readonly transactionSearch: boolean;
  /** Athena over the CloudTrail trail in S3 instead of LookupEvents; none: LookupEvents. */
  readonly trailHistory?: TrailHistoryConfig;
}

export class ConfigError extends Error {}

const DEFAULT_MODEL_ID = 'global.anthropic.claude-sonnet-4-5-20250929-v1:0';

/** Runs `check`, turning a ModelIdError into a ConfigError naming the context key. */
function asConfigError<T>(key: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ModelIdError) throw new ConfigError(`context ${key}: ${error.message}`);
    throw error;
  }
}

/**
 * The model id and, for an application inference profile, the foundation models it routes to:
 * the profile's ARN does not say which, and the task role needs both to invoke it.
 */
function modelSettings(get: (key: string) => unknown): { modelId: string; bedrockFoundationModels: string[] } {
  const modelId = str(get('modelId'))?.trim() ?? DEFAULT_MODEL_ID;
  const bedrockFoundationModels = list(get('bedrockFoundationModels'), 'bedrockFoundationModels');
  const kind = asConfigError('modelId', () => parseModelId(modelId).kind);
  asConfigError('bedrockFoundationModels', () => bedrockFoundationModels.forEach(checkFoundationModelId));
  if (kind === 'application-profile' && bedrockFoundationModels.length === 0) {
    throw new ConfigError(`context bedrockFoundationModels is required when modelId is an application inference profile `
      + `(${modelId}): list the foundation model ids it routes to, e.g. -c bedrockFoundationModels=anthropic.claude-sonnet-4-5-20250929-v1:0 `
      + `(aws bedrock get-inference-profile --inference-profile-identifier ${modelId} shows them)`);
  }
  if (kind !== 'application-profile' && bedrockFoundationModels.length > 0) {
    throw new ConfigError('context bedrockFoundationModels applies only when modelId is an application inference profile ARN; '
      + `remove it (modelId ${modelId} names its model itself)`);
  }
  return { modelId, bedrockFoundationModels };
}

/** An IPv4 CIDR range; IPv6 is refused by name (the ALB listens on IPv4 only). */
function checkCidr(cidr: string): void {
  if (cidr.includes(':')) {
    throw new ConfigError(`context allowedCidrs: ${JSON.stringify(cidr)} is an IPv6 range; the ALB listens on IPv4 only`);
  }
  const [address, prefix, ...rest] = cidr.split('/');
  if (rest.length > 0 || !isIPv4(address) || !/^\d{1,2}$/.test(prefix ?? '') || Number(prefix) > 32) {
    throw new ConfigError(`context allowedCidrs: ${JSON.stringify(cidr)} is not a CIDR range such as 203.0.113.0/24`);
  }
}

/**
 * Without authentication, allowedCidrs may cover at most this many addresses together (a /8):
 * more is "a large part of the internet", whether written as 0.0.0.0/0 or as several ranges.
 */
export const MAX_ADDRESSES_WITHOUT_OIDC = 2 ** 24;

/** The first address of a CIDR range and its size, as numbers (exact: at most 2^32). */
function cidrSpan(cidr: string): { start: number; size: number } {
  const [address, prefix] = cidr.split('/');
  const value = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(prefix));
  // Host bits set (10.1.2.3/8) still mean the whole network, as in a security group rule.
  return { start: Math.floor(value / size) * size, size };
}

/** How many distinct IPv4 addresses the (valid) ranges cover together: overlaps count once. */
export function addressCount(cidrs: readonly string[]): number {
  const spans = cidrs.map(cidrSpan).sort((a, b) => a.start - b.start);
  let total = 0;
  let end = 0; // everything below `end` is already counted
  for (const { start, size } of spans) {
    const from = Math.max(start, end);
    if (start + size > from) total += start + size - from;
    end = Math.max(end, start + size);
  }
  return total;
}

function list(value: unknown, name: string): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (trimmed.startsWith('[')) {
      try {
        return list(JSON.parse(trimmed), name);
      } catch {
        throw new ConfigError(`context ${name} is not a JSON list: ${value}`);
      }
    }
    return trimmed.split(',').map((s) => s.trim()).filter(Boolean);
  }
  throw new ConfigError(`context ${name} must be a list of strings`);
}

function int(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`context ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ConfigError(`context ${name} must be true or false, got ${JSON.stringify(value)}`);
}

function str(value: unknown): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

/** A region name as cloudtrail-mcp accepts it (`us-east-1`, `us-gov-west-1`); checked at synth so
 *  that a typo fails the deploy, not the function's start. */
function checkRegion(region: string): void {
  const parts = region.split('-');
  const last = Number(parts[parts.length - 1]);
  const ok = parts.length >= 3 && parts.length <= 4 && parts[0].length === 2
    && parts.slice(0, -1).every((p) => /^[a-z]+$/.test(p))
    && /^\d{1,3}$/.test(parts[parts.length - 1]) && last >= 1 && last <= 255;
  if (!ok) throw new ConfigError(`context regions: ${JSON.stringify(region)} is not a region name such as eu-west-1`);
}

/** The MCP function's CloudTrail calls share 2 LookupEvents requests per second per account and
 *  region whatever its concurrency: more than a few concurrent invocations only wait on each other. */
const MAX_MCP_CONCURRENCY = 100;

/** CloudWatch Logs accepts only these retention periods. */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

function email(value: unknown): string | undefined {
  const text = str(value);
  if (text !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text)) {
    throw new ConfigError(`context alarmEmail must be an e-mail address, got ${JSON.stringify(text)}`);
  }
  return text;
}

/** The regions every account has enabled by default (the opt-in regions are left out: list
 *  them in trailRegions when the trail records them). */
export const DEFAULT_TRAIL_REGIONS = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'ca-central-1', 'sa-east-1',
  'eu-central-1', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-north-1',
  'ap-south-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-southeast-1', 'ap-southeast-2',
];

/** The first day of the date projection when trailStartDate is not given (AWS's example's). */
export const DEFAULT_TRAIL_START_DATE = '2020/01/01';

/** The trail-history keys that mean nothing without trailBucketName. */
const TRAIL_KEYS = ['trailOrganizationId', 'trailKmsKeyArn', 'trailAccounts', 'trailRegions', 'trailStartDate',
  'athenaBytesScannedCutoffMb', 'historyMaxDays'];

/** `YYYY/MM/DD` or `YYYY-MM-DD`, a real calendar day, as `yyyy/MM/dd`. */
function startDate(value: unknown): string {
  const text = str(value)?.trim();
  if (text === undefined) return DEFAULT_TRAIL_START_DATE;
  const m = /^(\d{4})[/-](\d{2})[/-](\d{2})$/.exec(text);
  const day = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !day || day.getUTCFullYear() !== Number(m[1]) || day.getUTCMonth() !== Number(m[2]) - 1
    || day.getUTCDate() !== Number(m[3])) {
    throw new ConfigError(`context trailStartDate must be a day such as 2024/01/31 (yyyy/MM/dd), got ${JSON.stringify(text)}`);
  }
  // CloudTrail started in November 2013; a projection from before it only adds empty partitions.
  if (day.getTime() < Date.UTC(2013, 10, 1) || day.getTime() > Date.now()) {
    throw new ConfigError(`context trailStartDate must be between 2013/11/01 (CloudTrail's start) and today, got ${text}`);
  }
  return `${m[1]}/${m[2]}/${m[3]}`;
}

/** The trail-history settings, or none when trailBucketName is not set. */
function trailHistory(get: (key: string) => unknown): TrailHistoryConfig | undefined {
  const bucketName = str(get('trailBucketName'))?.trim();
  if (bucketName === undefined) {
    const given = (value: unknown) => str(value) !== undefined && !(Array.isArray(value) && value.length === 0);
    const stray = TRAIL_KEYS.filter((key) => given(get(key)));
    if (stray.length > 0) {
      throw new ConfigError(`context ${stray.join(', ')} ${stray.length > 1 ? 'apply' : 'applies'} only with trailBucketName `
        + '(the S3 bucket the CloudTrail trail delivers to): set it, or remove them');
    }
    return undefined;
  }
  // S3's naming rules for general purpose buckets (no uppercase, no underscores, no IP form).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName) || bucketName.includes('..')
    || /^\d+\.\d+\.\d+\.\d+$/.test(bucketName)) {
    throw new ConfigError(`context trailBucketName must be an S3 bucket name (3-63 characters: a-z, 0-9, dots, hyphens), `
      + `got ${JSON.stringify(bucketName)}; give the name, not an ARN or s3:// URL`);
  }
  const organizationId = str(get('trailOrganizationId'))?.trim();
  if (organizationId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(organizationId)) {
    throw new ConfigError(`context trailOrganizationId must be an AWS Organizations id such as o-a1b2c3d4e5, got ${JSON.stringify(organizationId)}`);
  }
  const kmsKeyArn = str(get('trailKmsKeyArn'))?.trim();
  if (kmsKeyArn !== undefined && !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(kmsKeyArn)) {
    throw new ConfigError(`context trailKmsKeyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias: `
      + `IAM grants kms:Decrypt on the key's ARN), got ${JSON.stringify(kmsKeyArn)}`);
  }
  const accounts = list(get('trailAccounts'), 'trailAccounts');
  for (const account of accounts) {
    if (!/^\d{12}$/.test(account)) throw new ConfigError(`context trailAccounts: ${JSON.stringify(account)} is not a 12-digit AWS account id`);
  }
  if (organizationId !== undefined && accounts.length === 0) {
    throw new ConfigError(`context trailAccounts is required with trailOrganizationId: list the member accounts whose `
      + `events the table covers (the account partition's values), e.g. -c trailAccounts=111122223333,444455556666`);
  }
  const regions = list(get('trailRegions'), 'trailRegions');
  for (const region of regions) {
    if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/.test(region)) {
      throw new ConfigError(`context trailRegions: ${JSON.stringify(region)} is not an AWS region name such as eu-west-1`);
    }
  }
  for (const [key, values] of [['trailAccounts', accounts], ['trailRegions', regions]] as const) {
    const twice = values.filter((v, i) => values.indexOf(v) !== i);
    if (twice.length > 0) throw new ConfigError(`context ${key} lists ${twice[0]} more than once`);
  }
  return {
    bucketName,
    organizationId,
    kmsKeyArn,
    accounts,
    regions: regions.length > 0 ? regions : DEFAULT_TRAIL_REGIONS,
    startDate: startDate(get('trailStartDate')),
    // MB of 10^6 bytes, as Athena counts: 10 MB is its minimum cutoff; 10 GB ($0.05 a query at $5
    // per TB) by default.
    bytesScannedCutoffMb: int(get('athenaBytesScannedCutoffMb'), 'athenaBytesScannedCutoffMb', 10, 10_000_000, 10_000),
    // The binary accepts 1..3660 (CLOUDTRAIL_MCP_ATHENA_MAX_DAYS).
    maxDays: int(get('historyMaxDays'), 'historyMaxDays', 1, 3660, 365),
  };
}

/** Reads and validates the configuration; `get` returns a context value by key. */
export function configFromContext(get: (key: string) => unknown): AppConfig {
  const allowedCidrs = list(get('allowedCidrs'), 'allowedCidrs');
  allowedCidrs.forEach(checkCidr);
  const architecture = (str(get('architecture')) ?? 'arm64') as Arch;
  if (architecture !== 'arm64' && architecture !== 'x86_64') {
    throw new ConfigError(`context architecture must be arm64 or x86_64, got ${JSON.stringify(architecture)}`);
  }
  const logRetentionDays = int(get('logRetentionDays'), 'logRetentionDays', 1, 3653, 30);
  if (!RETENTION_DAYS.includes(logRetentionDays)) {
    throw new ConfigError(`context logRetentionDays must be one of ${RETENTION_DAYS.join(', ')}`);
  }
  const oidcIssuer = str(get('oidcIssuer'));
  let oidc: OidcConfig | undefined;
  if (oidcIssuer) {
    const need = (key: string) => {
      const value = str(get(key));
      if (!value) throw new ConfigError(`context ${key} is required when oidcIssuer is set`);
      return value;
    };
    oidc = {
      issuer: oidcIssuer,
      authorizationEndpoint: need('oidcAuthorizationEndpoint'),
      tokenEndpoint: need('oidcTokenEndpoint'),
      userInfoEndpoint: need('oidcUserInfoEndpoint'),
      clientId: need('oidcClientId'),
      clientSecretArn: need('oidcClientSecretArn'),
      allowedEmailDomains: list(get('oidcAllowedEmailDomains'), 'oidcAllowedEmailDomains'),
      allowedGroups: list(get('oidcAllowedGroups'), 'oidcAllowedGroups'),
      groupsClaim: str(get('oidcGroupsClaim')) ?? 'groups',
      allowAnyUser: bool(get('oidcAllowAnyUser'), 'oidcAllowAnyUser', false),
    };
    if (!oidc.clientSecretArn.startsWith('arn:') || !oidc.clientSecretArn.includes(':secretsmanager:')) {
      throw new ConfigError('context oidcClientSecretArn must be the ARN of a Secrets Manager secret');
    }
  }
  const certificateArn = str(get('certificateArn'));
  if (oidc && !certificateArn) {
    throw new ConfigError('OIDC authentication needs HTTPS: set certificateArn (and domainName)');
  }
  // Authentication alone lets in every account the provider issues (a public Cognito pool,
  // a whole company directory): who may read CloudTrail is a decision to state.
  if (oidc) {
    const lists = oidc.allowedEmailDomains.length + oidc.allowedGroups.length;
    if (lists === 0 && !oidc.allowAnyUser) {
      throw new ConfigError('OIDC needs an allow-list: set oidcAllowedEmailDomains and/or oidcAllowedGroups '
        + '(with oidcGroupsClaim), or oidcAllowAnyUser=true to let every user the identity provider signs in read CloudTrail');
    }
    if (lists > 0 && oidc.allowAnyUser) {
      throw new ConfigError('oidcAllowAnyUser=true contradicts oidcAllowedEmailDomains/oidcAllowedGroups: choose one');
    }
  }
  const regions = [...new Set(list(get('regions'), 'regions'))];
  regions.forEach(checkRegion);
  const addresses = addressCount(allowedCidrs);
  if (addresses > MAX_ADDRESSES_WITHOUT_OIDC && !oidc) {
    const several = allowedCidrs.length > 1;
    throw new ConfigError(`context allowedCidrs: ${allowedCidrs.join(', ')} would open the chat (and through it your `
      + `CloudTrail) to ${addresses.toLocaleString('en-US')} addresses${several ? ' together' : ''}, more than a /8 `
      + `(${MAX_ADDRESSES_WITHOUT_OIDC.toLocaleString('en-US')}), without authentication: narrow ${several ? 'them' : 'it'} `
      + 'to your own ranges, or configure HTTPS with OIDC (certificateArn, oidc*)');
  }
  // Two tasks by default: a deploy or a failed task never leaves the chat without one, and chats
  // live in DynamoDB so either task continues any of them.
  const desiredCount = int(get('desiredCount'), 'desiredCount', 0, 10, 2);
  const maxTasks = int(get('maxTasks'), 'maxTasks', 1, 20, Math.max(desiredCount, 4));
  if (maxTasks < desiredCount) {
    throw new ConfigError(`context maxTasks (${maxTasks}) must be at least desiredCount (${desiredCount})`);
  }
  const traces = bool(get('traces'), 'traces', false);
  const transactionSearch = bool(get('transactionSearch'), 'transactionSearch', false);
  if (transactionSearch && !traces) {
    throw new ConfigError('context transactionSearch=true needs traces=true (it exists for the trace export)');
  }
  return {
    stackName: str(get('stackName')) ?? 'AwsOpsAgent',
    ...modelSettings(get),
    bedrockRegion: str(get('bedrockRegion')),
    allowedCidrs,
    architecture,
    natGateways: int(get('natGateways'), 'natGateways', 0, 2, 1),
    desiredCount,
    maxTasks,
    certificateArn,
    domainName: str(get('domainName')),
    oidc,
    redactSourceIp: bool(get('redactSourceIp'), 'redactSourceIp', false),
    regions,
    logRetentionDays,
    mcpReservedConcurrency: int(get('mcpReservedConcurrency'), 'mcpReservedConcurrency', 0, MAX_MCP_CONCURRENCY, 3),
    alarmEmail: email(get('alarmEmail')),
    dailyBudgetUsd: int(get('dailyBudgetUsd'), 'dailyBudgetUsd', 1, 100000, 50),
    traces,
    transactionSearch,
    trailHistory: trailHistory(get),
  };
}
