import { ConfigError, MaskingError } from '../errors.ts';
import type { MaskingProfileConfig, MaskStyle } from './config.ts';
import { customPatternDetector } from './detectors/custom-pattern.ts';
import { dictionaryDetector } from './detectors/dictionary.ts';
import { BUILTIN_DETECTORS } from './detectors/registry.ts';
import { entityTypesOf } from './detect-entities.ts';
import { MaskEngine } from './engine.ts';
import { expandEntityName, isEntityType } from './entity-types.ts';
import { failClosed } from './fail-closed.ts';
import { FieldMatcher, parseJsonPath } from './json-path.ts';
import { parseJsonStrict } from './json-strict.ts';
import { type FieldRule, JsonMasker } from './mask-json.ts';
import { maskRowValues } from './mask-row.ts';
import { RequestScanBudget, ScanBudget } from './scan-budget.ts';
import { createScanner } from './scanner.ts';
import { COLUMN_TYPE, FIELD_TYPE, type Styler } from './styler.ts';
import { TextStream, type TextStreamOptions } from './text-stream.ts';
import type { Detector, Finding, MaskProfile, TextStreamMasker } from './types.ts';

/** A compiled profile and the detectors it runs (the profile set's policy detection reuses them). */
export interface CompiledProfile {
  readonly profile: MaskProfile;
  readonly detectors: readonly Detector[];
}

const RESERVED_TYPES: ReadonlySet<string> = new Set([FIELD_TYPE, COLUMN_TYPE]);

