/**
 * Renders the Helm chart the way `helm template` does, with Go's own text/template (the engine
 * helm uses, compiled to WebAssembly by @evertdespiegeleer/go-template), because helm itself
 * cannot be installed where the tests run. What this does not have is Sprig and Helm's own
 * functions: the chart restricts itself to text/template's built-ins (see its _helpers.tpl), and
 * a template that uses anything else fails to parse here, so the restriction is enforced.
 *
 * Like helm: every `_*.tpl` file's `define`s are visible to every template; files starting with
 * `_` produce no output; NOTES.txt is rendered on its own; empty documents are dropped; values
 * overrides merge into values.yaml map by map. Unlike helm's default, a missing value is an error
 * (missingkey=error, as `helm lint --strict` would warn), so a typo in `.Values.…` cannot render
 * as nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as renderGoTemplate } from '@evertdespiegeleer/go-template';
import YAML from 'yaml';

export const CHART_DIR = 'deploy/helm/gatehouse';

export interface Chart {
  readonly dir: string;
  readonly meta: { readonly name: string; readonly version: string; readonly appVersion: string; readonly [key: string]: unknown };
  readonly values: Record<string, unknown>;
  /** Template files by name (templates/…), helpers included. */
  readonly templates: ReadonlyMap<string, string>;
}

export interface Manifest {
  /** The template file it came from. */
  readonly source: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string>; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

export interface Rendered {
  readonly manifests: readonly Manifest[];
  readonly notes: string;
  readonly values: Record<string, unknown>;
}

export interface RenderOptions {
  readonly values?: Record<string, unknown>;
  readonly releaseName?: string;
  readonly namespace?: string;
}

export function loadChart(dir = CHART_DIR): Chart {
  const meta = YAML.parse(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Chart['meta'];
  const values = YAML.parse(readFileSync(join(dir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const templates = new Map<string, string>();
  for (const name of readdirSync(join(dir, 'templates')).sort()) {
    templates.set(`templates/${name}`, readFileSync(join(dir, 'templates', name), 'utf8'));
  }
  return { dir, meta, values, templates };
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Helm's coalescing of `--values` files: maps merge key by key, anything else replaces. */
export function mergeValues(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    out[key] = isMap(value) && isMap(base[key]) ? mergeValues(base[key], value) : value;
  }
  return out;
}

/**
 * YAML as Kubernetes reads it (YAML 1.1: `on`, `yes`, `0440` and `1:30` are not strings there),
 * refused when YAML 1.2 would read it differently, since then the same file means two things.
 */
export function parseManifestYaml(text: string, where: string): unknown {
  const as11 = YAML.parseDocument(text, { version: '1.1', uniqueKeys: true, prettyErrors: false });
  if (as11.errors.length > 0) throw new Error(`${where}: ${as11.errors[0]!.message}`);
  const as12 = YAML.parseDocument(text, { version: '1.2', uniqueKeys: true, prettyErrors: false });
  const value = as11.toJS();
  if (as12.errors.length > 0 || JSON.stringify(as12.toJS()) !== JSON.stringify(value)) {
    throw new Error(`${where}: reads differently as YAML 1.1 (Kubernetes) and 1.2; quote the ambiguous scalar`);
  }
  return value;
}

async function renderOne(name: string, text: string, helpers: string, data: unknown): Promise<string> {
  try {
    return await renderGoTemplate(helpers + text, data);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
  }
}

export async function renderChart(chart: Chart = loadChart(), options: RenderOptions = {}): Promise<Rendered> {
  const values = mergeValues(chart.values, options.values ?? {});
  const releaseName = options.releaseName ?? 'gatehouse';
  // helm's own rule for release names, so names built from it can stay within 63 characters.
  if (releaseName.length > 53 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(releaseName)) throw new Error(`release name "${releaseName}": helm refuses it (a DNS-1123 label of at most 53 characters)`);
  const namespace = options.namespace ?? 'gatehouse';
  const data = {
    Values: values,
    Release: { Name: releaseName, Namespace: namespace, Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
    Chart: { Name: chart.meta.name, Version: chart.meta.version, AppVersion: chart.meta.appVersion },
    Capabilities: { KubeVersion: { Version: 'v1.30.0', Major: '1', Minor: '30' } },
  };
  // Defines end in `{{- end -}}` or are comments, so the helpers add no text in front of a template.
  const helpers = [...chart.templates].filter(([name]) => /\/_[^/]*\.tpl$/.test(name)).map(([, text]) => text).join('');
  const manifests: Manifest[] = [];
  let notes = '';
  for (const [name, text] of chart.templates) {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.startsWith('_')) continue;
    const output = await renderOne(name, text, helpers, data);
    if (base === 'NOTES.txt') {
      notes = output;
      continue;
    }
    if (!base.endsWith('.yaml')) throw new Error(`${name}: helm renders only .yaml, .tpl and NOTES.txt here`);
    for (const [i, doc] of output.split(/^---[ \t]*$/m).entries()) {
      if (doc.trim() === '' || doc.split('\n').every((line) => line.trim() === '' || line.trim().startsWith('#'))) continue;
      const value = parseManifestYaml(doc, `${name} (document ${i + 1})`);
      if (!isMap(value) || typeof value.kind !== 'string' || typeof value.apiVersion !== 'string' || !isMap(value.metadata)) {
        throw new Error(`${name} (document ${i + 1}): not a Kubernetes object (apiVersion, kind, metadata)`);
      }
      manifests.push({ ...(value as unknown as Manifest), source: name });
    }
  }
  return { manifests, notes, values };
}

/** The one manifest of this kind (and name suffix); throws naming what was there instead. */
export function only(rendered: Rendered, kind: string, nameEndsWith = ''): Manifest {
  const found = rendered.manifests.filter((m) => m.kind === kind && m.metadata.name.endsWith(nameEndsWith));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} named …${nameEndsWith}, found ${found.length}: ${rendered.manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`);
  }
  return found[0]!;
}
