// A loopback stand-in for the four AWS APIs scripts/deploy calls, speaking their real wire
// protocols so the real AWS CLI can be pointed at it (AWS_ENDPOINT_URL):
//   - STS GetCallerIdentity and CloudFormation DescribeStacks: the query protocol (form-encoded
//     POST, XML answers, <ErrorResponse><Error><Code> errors);
//   - Bedrock GetInferenceProfile / GetFoundationModel and Bedrock Runtime Converse: REST-JSON
//     (errors carry their type in the x-amzn-errortype header and a JSON {"message"} body).
// Each request is routed by the service in its SigV4 credential scope (what the CLI signed for),
// recorded, and answered by the test's handler or else by a success. It binds 127.0.0.1 on an
// ephemeral port only.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const ACCOUNT = '123456789012';
export const CALLER = `arn:aws:sts::${ACCOUNT}:assumed-role/deploy/session`;

export interface AwsRequest {
  /** Signing name from the credential scope: sts, cloudformation or bedrock (both Bedrock APIs). */
  readonly service: string;
  /** Region from the credential scope. */
  readonly region: string;
  readonly method: string;
  readonly path: string;
  /** Query-protocol Action (STS, CloudFormation), or the REST operation deduced from the route. */
  readonly operation: string;
  /** Form fields (query protocol) or the parsed JSON body (REST-JSON). */
  readonly params: Record<string, unknown>;
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Returns a reply for the request, or undefined for the default success. */
export type Handler = (request: AwsRequest) => Reply | undefined;

const xmlns: Record<string, string> = {
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  cloudformation: 'http://cloudformation.amazonaws.com/doc/2010-05-15/',
};

/** A query-protocol error, as STS and CloudFormation send it. */
export function queryError(request: AwsRequest, status: number, code: string, message: string): Reply {
  const body = `<ErrorResponse xmlns="${xmlns[request.service]}"><Error><Type>Sender</Type><Code>${code}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error><RequestId>standin-request</RequestId></ErrorResponse>`;
  return { status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': 'standin-request' }, body };
}

/** A REST-JSON error, as Bedrock and Bedrock Runtime send it (the type may carry a namespace suffix). */
export function restError(status: number, type: string, message: string): Reply {
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
      'x-amzn-requestid': 'standin-request',
    },
    body: JSON.stringify({ message }),
  };
}

/** The message AWS gives when no identity-based policy allows an action. */
export function notAuthorized(action: string, resource: string): string {
  return `User: ${CALLER} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function xml(service: string, operation: string, result: string): Reply {
  const body = `<${operation}Response xmlns="${xmlns[service]}"><${operation}Result>${result}</${operation}Result>` +
    `<ResponseMetadata><RequestId>standin-request</RequestId></ResponseMetadata></${operation}Response>`;
  return { status: 200, headers: { 'content-type': 'text/xml' }, body };
}

function json(value: unknown): Reply {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

/** The success each operation answers unless the handler says otherwise. */
function success(request: AwsRequest): Reply {
  switch (request.operation) {
    case 'GetCallerIdentity':
      return xml('sts', 'GetCallerIdentity', `<Arn>${CALLER}</Arn><UserId>AROAEXAMPLE:session</UserId><Account>${ACCOUNT}</Account>`);
    case 'DescribeStacks':
      return xml('cloudformation', 'DescribeStacks', `<Stacks><member><StackName>${String(request.params.StackName)}</StackName>` +
        `<StackId>arn:aws:cloudformation:${request.region}:${ACCOUNT}:stack/CDKToolkit/0f0e0d0c</StackId>` +
        '<CreationTime>2026-01-05T10:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus></member></Stacks>');
    case 'GetInferenceProfile': {
      const id = decodeURIComponent(request.path.split('/')[2]);
      return json({
        inferenceProfileName: id, inferenceProfileId: id, status: 'ACTIVE', type: 'SYSTEM_DEFINED',
        inferenceProfileArn: `arn:aws:bedrock:${request.region}:${ACCOUNT}:inference-profile/${id}`,
        models: [{ modelArn: `arn:aws:bedrock:${request.region}::foundation-model/${id.replace(/^[a-z-]+\./, '')}` }],
      });
    }
    case 'GetFoundationModel': {
      const id = decodeURIComponent(request.path.split('/')[2]);
      return json({
        modelDetails: {
          modelArn: `arn:aws:bedrock:${request.region}::foundation-model/${id}`, modelId: id, providerName: 'Anthropic',
          modelLifecycle: { status: 'ACTIVE' },
        },
      });
    }
    case 'Converse':
      return json({
        output: { message: { role: 'assistant', content: [{ text: 'Hello' }] } },
        stopReason: 'max_tokens',
        usage: { inputTokens: 12, outputTokens: 1, totalTokens: 13 },
        metrics: { latencyMs: 120 },
      });
    default:
      return restError(404, 'UnknownOperationException', `the stand-in does not implement ${request.method} ${request.path}`);
  }
}

function restOperation(method: string, path: string): string {
  if (method === 'GET' && /^\/inference-profiles\/[^/]+$/.test(path)) return 'GetInferenceProfile';
  if (method === 'GET' && /^\/foundation-models\/[^/]+$/.test(path)) return 'GetFoundationModel';
  if (method === 'POST' && /^\/model\/[^/]+\/converse$/.test(path)) return 'Converse';
  return `${method} ${path}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface AwsStandin {
  /** The endpoint to give the CLI as AWS_ENDPOINT_URL. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: AwsRequest[];
  close(): Promise<void>;
}

export async function startAwsStandin(handler: Handler = () => undefined): Promise<AwsStandin> {
  const requests: AwsRequest[] = [];
  const server: Server = createServer((req, res) => {
    readBody(req).then((body) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      // The CLI signs every request with SigV4; an unsigned one would mean credentials were lost.
      const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(req.headers.authorization ?? '');
      if (!scope) {
        res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'MissingAuthenticationTokenException' });
        res.end(JSON.stringify({ message: 'Missing Authentication Token' }));
        return;
      }
      const [, region, service] = scope;
      const method = req.method ?? 'GET';
      let operation: string;
      let params: Record<string, unknown>;
      if (service === 'sts' || service === 'cloudformation') {
        params = Object.fromEntries(new URLSearchParams(body));
        operation = String(params.Action);
      } else {
        params = body ? JSON.parse(body) as Record<string, unknown> : {};
        operation = restOperation(method, url.pathname);
      }
      const request: AwsRequest = { service, region, method, path: url.pathname, operation, params };
      requests.push(request);
      const reply = handler(request) ?? success(request);
      res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
      res.end(reply.body);
    }).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    }),
  };
}
