// Which ARNs the agent's task role may invoke for a configured Bedrock model: scoped to that model
// (and the inference profile that routes to it), never `bedrock:*` or every model.

/** Geographic prefixes of cross-region inference profile ids (`us.anthropic...`). */
const PROFILE_PREFIXES = ['us', 'eu', 'apac', 'jp', 'au', 'ca', 'us-gov', 'global'];

/**
 * ARNs for `bedrock:InvokeModel*` on `modelId` called from `region` in `account`.
 * - a foundation model id: that model in that region;
 * - a cross-region inference profile id: the profile, and the model in any region it routes to
 *   (plus the region-less model ARN global profiles use);
 * - an ARN (application inference profile, provisioned model): exactly that ARN.
 */
export function bedrockModelArns(modelId: string, region: string, account: string): string[] {
  if (modelId.startsWith('arn:')) return [modelId];
  const [prefix, ...rest] = modelId.split('.');
  if (PROFILE_PREFIXES.includes(prefix) && rest.length >= 2) {
    const model = rest.join('.');
    const arns = [
      `arn:aws:bedrock:${region}:${account}:inference-profile/${modelId}`,
      `arn:aws:bedrock:*::foundation-model/${model}`,
    ];
    if (prefix === 'global') arns.push(`arn:aws:bedrock:::foundation-model/${model}`);
    return arns;
  }
  return [`arn:aws:bedrock:${region}::foundation-model/${modelId}`];
}