// Regex constructs that can match whitespace: such a pattern may span a stream's chunk cut.
const MAY_SPAN_SPACE = /\\s|\\S|\\W|\\D|\\p|\\P|\[\^|(?<!\\)\.| /;

function configError(profile: string, key: string, message: string, cause?: unknown): ConfigError {
  return new ConfigError(`masking profile "${profile}", ${key}: ${message}`, { cause, details: { profile, key } });
}

function resolveDetectors(name: string, cfg: MaskingProfileConfig): Map<Detector, MaskStyle> {
  const styles = new Map<Detector, MaskStyle>();
  // Families first, so `{ secret: redact, github_token: pseudonym }` means what it says in any order.
  const entries = Object.entries(cfg.entities).sort(([a], [b]) => Number(isEntityType(a)) - Number(isEntityType(b)));
  for (const [entity, style] of entries) {
    const types = expandEntityName(entity);
    if (types === null) throw configError(name, `entities.${entity}`, `unknown entity type "${entity}"`);
    for (const t of types) styles.set(BUILTIN_DETECTORS[t], style);
  }
  const taken = new Set<string>();
  const claim = (key: string, type: string): void => {
    if (expandEntityName(type) !== null || RESERVED_TYPES.has(type) || taken.has(type)) throw configError(name, key, `name "${type}" is already taken`);
    taken.add(type);
  };
  for (const p of cfg.patterns) {
    claim(`patterns.${p.name}`, p.name);
    styles.set(customPatternDetector(name, p), p.style);
  }
  for (const [dict, spec] of Object.entries(cfg.dictionaries)) {
    claim(`dictionaries.${dict}`, dict);
    const terms = Array.isArray(spec) ? spec : spec.terms;
    if (terms.length === 0) throw configError(name, `dictionaries.${dict}`, 'has no terms');
    const style = Array.isArray(spec) ? 'redact' : spec.style;
    styles.set(dictionaryDetector(dict, terms, !Array.isArray(spec) && spec.caseSensitive), style);
  }
  return styles;
}

function compileFields(name: string, cfg: MaskingProfileConfig): FieldMatcher<FieldRule> | null {
  if (cfg.fields.length === 0) return null;
  return new FieldMatcher(
    cfg.fields.map((f, i) => {
      const source = typeof f === 'string' ? f : f.path;
      const style = typeof f === 'string' ? cfg.fieldStyle : (f.style ?? cfg.fieldStyle);
      try {
        return { segments: parseJsonPath(source), rule: { style, source } };
      } catch (err) {
        throw configError(name, `fields[${i}]`, (err as Error).message, err);
      }
    }),
  );
}

function compileColumns(cfg: MaskingProfileConfig): Map<string, MaskStyle> {
  const columns = new Map<string, MaskStyle>();
  for (const c of cfg.columns) {
    if (typeof c === 'string') columns.set(c.toLowerCase(), cfg.columnStyle);
    else columns.set(c.name.toLowerCase(), c.style ?? cfg.columnStyle);
  }
  return columns;
}

function streamOptions(cfg: MaskingProfileConfig, detectors: readonly Detector[]): TextStreamOptions {
  const multiWordTerm = Object.values(cfg.dictionaries).some((d) => (Array.isArray(d) ? d : d.terms).some((t) => /\s/.test(t)));
  return {
    holdBack: cfg.holdBack,
    titleCase: detectors.includes(BUILTIN_DETECTORS.person),
    fixedWindow: multiWordTerm || cfg.patterns.some((p) => MAY_SPAN_SPACE.test(p.regex)),
    privateKey: detectors.includes(BUILTIN_DETECTORS.private_key) ? BUILTIN_DETECTORS.private_key : null,
    openEnded: detectors.filter((d) => d.openPrefix !== undefined).sort((a, b) => b.openPrefix!.length - a.openPrefix!.length),
  };
}

/**
 * Detector work per scanned byte, for maxRequestScanWork: the structured detectors are about
 * equal; a custom pattern runs on RE2 (re2js), several times slower than V8's regexes; person
 * names run an NLP tagger about a hundred times slower.
 */
function detectorWeight(d: Detector): number {
  if (d === BUILTIN_DETECTORS.person) return 64;
  if (d.name.startsWith('pattern:')) return 8;
  if (d.name.startsWith('dictionary:')) return 2;
  return 1;
}

function chargedStream(inner: TextStreamMasker, request: RequestScanBudget): TextStreamMasker {
  return {
    push: (text) => {
      request.charge(Buffer.byteLength(text));
      return inner.push(text);
    },
    end: () => inner.end(),
    get findings() {
      return inner.findings;
    },
  };
}

export function compileProfile(name: string, cfg: MaskingProfileConfig, styler: Styler): CompiledProfile {
  const styleMap = resolveDetectors(name, cfg);
  const detectors = [...styleMap.keys()];
  const engine = new MaskEngine(createScanner(detectors), styleMap, styler);
  const fields = compileFields(name, cfg);
  const columns = compileColumns(cfg);
  const stream = streamOptions(cfg, detectors);
  const styles = new Map<string, MaskStyle>([...styleMap].map(([d, s]) => [d.type, s]));
  const workPerByte = Math.max(1, detectors.reduce((sum, d) => sum + detectorWeight(d), 0));

  // `request` is the budget one request's calls share; without one (the CLI, tests), each call has only its own.
  const build = (request: RequestScanBudget | undefined): MaskProfile => {
    const budget = (): ScanBudget => new ScanBudget(cfg.maxScanBytes, cfg.onOversize, request);
    const maskText = (text: string): { text: string; findings: Finding[] } => {
      const findings: Finding[] = [];
      return { text: engine.maskText(budget().take(text), findings).text, findings };
    };
    const profile: MaskProfile = {
      name,
      styles,
      workPerByte,
      forRequest: () => build(new RequestScanBudget(cfg, workPerByte)),
      maskText: (text) => failClosed(() => maskText(text)),
      maskJson: (value) =>
        failClosed(() => {
          const findings: Finding[] = [];
          return { value: new JsonMasker(engine, fields, budget(), findings).mask(value), findings };
        }),
      maskJsonText: (body) =>
        failClosed(() => {
          // The size check only: the request is charged for the strings the JSON masker scans.
          const head = new ScanBudget(cfg.maxScanBytes, cfg.onOversize).take(body);
          // Truncated JSON no longer parses; what the profile asked for is the head, masked as text.
          if (head.length !== body.length) return maskText(head);
          let value: unknown;
          try {
            const parsed = parseJsonStrict(body);
            if (parsed.duplicateKeys) throw new MaskingError('the JSON body names a key twice in one object; readers disagree on which value counts, so it cannot be masked');
            value = parsed.value;
          } catch (err) {
            if (err instanceof MaskingError) throw err;
            throw new MaskingError('body is not valid JSON, so it cannot be masked', { cause: err });
          }
          const findings: Finding[] = [];
          const masked = new JsonMasker(engine, fields, budget(), findings).mask(value);
          return { text: findings.length === 0 ? body : JSON.stringify(masked), findings };
        }),
      maskRow: (cols, values) => failClosed(() => maskRowValues(engine, columns, cols, values, budget())),
      createTextStream: () => (request === undefined ? new TextStream(engine, stream) : chargedStream(new TextStream(engine, stream), request)),
      detectEntities: (text) => failClosed(() => entityTypesOf(engine.scanner.scan(budget().take(text)))),
    };
    return Object.freeze(profile);
  };
  return { profile: build(undefined), detectors };
}
