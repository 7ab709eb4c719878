// Reads a synthesized cloud assembly the way CloudFormation and the container runtime would: the
// stack template (resources, intrinsic functions), the staged image asset (its Dockerfile's ENV),
// and IAM identity policies evaluated for one principal. Nothing here knows how the TypeScript
// wires the stack: every value comes from the synthesized files.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

/** The first stack template of the assembly in `dir`, with its asset manifest. */
export function loadAssembly(dir) {
  const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"));
  const stack = Object.entries(manifest.artifacts).find(([, a]) => a.type === "aws:cloudformation:stack");
  if (!stack) throw new Error(`${dir}: no stack in the cloud assembly`);
  const [stackName, artifact] = stack;
  const template = JSON.parse(readFileSync(path.join(dir, artifact.properties.templateFile), "utf8"));
  const assetsFile = readdirSync(dir).find((f) => f === `${stackName}.assets.json`);
  const assets = assetsFile ? JSON.parse(readFileSync(path.join(dir, assetsFile), "utf8")) : { dockerImages: {} };
  return { dir, stackName, template, assets };
}

/** The staged docker image assets: absolute directory and Dockerfile path of each. */
export function dockerImageAssets(assembly) {
  return Object.entries(assembly.assets.dockerImages ?? {}).map(([hash, image]) => {
    const directory = path.resolve(assembly.dir, image.source.directory);
    return { hash, directory, dockerFile: path.join(directory, image.source.dockerFile ?? "Dockerfile") };
  });
}

/** The resources of `type`, as [logicalId, resource] pairs. */
export function resourcesOf(template, type) {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The one resource of `type` (fails when there are none or several). */
export function onlyResource(template, type) {
  const found = resourcesOf(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

/** Resource types whose `Ref` is their ARN (not their name). */
const REF_IS_ARN = new Set(["AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup"]);

/**
 * A resolver of intrinsic functions for a deployment in `region` of `account`. `attributes`
 * supplies `Fn::GetAtt` values the test decides (e.g. a Function URL that points at a local
 * emulator): `{ [logicalId]: { [attribute]: value } }`. Everything else gets the value
 * CloudFormation would give it in shape (ARNs, names); an intrinsic it does not know fails
 * loudly rather than turning into a wrong value.
 */
export function resolver(template, { region, account, stackName, attributes = {} }) {
  const pseudo = {
    "AWS::Region": region,
    "AWS::AccountId": account,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": stackName,
    "AWS::StackId": `arn:aws:cloudformation:${region}:${account}:stack/${stackName}/00000000-0000-0000-0000-000000000000`,
    "AWS::NoValue": undefined,
  };
  const physicalName = (id) => `${stackName}-${id}`.slice(0, 64);
  // S3 bucket names are lower case (and their ARNs have no region or account).
  const bucketName = (id) => physicalName(id).toLowerCase().slice(0, 63);
  const arnOf = (id) => {
    const resource = template.Resources[id];
    if (!resource) throw new Error(`Fn::GetAtt of an unknown resource ${id}`);
    switch (resource.Type) {
      case "AWS::Lambda::Function":
        return `arn:aws:lambda:${region}:${account}:function:${physicalName(id)}`;
      case "AWS::IAM::Role":
        return `arn:aws:iam::${account}:role/${physicalName(id)}`;
      case "AWS::Logs::LogGroup":
        return `arn:aws:logs:${region}:${account}:log-group:${physicalName(id)}:*`;
      case "AWS::ElasticLoadBalancingV2::LoadBalancer":
        return `arn:aws:elasticloadbalancing:${region}:${account}:loadbalancer/app/${physicalName(id).slice(0, 32)}/50dc6c495c0c9188`;
      case "AWS::ElasticLoadBalancingV2::TargetGroup":
        return `arn:aws:elasticloadbalancing:${region}:${account}:targetgroup/${physicalName(id).slice(0, 32)}/73e2d6bc24d8a067`;
      case "AWS::S3::Bucket":
        return `arn:aws:s3:::${bucketName(id)}`;
      default: {
        const service = resource.Type.split("::")[1].toLowerCase();
        return `arn:aws:${service}:${region}:${account}:${physicalName(id)}`;
      }
    }
  };
  const getAtt = (id, attribute) => {
    const given = attributes[id]?.[attribute];
    if (given !== undefined) return given;
    if (attribute === "Arn") return arnOf(id);
    throw new Error(`Fn::GetAtt ${id}.${attribute}: no value known for this attribute`);
  };
  const resolve = (value) => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== "object") return value;
    const keys = Object.keys(value);
    if (keys.length !== 1 || !(keys[0] === "Ref" || keys[0].startsWith("Fn::"))) {
      return Object.fromEntries(keys.map((k) => [k, resolve(value[k])]));
    }
    const [fn] = keys;
    const arg = value[fn];
    switch (fn) {
      case "Ref":
        if (arg in pseudo) return pseudo[arg];
        if (template.Parameters?.[arg]) return template.Parameters[arg].Default;
        // Most resources' Ref is their name; load balancers and target groups give their ARN.
        if (REF_IS_ARN.has(template.Resources[arg]?.Type)) return arnOf(arg);
        if (template.Resources[arg]?.Type === "AWS::S3::Bucket") return bucketName(arg);
        if (template.Resources[arg]) return physicalName(arg);
        throw new Error(`Ref to an unknown name ${arg}`);
      case "Fn::GetAtt": {
        const [id, attribute] = Array.isArray(arg) ? arg : arg.split(".");
        return getAtt(id, attribute);
      }
      case "Fn::Join": {
        const [separator, parts] = arg;
        return resolve(parts).join(separator);
      }
      case "Fn::Select": {
        const [index, list] = arg;
        return resolve(list)[Number(resolve(index))];
      }
      case "Fn::Split": {
        const [separator, source] = arg;
        return String(resolve(source)).split(separator);
      }
      case "Fn::Sub": {
        const [text, vars = {}] = Array.isArray(arg) ? arg : [arg];
        return text.replace(/\$\{([^}!]+)\}/g, (_, name) => {
          if (name in vars) return resolve(vars[name]);
          if (name.includes(".")) return getAtt(...name.split("."));
          return resolve({ Ref: name });
        });
      }
      default:
        throw new Error(`intrinsic ${fn} is not supported by this test's resolver: extend it`);
    }
  };
  return { resolve, arnOf, physicalName };
}

