// The deployed topology, run from the synthesized template: the cloudtrail-mcp binary with the
// Lambda function's environment behind an AWS_IAM Function URL (SigV4 and the task role's IAM
// policy enforced, path passed through), the agent binary with the task definition's container
// environment (image ENV + task env + what ECS adds, task-role credentials from the container
// credentials endpoint), the target group's health check, and a chat through the ALB's forward
// action whose tool call must end `ok`. Only three things are swapped: the CloudTrail source (the
// sample instead of LookupEvents), Bedrock's endpoint (the ConverseStream stand-in) and
// DynamoDB's (moto, with the task role's IAM policy enforced on each item operation); with an
// authenticate-oidc listener, also the ALB's public-key endpoint (the emulated ALB signs its
// sign-in tokens with a key of its own, for the ARN the template gives the load balancer).
//
// Run by scripts/test-deployed, inside a private network namespace (the task listens where its
// environment says, e.g. 0.0.0.0:8080, on the namespace's task address), with the assemblies in
// DEPLOYED_ASSEMBLIES (comma separated) and the task address in TASK_ADDRESS.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startBedrockStandin } from "../browser/bedrock-standin.mjs";
import { startDynamoStandin } from "./dynamodb.mjs";
import { healthCheck, startCredentialsEndpoint, startLoadBalancer, startOidcSigner } from "./ecs.mjs";
import { startFunction } from "./lambda.mjs";
import { CredentialBook } from "./sigv4.mjs";
import { startXrayStandin } from "./xray.mjs";
import { dockerImageAssets, dockerfileEnv, iamEvaluator, loadAssembly, onlyResource, resolver, resourcesOf } from "./template.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = (name) => path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", name);
const assemblies = (process.env.DEPLOYED_ASSEMBLIES ?? "").split(",").filter(Boolean);
const taskAddress = process.env.TASK_ADDRESS;

test("runs inside scripts/test-deployed (synthesized assemblies and a private network namespace)", () => {
  assert.ok(assemblies.length > 0, "DEPLOYED_ASSEMBLIES is empty: run scripts/test-deployed");
  assert.ok(taskAddress, "TASK_ADDRESS is unset: run scripts/test-deployed");
});

/** The value of a `{ "Fn::GetAtt": [id, attr] }` or `{ Ref: id }`, as [id, attr]. */
function reference(value) {
  if (value?.["Fn::GetAtt"]) return value["Fn::GetAtt"];
  if (value?.Ref) return [value.Ref, "Ref"];
  throw new Error(`not a reference to a resource: ${JSON.stringify(value)}`);
}

/** Server-sent events of a response body, as [{ event, data }]. */
async function readEvents(response) {
  const text = await response.text();
  return text.split("\n\n").filter(Boolean).map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
    return { event, data: data ? JSON.parse(data) : null };
  }).filter((e) => e.event);
}

function startProcess(command, env) {
  const child = spawn(command, [], { env, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  child.stdout.on("data", (c) => output.push(c.toString("utf8")));
  child.stderr.on("data", (c) => output.push(c.toString("utf8")));
  return { child, output };
}

function stopProcess(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  });
}

