// Which ARNs the agent's task role may invoke for a configured Bedrock model: scoped to that model
// (and the inference profile that routes to it), never `bedrock:*` or every model. The model id is
// parsed here once: config.ts refuses what `parseModelId` refuses, and the grant is built from the
// same parse, so every form the configuration accepts has a grant that works.

/** Geographic prefixes of system cross-region inference profile ids (`us.anthropic...`). */
export const PROFILE_PREFIXES = ['us', 'eu', 'apac', 'jp', 'au', 'ca', 'us-gov', 'global'];

/** An id that is not one of the forms below (the message says which forms are). */
export class ModelIdError extends Error {}

/**
 * A foundation model id: provider, a dot, model and version (`anthropic.claude-sonnet-4-5-20250929-v1:0`).
 * Lower-case letters, digits and `-._:` only: a `*` or `?` would turn the IAM resource into a
 * pattern matching other models.
 */
const MODEL_ID = /^[a-z0-9-]+\.[a-z0-9][a-z0-9._:-]*$/;

/** A Bedrock ARN: partition, region, account (empty for foundation models), type and id. */
const BEDROCK_ARN = /^arn:(aws|aws-cn|aws-us-gov):bedrock:([a-z]{2}(?:-[a-z]+)+-\d+):(\d{12})?:([a-z-]+)\/([A-Za-z0-9._:-]+)$/;

/** Bedrock resource types the agent can invoke by ARN. */
const ARN_TYPES = ['application-inference-profile', 'inference-profile', 'provisioned-model', 'foundation-model',
  'custom-model-deployment', 'imported-model'];

const FORMS = 'a foundation model id (anthropic.claude-...), a cross-region inference profile id '
  + `(${PROFILE_PREFIXES.map((p) => `${p}.`).join(', ')} followed by a model id), or a Bedrock ARN of type `
  + ARN_TYPES.join(', ');

export type BedrockModel =
  /** `anthropic.claude-...`: that model, in the region the agent calls Bedrock in. */
  | { readonly kind: 'foundation-model'; readonly model: string }
  /** `global.anthropic...` (or its ARN): routes to `model` in several regions. */
  | { readonly kind: 'system-profile'; readonly profileId: string; readonly model: string; readonly arn?: string }
  /** `arn:...:application-inference-profile/ID`: routes to foundation models its ARN does not name. */
  | { readonly kind: 'application-profile'; readonly arn: string; readonly partition: string }
  /** Any other invocable Bedrock ARN (provisioned model, foundation model...): that resource only. */
  | { readonly kind: 'arn'; readonly arn: string };

/** Splits `us.anthropic.claude-...` into the profile prefix and the model id, or undefined. */
function profileParts(id: string): { prefix: string; model: string } | undefined {
  const [prefix, ...rest] = id.split('.');
  if (!PROFILE_PREFIXES.includes(prefix)) return undefined;
  const model = rest.join('.');
  if (rest.length < 2 || !MODEL_ID.test(model)) {
    throw new ModelIdError(`${JSON.stringify(id)} starts with the inference profile prefix "${prefix}." but is not `
      + `followed by a model id (${prefix}.PROVIDER.MODEL, e.g. ${prefix}.anthropic.claude-sonnet-4-5-20250929-v1:0)`);
  }
  return { prefix, model };
}

/** Checks one entry of bedrockFoundationModels: a plain foundation model id, not a profile id. */
export function checkFoundationModelId(id: string): void {
  if (PROFILE_PREFIXES.includes(id.split('.')[0])) {
    throw new ModelIdError(`${JSON.stringify(id)} is an inference profile id; list the foundation model ids it routes `
      + `to instead (e.g. ${id.split('.').slice(1).join('.') || 'anthropic.claude-...'})`);
  }
  if (!MODEL_ID.test(id)) {
    throw new ModelIdError(`${JSON.stringify(id)} is not a foundation model id such as `
      + 'anthropic.claude-sonnet-4-5-20250929-v1:0 (lower case, no wildcards)');
  }
}

