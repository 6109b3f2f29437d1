/**
 * Model names the demo model knows. The `demo-*` names are test controls: they work through any
 * client because a client always passes the model name through unchanged.
 */
import type { Model } from 'openai/resources/models';

export const DEFAULT_MODEL = 'demo';
export const RATE_LIMITED_MODEL = 'demo-error-429';
export const FAILING_MODEL = 'demo-error-500';
export const SLOW_MODEL = 'demo-slow';
export const HOLD_MODEL = 'demo-hold';
export const LONG_MODEL = 'demo-long';
export const EMBEDDING_MODEL = 'demo-embedding';

const MODEL_IDS: readonly string[] = [
  DEFAULT_MODEL,
  EMBEDDING_MODEL,
  RATE_LIMITED_MODEL,
  FAILING_MODEL,
  SLOW_MODEL,
  HOLD_MODEL,
  LONG_MODEL,
];

/** A fixed date keeps listings byte-identical between runs. */
const CREATED = 1_735_689_600;

function modelObject(id: string): Model {
  return { id, object: 'model', created: CREATED, owned_by: 'gatehouse' };
}

export function listModels(): { object: 'list'; data: Model[] } {
  return { object: 'list', data: MODEL_IDS.map(modelObject) };
}

/** The model, or undefined when the demo does not list it (the caller answers 404). */
export function findModel(id: string): Model | undefined {
  return MODEL_IDS.includes(id) ? modelObject(id) : undefined;
}
