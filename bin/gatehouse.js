#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`, which `npm ci` runs) when it is at least as
// new as every source file; otherwise the TypeScript sources through tsx, so an edited checkout never
// runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'cli', 'main.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const sources = join(root, 'src');
if (existsSync(compiled) && (!existsSync(sources) || statSync(compiled).mtimeMs >= newestSource(sources))) {
  await import(compiled);
} else {
  // Said on stderr because this path costs memory and start-up time (tsx's loader thread) that a
  // benchmark or an operator should not mistake for the compiled gateway's.
  process.stderr.write('gatehouse: dist/ is missing or older than src/, so the TypeScript sources run through tsx (`npm run build` compiles them)\n');
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
