/**
 * The endpoint's prices as the stack passes them to the functions
 * (`MODEL_PRICE_*`): each document then records what it cost, and the logs
 * a running total. No prices, no cost.
 */
import { FieldlensPropsError } from '../errors';

/** Prices per million tokens, as the endpoint bills them. */
export interface ModelPrices {
  /** Per million prompt tokens not served from the endpoint's prompt cache. */
  readonly inputPerMillion: number;
  /**
   * Per million prompt tokens served from the prompt cache.
   * @default - the input price
   */
  readonly cachedInputPerMillion?: number;
  /** Per million completion tokens. */
  readonly outputPerMillion: number;
  /**
   * A label for the amounts; nothing is converted.
   * @default 'USD'
   */
  readonly currency?: string;
}

/**
 * The functions' variables for `prices` (none without prices).
 *
 * @throws {FieldlensPropsError} for a price that is not a number ≥ 0, or a currency that is not a short label.
 */
export function modelPricesEnvironment(prices: ModelPrices | undefined): Record<string, string> {
  if (!prices) return {};
  const check = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new FieldlensPropsError(`model.prices.${name}: expected a price per million tokens, a number ≥ 0, got ${v}`);
    }
  };
  check('inputPerMillion', prices.inputPerMillion);
  check('cachedInputPerMillion', prices.cachedInputPerMillion);
  check('outputPerMillion', prices.outputPerMillion);
  if (prices.currency !== undefined && !/^[A-Za-z]{1,10}$/.test(prices.currency)) {
    throw new FieldlensPropsError(`model.prices.currency: expected a currency label such as USD, got ${JSON.stringify(prices.currency)}`);
  }
  return {
    MODEL_PRICE_INPUT_PER_MTOK: String(prices.inputPerMillion),
    ...(prices.cachedInputPerMillion !== undefined ? { MODEL_PRICE_CACHED_INPUT_PER_MTOK: String(prices.cachedInputPerMillion) } : {}),
    MODEL_PRICE_OUTPUT_PER_MTOK: String(prices.outputPerMillion),
    ...(prices.currency !== undefined ? { MODEL_PRICE_CURRENCY: prices.currency } : {}),
  };
}