/** What `modelId` is; throws ModelIdError (naming the accepted forms) for anything else. */
export function parseModelId(modelId: string): BedrockModel {
  if (modelId.startsWith('arn:')) {
    const match = BEDROCK_ARN.exec(modelId);
    if (!match) {
      throw new ModelIdError(`${JSON.stringify(modelId)} is not a Bedrock ARN `
        + '(arn:aws:bedrock:REGION:ACCOUNT:TYPE/ID, e.g. arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123)');
    }
    const [, partition, , account, type, id] = match;
    if (!ARN_TYPES.includes(type)) {
      throw new ModelIdError(`${JSON.stringify(modelId)}: the agent cannot invoke a Bedrock ${type}; use ${FORMS}`);
    }
    if ((type === 'foundation-model') !== (account === undefined)) {
      throw new ModelIdError(`${JSON.stringify(modelId)}: a ${type} ARN ${type === 'foundation-model' ? 'has no' : 'needs an'} `
        + 'account id (foundation models: arn:aws:bedrock:REGION::foundation-model/ID; others: arn:aws:bedrock:REGION:ACCOUNT:TYPE/ID)');
    }
    if (type === 'application-inference-profile') return { kind: 'application-profile', arn: modelId, partition };
    if (type === 'inference-profile') {
      const parts = profileParts(id);
      if (!parts) throw new ModelIdError(`${JSON.stringify(modelId)}: ${JSON.stringify(id)} is not a cross-region inference profile id`);
      return { kind: 'system-profile', profileId: id, model: parts.model, arn: modelId };
    }
    if (type === 'foundation-model' && !MODEL_ID.test(id)) {
      throw new ModelIdError(`${JSON.stringify(modelId)}: ${JSON.stringify(id)} is not a foundation model id`);
    }
    return { kind: 'arn', arn: modelId };
  }
  const profile = profileParts(modelId);
  if (profile) return { kind: 'system-profile', profileId: modelId, model: profile.model };
  if (!MODEL_ID.test(modelId)) throw new ModelIdError(`${JSON.stringify(modelId)} is not a Bedrock model id: use ${FORMS}`);
  return { kind: 'foundation-model', model: modelId };
}

/** The foundation model in every region (an inference profile picks one per request), plus the
 *  region-less form that requests routed by a global profile are authorized against. */
function routedModelArns(partition: string, model: string, global: boolean): string[] {
  return [
    `arn:${partition}:bedrock:*::foundation-model/${model}`,
    ...(global ? [`arn:${partition}:bedrock:::foundation-model/${model}`] : []),
  ];
}

/**
 * ARNs for `bedrock:InvokeModel*` on `modelId` called from `region` in `account`.
 * - a foundation model id: that model in that region;
 * - a system cross-region inference profile id or ARN: the profile (in that region for an id), and
 *   the model in any region it routes to (plus the region-less model ARN `global.` profiles use);
 * - an application inference profile ARN: that ARN, and each of `foundationModels` (which the ARN
 *   does not name: config.ts requires them) in any region plus region-less, since a profile copied
 *   from a cross-region (or global) profile routes like it;
 * - any other Bedrock ARN (provisioned model, foundation model...): exactly that ARN.
 */
export function bedrockModelArns(modelId: string, region: string, account: string, foundationModels: readonly string[] = []): string[] {
  const model = parseModelId(modelId);
  switch (model.kind) {
    case 'foundation-model':
      return [`arn:aws:bedrock:${region}::foundation-model/${model.model}`];
    case 'system-profile': {
      const partition = model.arn ? model.arn.split(':')[1] : 'aws';
      return [
        model.arn ?? `arn:aws:bedrock:${region}:${account}:inference-profile/${model.profileId}`,
        ...routedModelArns(partition, model.model, model.profileId.startsWith('global.')),
      ];
    }
    case 'application-profile': {
      if (foundationModels.length === 0) {
        throw new ModelIdError(`${modelId} is an application inference profile: name the foundation models it routes to`);
      }
      foundationModels.forEach(checkFoundationModelId);
      return [model.arn, ...[...new Set(foundationModels)].flatMap((m) => routedModelArns(model.partition, m, true))];
    }
    case 'arn':
      return [model.arn];
  }
}
