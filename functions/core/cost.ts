/**
 * What a document cost, from its token usage and the endpoint's prices per
 * million tokens. Prices are the user's (CDK context or environment); with
 * none set, documents carry no cost.
 *
 * Input tokens served from the endpoint's prompt cache are billed at the
 * cached-input price (OpenAI, DashScope and Bedrock discount them), the
 * rest of the prompt at the input price, the answer at the output price.
 */
import type { DocumentCost, Usage } from './document';

/** Prices per million tokens, in one currency. */
export interface TokenPrices {
  /** e.g. `USD`; only a label, nothing is converted. */
  readonly currency: string;
  /** Per million prompt tokens not served from the cache. */
  readonly inputPerMillion: number;
  /** Per million prompt tokens served from the cache. @default inputPerMillion */
  readonly cachedInputPerMillion?: number;
  /** Per million completion tokens. */
  readonly outputPerMillion: number;
}

/** Costs are kept to this many decimal places: far below any bill's, and free of float noise. */
const DECIMALS = 8;

function round(n: number): number {
  const f = 10 ** DECIMALS;
  return Math.round(n * f) / f;
}

/**
 * The cost of `usage` at `prices`; no usage costs nothing.
 *
 * @example
 * ```ts
 * costOf({ promptTokens: 1200, cachedTokens: 1000, completionTokens: 20 },
 *   { currency: 'USD', inputPerMillion: 0.4, cachedInputPerMillion: 0.1, outputPerMillion: 1.6 })
 * // { currency: 'USD', input: 0.00008, cachedInput: 0.0001, output: 0.000032, total: 0.000212 }
 * ```
 */
export function costOf(usage: Usage | undefined, prices: TokenPrices): DocumentCost {
  const prompt = usage?.promptTokens ?? 0;
  const cached = Math.min(prompt, usage?.cachedTokens ?? 0);
  const input = ((prompt - cached) * prices.inputPerMillion) / 1e6;
  const cachedInput = (cached * (prices.cachedInputPerMillion ?? prices.inputPerMillion)) / 1e6;
  const output = ((usage?.completionTokens ?? 0) * prices.outputPerMillion) / 1e6;
  return {
    currency: prices.currency,
    input: round(input),
    cachedInput: round(cachedInput),
    output: round(output),
    total: round(input + cachedInput + output),
  };
}

/** A running total of costs, for the logs of one execution environment. */
export interface CostMeter {
  /** Adds a document's cost; returns the total so far. */
  add(cost: DocumentCost): number;
  /** The total so far. */
  readonly total: number;
  /** Documents counted. */
  readonly documents: number;
}

export function createCostMeter(): CostMeter {
  let total = 0;
  let documents = 0;
  return {
    add(cost) {
      total = round(total + cost.total);
      documents++;
      return total;
    },
    get total() {
      return total;
    },
    get documents() {
      return documents;
    },
  };
}

/** A cost for a one-line summary: `USD 0.000212`. */
export function formatCost(cost: Pick<DocumentCost, 'currency' | 'total'>): string {
  return `${cost.currency} ${cost.total.toFixed(6)}`;
}