for (const dir of assemblies) {
  describe(`the stack synthesized in ${path.basename(dir)}, run locally`, () => {
    const assembly = loadAssembly(dir);
    const { template, stackName } = assembly;
    const environment = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")).artifacts[stackName].environment;
    // An environment-agnostic template (`aws://unknown-account/unknown-region`) is deployed
    // somewhere: pick a region and account for it; otherwise use the template's own.
    const [, envAccount, envRegion] = /^aws:\/\/([^/]+)\/(.+)$/.exec(environment);
    const region = envRegion === "unknown-region" ? "eu-west-1" : envRegion;
    const account = envAccount === "unknown-account" ? "123456789012" : envAccount;
    const attributes = {};
    const { resolve } = resolver(template, { region, account, stackName, attributes });
    const book = new CredentialBook();
    const cleanup = [];
    const facts = {};

    before(async () => {
      // The MCP function and its Function URL.
      const [urlId, url] = onlyResource(template, "AWS::Lambda::Url");
      const [fnId] = reference(url.Properties.TargetFunctionArn);
      const fn = template.Resources[fnId].Properties;
      const [fnRoleId] = reference(fn.Role);
      const lambdaEnv = resolve(fn.Environment?.Variables ?? {});
      facts.lambdaEnv = { ...lambdaEnv };
      facts.authType = url.Properties.AuthType;
      // The one permitted swap: the sample archive instead of CloudTrail's LookupEvents.
      assert.equal(lambdaEnv.CLOUDTRAIL_MCP_SOURCE, "api", "the deployed function reads CloudTrail's API");
      lambdaEnv.CLOUDTRAIL_MCP_SOURCE = "sample";
      // Trace export (context traces=true): X-Ray's OTLP endpoint, swapped (the SDKs' standard
      // AWS_ENDPOINT_URL_XRAY) for a stand-in that checks each export as X-Ray would.
      const xraySwap = {};
      if (lambdaEnv.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
        facts.xray = await startXrayStandin({ book, region, iam: (principal) => iamEvaluator(template, resolve, principal) });
        cleanup.push(facts.xray.stop);
        xraySwap.AWS_ENDPOINT_URL_XRAY = facts.xray.endpoint;
      }
      const fnCredentials = book.issue(fnRoleId);
      const logGroup = fn.LoggingConfig?.LogGroup ? resolve(fn.LoggingConfig.LogGroup) : `/aws/lambda/${stackName}-${fnId}`;
      const lambda = await startFunction({
        command: bin("cloudtrail-mcp"),
        env: {
          ...lambdaEnv,
          ...xraySwap,
          AWS_ACCESS_KEY_ID: fnCredentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: fnCredentials.secretAccessKey,
          AWS_SESSION_TOKEN: fnCredentials.sessionToken,
        },
        fn: {
          name: `${stackName}-${fnId}`,
          arn: resolve({ "Fn::GetAtt": [fnId, "Arn"] }),
          region,
          account,
          handler: fn.Handler,
          memoryMb: fn.MemorySize ?? 128,
          timeoutSecs: fn.Timeout ?? 3,
          authType: url.Properties.AuthType,
          urlId: "abcdefghijklmnopqrstuvwxyz012345",
          logGroup,
          iam: (principal) => iamEvaluator(template, resolve, principal),
        },
        book,
      });
      cleanup.push(lambda.stop);
      facts.lambda = lambda;
      facts.fnRoleId = fnRoleId;
      attributes[urlId] = { FunctionUrl: lambda.url };

      // The ALB's DNS name (the agent's environment names it). ELB names keep the case of the
      // load balancer's name; browsers send the Host lower-cased.
      const [albId] = onlyResource(template, "AWS::ElasticLoadBalancingV2::LoadBalancer");
      attributes[albId] = { DNSName: `${stackName.slice(0, 10)}-Alb-1234567890.${region}.elb.amazonaws.com` };

      // The agent's task: image ENV, then the task definition's environment, then what ECS adds.
      const [, task] = onlyResource(template, "AWS::ECS::TaskDefinition");
      const containers = task.Properties.ContainerDefinitions;
      assert.equal(containers.length, 1, "one container per task");
      const [container] = containers;
      assert.equal(container.Command, undefined, "the image's ENTRYPOINT runs as built");
      assert.equal(container.EntryPoint, undefined, "the image's ENTRYPOINT runs as built");
      const images = dockerImageAssets(assembly);
      assert.equal(images.length, 1, "one image asset: the agent");
      const imageUri = resolve(container.Image);
      assert.ok(imageUri.endsWith(`:${images[0].hash}`), `the task runs the staged image asset (${imageUri})`);
      const imageEnv = dockerfileEnv(readFileSync(images[0].dockerFile, "utf8"));
      const taskEnv = Object.fromEntries(resolve(container.Environment ?? []).map((e) => [e.Name, e.Value]));
      facts.containerEnv = { ...imageEnv, ...taskEnv };
      facts.portMappings = (container.PortMappings ?? []).map((p) => p.ContainerPort);
      const [taskRoleId] = reference(task.Properties.TaskRoleArn);
      facts.taskRoleId = taskRoleId;
      facts.taskIam = iamEvaluator(template, resolve, taskRoleId);

      // An authenticate-oidc listener: the agent must verify the tokens the ALB signs, as its
      // `signer`, which is the load balancer's ARN (its Ref).
      const listeners = resourcesOf(template, "AWS::ElasticLoadBalancingV2::Listener");
      facts.oidc = listeners.some(([, l]) => (l.Properties.DefaultActions ?? []).some((a) => a.Type === "authenticate-oidc"));
      const swaps = {};
      if (facts.oidc) {
        facts.albArn = resolve({ Ref: albId });
        facts.signer = await startOidcSigner(facts.albArn);
        cleanup.push(facts.signer.stop);
        swaps.AGENT_ALB_KEY_ENDPOINT = facts.signer.endpoint;
        facts.user = { sub: "0b8f5e4a-alice", email: "alice@example.com", email_verified: "true" };
      }

      const credentials = await startCredentialsEndpoint(book, taskRoleId);
      cleanup.push(credentials.stop);
      const bedrock = await startBedrockStandin();
      cleanup.push(bedrock.close);
      facts.bedrock = bedrock;
      // The sessions table the container environment names, created as the template defines it.
      const tableName = facts.containerEnv.AGENT_SESSIONS_TABLE;
      const [tableId, table] = onlyResource(template, "AWS::DynamoDB::Table");
      assert.equal(resolve({ Ref: tableId }), tableName, "the agent uses the stack's table");
      const dynamodb = await startDynamoStandin({
        region, tableName, tableArn: resolve({ "Fn::GetAtt": [tableId, "Arn"] }), table: table.Properties, iam: facts.taskIam,
      });
      cleanup.push(dynamodb.stop);
      facts.dynamodb = dynamodb;
      const home = mkdtempSync(path.join(tmpdir(), "deployed-home-"));
      const agent = startProcess(bin("agent"), {
        ...facts.containerEnv,
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_EXECUTION_ENV: "AWS_ECS_FARGATE",
        ...credentials.env,
        // The other permitted swap: Bedrock's endpoint (the SDK's standard override).
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
        // And DynamoDB's (same mechanism).
        AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
        ...swaps,
        ...xraySwap,
        HOME: home,
        PATH: "/usr/bin:/bin",
      });
      cleanup.push(() => stopProcess(agent.child));
      facts.agent = agent;

      // The ALB: its DNS name, the target group, and the service's container/port binding.
      const [, service] = onlyResource(template, "AWS::ECS::Service");
      const [binding] = service.Properties.LoadBalancers;
      const [targetGroupId] = reference(binding.TargetGroupArn);
      const targetGroup = template.Resources[targetGroupId].Properties;
      facts.binding = binding;
      facts.targetGroup = targetGroup;
      facts.albDns = resolve({ "Fn::GetAtt": [albId, "DNSName"] }).toLowerCase();
      // Health checks go to the registered target: the task's address and the container port
      // the service binds (the target group's "traffic-port").
      facts.target = {
        address: taskAddress,
        port: targetGroup.HealthCheckPort && targetGroup.HealthCheckPort !== "traffic-port" ? Number(targetGroup.HealthCheckPort) : binding.ContainerPort,
      };
      const alb = await startLoadBalancer({
        dnsName: facts.albDns,
        target: { address: taskAddress, port: binding.ContainerPort },
        oidc: facts.oidc ? { signer: facts.signer, claims: facts.user } : undefined,
      });
      cleanup.push(alb.stop);
      facts.alb = alb;
    });

    after(async () => {
      for (const stop of cleanup.reverse()) await stop();
    });

    test("the template's wiring is complete: Function URL auth, container port, target group", () => {
      assert.equal(facts.authType, "AWS_IAM", "the MCP Function URL requires SigV4");
      assert.ok(facts.portMappings.includes(facts.binding.ContainerPort), `the service binds a mapped container port (${facts.portMappings})`);
      assert.equal(facts.targetGroup.TargetType, "ip", "awsvpc tasks register by IP");
      assert.equal(facts.targetGroup.HealthCheckProtocol ?? "HTTP", "HTTP");
      assert.ok(facts.targetGroup.HealthCheckPath, "a health-check path");
    });

    test("the target group's health check finds the task healthy", async () => {
      const { HealthCheckPath: checkPath, Matcher } = facts.targetGroup;
      const matcher = Matcher?.HttpCode ?? "200";
      let last;
      // The target group's view: a few seconds of failed checks while the task starts, then healthy.
      for (let i = 0; i < 100; i++) {
        if (facts.agent.child.exitCode !== null) break;
        last = await healthCheck({ ...facts.target, path: checkPath, matcher });
        if (last.healthy) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(last?.healthy, `health check ${checkPath} on ${facts.target.address}:${facts.target.port} failed: ${JSON.stringify(last)}\nagent output:\n${facts.agent.output.join("")}`);
    });

    test("a chat through the ALB calls the MCP tool over the IAM Function URL and the tool ends ok", async () => {
      const response = await fetch(`${facts.alb.url}/api/chat`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", origin: `http://${facts.albDns}` },
        body: JSON.stringify({ message: "Which tag does the instance carry?", timezone: "UTC" }),
      });
      facts.chatCookie = response.headers.getSetCookie().find((c) => c.startsWith("agent_session="))?.split(";")[0];
      const body = response.ok ? await readEvents(response) : await response.text();
      const logs = () => `\nagent output:\n${facts.agent.output.join("")}\nfunction output:\n${facts.lambda.output.join("")}`;
      assert.equal(response.status, 200, `${JSON.stringify(body)}${logs()}`);
      const ends = body.filter((e) => e.event === "tool_end");
      assert.ok(ends.length > 0, `the model's tool call ran: ${JSON.stringify(body)}${logs()}`);
      for (const end of ends) assert.equal(end.data.status, "ok", `tool ${end.data.name}: ${end.data.output}${logs()}`);
      assert.ok(!body.some((e) => e.event === "error"), JSON.stringify(body));
      assert.equal(body.at(-1).event, "done");

      // What the Function URL saw: the MCP route, under the Function URL's own host name.
      const invocations = facts.lambda.invocations;
      assert.ok(invocations.length > 0);
      for (const call of invocations) {
        assert.equal(call.path, "/mcp", "the agent calls the route cloudtrail-mcp serves");
        assert.match(call.host, new RegExp(`\\.lambda-url\\.${region}\\.on\\.aws$`));
        assert.equal(call.result, "response");
      }

      // Signed in: the function's audit line names the user the tool call was for, and so does
      // the agent's line for the question.
      if (facts.oidc) {
        const audit = (output) => output.join("").split("\n").filter((l) => l.includes('"target":"audit"'));
        const calls = audit(facts.lambda.output);
        assert.ok(calls.some((l) => l.includes(`"user":"${facts.user.sub}"`) && l.includes(`"user_header":"${facts.user.sub}"`)),
          `the function audits the caller: ${calls.join("\n")}${logs()}`);
        assert.ok(audit(facts.agent.output).some((l) => l.includes(`"user":"${facts.user.sub}"`)), logs());
      }
    });

    test("with OIDC, requests that skip the ALB's login, carry another ALB's token or a user outside the allow-list are refused", async (t) => {
      if (!facts.oidc) return t.skip("no authenticate-oidc listener in this configuration");
      // Straight to the task (no token): refused, even with the right Host (which fetch cannot
      // set: node:http can).
      const toTask = (headers) => new Promise((resolve, reject) => {
        const req = httpRequest({ host: taskAddress, port: facts.binding.ContainerPort, path: "/api/session", headers: { host: facts.albDns, ...headers } }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode }));
        });
        req.on("error", reject);
        req.end();
      });
      assert.equal((await toTask({})).status, 401);
      const tokens = {
        "another load balancer": facts.signer.token(facts.user, { by: facts.albArn.replace("/50dc", "/0000") }),
        expired: facts.signer.token(facts.user, { expiresIn: -600 }),
      };
      for (const [name, token] of Object.entries(tokens)) {
        assert.equal((await toTask({ "x-amzn-oidc-data": token })).status, 401, name);
      }
      // Signed in at the identity provider, but not in an allowed e-mail domain.
      const mallory = await startLoadBalancer({
        dnsName: facts.albDns,
        target: { address: taskAddress, port: facts.binding.ContainerPort },
        oidc: { signer: facts.signer, claims: { sub: "mallory", email: "mallory@evil.example", email_verified: "true" } },
      });
      try {
        const page = await fetch(`${mallory.url}/`, { headers: { accept: "text/html" } });
        assert.equal(page.status, 403);
        assert.match(await page.text(), /mallory@evil\.example is signed in but may not use this agent/);
      } finally {
        await mallory.stop();
      }
    });

    test("the chat lives in the sessions table: item operations the task role may run, signed with its credentials", async () => {
      assert.equal(facts.containerEnv.AGENT_SESSION_STORE, "dynamodb");
      const calls = facts.dynamodb.calls;
      const actions = new Set(calls.map((c) => c.action));
      for (const action of ["PutItem", "UpdateItem", "Query"]) assert.ok(actions.has(action), `${action} in ${[...actions]}`);
      for (const call of calls) {
        assert.ok(call.allowed, `the task role may ${call.action} on ${call.table}`);
        assert.equal(book.lookup(call.accessKey)?.principal, facts.taskRoleId, "signed with the task role's credentials");
      }
      // A reload on the task shows the chat it just stored (question and answer).
      const cookie = facts.chatCookie;
      assert.ok(cookie, "the chat set a session cookie");
      const view = await (await fetch(`${facts.alb.url}/api/session`, { headers: { cookie } })).json();
      assert.equal(view.messages.length, 2, JSON.stringify(view));
      assert.equal(view.messages[0].text, "Which tag does the instance carry?");
    });

    test("the agent refuses a foreign Host through the ALB (DNS rebinding) and a cross-site Origin", async () => {
      const rebound = await startLoadBalancer({ dnsName: "rebound.attacker.example", target: { address: taskAddress, port: facts.binding.ContainerPort } });
      try {
        const page = await fetch(`${rebound.url}/`);
        assert.equal(page.status, 403);
      } finally {
        await rebound.stop();
      }
      const cross = await fetch(`${facts.alb.url}/api/chat`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: "https://attacker.example" },
        body: JSON.stringify({ message: "hello" }),
      });
      assert.equal(cross.status, 403);
      const page = await fetch(`${facts.alb.url}/`);
      assert.equal(page.status, 200, "the ALB's own name is served");
    });

    test("Bedrock was called in the configured region with the task role, for the configured model", () => {
      const modelId = facts.containerEnv.AGENT_BEDROCK_MODEL_ID;
      const bedrockRegion = facts.containerEnv.AGENT_BEDROCK_REGION;
      assert.ok(facts.bedrock.requests.length > 0, "the agent asked the model");
      for (const request of facts.bedrock.requests) {
        assert.equal(decodeURIComponent(request.path), `/model/${modelId}/converse-stream`);
        const [, key, scopeRegion, service] = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\//.exec(request.authorization);
        assert.equal(scopeRegion, bedrockRegion);
        assert.equal(service, "bedrock");
        assert.equal(book.lookup(key)?.principal, facts.taskRoleId, "signed with the task role's credentials");
      }
      // The task role may invoke what it calls (Bedrock refuses otherwise).
      const profile = /^(us|eu|apac|jp|au|ca|us-gov|global)\.(.+)$/.exec(modelId);
      const resource = modelId.startsWith("arn:") ? modelId
        : profile ? `arn:aws:bedrock:${bedrockRegion}:${account}:inference-profile/${modelId}`
          : `arn:aws:bedrock:${bedrockRegion}::foundation-model/${modelId}`;
      assert.ok(facts.taskIam.allowed("bedrock:InvokeModelWithResponseStream", resource), `task role may stream ${resource}`);
      if (profile) {
        assert.ok(facts.taskIam.allowed("bedrock:InvokeModelWithResponseStream", `arn:aws:bedrock:${bedrockRegion}::foundation-model/${profile[2]}`),
          "and the foundation model the profile routes to");
      }
    });

    test("the Function URL refuses unsigned requests and principals without invoke permission", async () => {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} });
      const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
      const unsigned = await fetch(`${facts.lambda.url}mcp`, { method: "POST", headers, body });
      assert.equal(unsigned.status, 403);
      // The function's own role has no lambda:Invoke* permission: a valid signature is not enough.
      const { SignatureV4 } = await import("@smithy/signature-v4");
      const { Hash } = await import("@smithy/hash-node");
      const own = book.issue(facts.fnRoleId);
      const target = new URL(`${facts.lambda.url}mcp`);
      const signer = new SignatureV4({ credentials: own, region, service: "lambda", sha256: Hash.bind(null, "sha256"), applyChecksum: false });
      const signed = await signer.sign({ method: "POST", protocol: "https:", hostname: target.host, path: target.pathname, headers: { ...headers, host: target.host }, body });
      const foreign = await fetch(target, { method: "POST", headers: signed.headers, body });
      assert.equal(foreign.status, 403);
      assert.match(await foreign.text(), /not authorized to perform: lambda:InvokeFunctionUrl/);
    });

    test("with trace export, both processes send their spans to X-Ray, signed with their own roles", async (t) => {
      const endpoint = facts.lambdaEnv.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
      assert.equal(facts.containerEnv.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, endpoint, "both processes export to the same endpoint");
      if (!endpoint) return t.skip("this assembly does not export traces (context traces)");
      assert.equal(endpoint, `https://xray.${region}.amazonaws.com/v1/traces`);
      // The chat above made spans on both sides: the function flushes before each answer, the
      // agent's batch goes out within its schedule delay (5 s by default).
      const senders = () => new Set(facts.xray.exports.map((e) => e.principal));
      for (let i = 0; i < 100 && senders().size < 2; i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(facts.xray.refused, [], "no export was refused");
      assert.deepEqual([...senders()].sort(), [facts.fnRoleId, facts.taskRoleId].sort(), JSON.stringify(facts.xray.exports));
    });
  });
}

// Every stack resource kind the topology reads is present once (a renamed or duplicated resource
// must not silently skip a check above).
test("the assemblies hold one Function URL, task definition, service, target group and load balancer", () => {
  for (const dir of assemblies) {
    const { template } = loadAssembly(dir);
    for (const type of ["AWS::Lambda::Url", "AWS::ECS::TaskDefinition", "AWS::ECS::Service", "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::LoadBalancer"]) {
      assert.equal(resourcesOf(template, type).length, 1, `${path.basename(dir)}: ${type}`);
    }
  }
});
