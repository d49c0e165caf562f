/**
 * Token usage in one meaning for every endpoint: `promptTokens` counts the
 * whole prompt, `cachedTokens` the part of it served from the endpoint's
 * prompt cache, `completionTokens` the answer.
 *
 * OpenAI-compatible servers already count that way (cached tokens are
 * inside `prompt_tokens`). Bedrock's Converse does not: its `inputTokens`
 * leave out the tokens read from and written to the cache, which come
 * apart (`ModelReply.cache`); here they are added back, reads as cached.
 */
import type { ResultDocument, Usage } from './document';
import type { ModelReply } from './ports';

/** A reply's usage in the one meaning above, or `undefined` when the endpoint reported none. */
export function replyUsage(reply: Pick<ModelReply, 'usage' | 'cache'>): Usage | undefined {
  const u = reply.usage;
  const c = reply.cache;
  if (!u && !c) return undefined;
  const cached = (u?.cachedTokens ?? 0) + (c?.readTokens ?? 0);
  return {
    promptTokens: (u?.promptTokens ?? 0) + (c ? c.readTokens + c.writeTokens : 0),
    completionTokens: u?.completionTokens ?? 0,
    ...(u?.cachedTokens !== undefined || c ? { cachedTokens: cached } : {}),
  };
}

/**
 * `a + b`; `cachedTokens` is kept when either reported it. `a` may be
 * `undefined` (nothing counted yet).
 */
export function addUsage(a: Usage | undefined, b: Usage): Usage {
  if (!a) return { ...b };
  const cached = a.cachedTokens !== undefined || b.cachedTokens !== undefined;
  return {
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    ...(cached ? { cachedTokens: (a.cachedTokens ?? 0) + (b.cachedTokens ?? 0) } : {}),
  };
}

/** The usage of a whole document: its fields' usage summed, or `undefined` when no field has any. */
export function documentUsage(fieldResults: ResultDocument['fieldResults']): Usage | undefined {
  let total: Usage | undefined;
  for (const r of Object.values(fieldResults)) if (r.usage) total = addUsage(total, r.usage);
  return total;
}
