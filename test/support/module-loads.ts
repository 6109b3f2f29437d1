import { register } from 'node:module';

/**
 * Counts how often this process resolves a bare specifier from here on (the module hooks run on
 * their own thread; they count into shared memory, read here without waiting). For checks such as
 * "an HTTP-only gateway never loads the SQL parser".
 */
export function countModuleLoads(specifier: string): () => number {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const hooks = `
    let counter;
    export function initialize(data) { counter = data.counter; }
    export async function resolve(specifier, context, next) {
      if (specifier === ${JSON.stringify(specifier)}) Atomics.add(counter, 0, 1);
      return next(specifier, context);
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { counter } });
  return () => Atomics.load(counter, 0);
}