/** `ENV` settings of the final stage of a Dockerfile (`ENV A=1 B=2` and `ENV A 1` forms). */
export function dockerfileEnv(text) {
  const lines = text.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n").replace(/\\\n/g, " ").split("\n");
  let env = {};
  for (const line of lines.map((l) => l.trim())) {
    const [op, ...rest] = line.split(/\s+/);
    if (/^FROM$/i.test(op)) env = {};
    if (!/^ENV$/i.test(op) || rest.length === 0) continue;
    if (!rest[0].includes("=")) {
      env[rest[0]] = rest.slice(1).join(" ");
      continue;
    }
    for (const pair of rest) {
      const at = pair.indexOf("=");
      env[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"(.*)"$/, "$1");
    }
  }
  return env;
}

/** Every `COPY` source of a Dockerfile (not `--from=` stage copies). */
export function dockerfileCopySources(text) {
  const lines = text.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n").replace(/\\\n/g, " ").split("\n");
  const sources = [];
  for (const line of lines.map((l) => l.trim())) {
    const [op, ...args] = line.split(/\s+/);
    if (!/^(COPY|ADD)$/i.test(op) || args.some((a) => a.startsWith("--from="))) continue;
    sources.push(...args.filter((a) => !a.startsWith("--")).slice(0, -1));
  }
  return sources;
}

const wildcard = (pattern) => new RegExp(`^${pattern.split("*").map((p) => p.split("?").map((q) => q.replace(/[.+^${}()|[\]\\]/g, "\\$&")).join(".")).join(".*")}$`);
const asList = (value) => (Array.isArray(value) ? value : [value]);

function conditionHolds(condition = {}, context) {
  for (const [operator, tests] of Object.entries(condition)) {
    for (const [key, expected] of Object.entries(tests)) {
      const actual = context[key];
      const wanted = asList(expected).map(String);
      switch (operator) {
        case "StringEquals":
        case "Bool":
          if (actual === undefined || !wanted.includes(String(actual))) return false;
          break;
        case "StringLike":
          if (actual === undefined || !wanted.some((w) => wildcard(w).test(String(actual)))) return false;
          break;
        default:
          throw new Error(`IAM condition operator ${operator} is not supported by this test's evaluator`);
      }
    }
  }
  return true;
}

/**
 * Identity-policy evaluation for the role `roleId` (its inline policies and the AWS::IAM::Policy
 * resources attached to it): explicit deny wins, then any allow; nothing allows by default.
 */
export function iamEvaluator(template, resolve, roleId) {
  const statements = [];
  for (const [, policy] of resourcesOf(template, "AWS::IAM::Policy")) {
    const roles = asList(policy.Properties.Roles ?? []);
    if (roles.some((r) => r?.Ref === roleId)) statements.push(...policy.Properties.PolicyDocument.Statement);
  }
  for (const policy of template.Resources[roleId]?.Properties?.Policies ?? []) statements.push(...policy.PolicyDocument.Statement);
  const resolved = statements.map((s) => ({ ...s, Resource: asList(resolve(s.Resource)) }));
  const matches = (s, action, resource, context) =>
    asList(s.Action).some((a) => wildcard(a.toLowerCase()).test(action.toLowerCase()))
    && s.Resource.some((r) => wildcard(r).test(resource))
    && conditionHolds(s.Condition, context);
  return {
    statements: resolved,
    allowed(action, resource, context = {}) {
      if (resolved.some((s) => s.Effect === "Deny" && matches(s, action, resource, context))) return false;
      return resolved.some((s) => s.Effect === "Allow" && matches(s, action, resource, context));
    },
  };
}
