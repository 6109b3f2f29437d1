/**
 * Per-type precision and recall over the labelled corpus, as a Markdown table:
 *   node --import tsx bench/masking/corpus-report.ts
 * Structured types and password assignments run with every built-in detector on; person
 * names (opt-in) are scored on their own profile, over the person samples and the hard negatives.
 */
import { compileMaskingProfiles } from '../../src/masking/index.ts';
import { formatScores, loadCorpus, scoreCorpus } from '../../test/fixtures/masking/corpus-eval.ts';

const corpus = loadCorpus();
const profiles = compileMaskingProfiles(
  { profiles: { builtin: { entities: { secret: 'redact', pii: 'redact' } }, person: { entities: { person: 'redact' } } } },
  Buffer.alloc(32, 1),
);
const structured = scoreCorpus(profiles.get('builtin')!, corpus).scores;
const person = scoreCorpus(
  profiles.get('person')!,
  corpus.filter((s) => s.category === 'person' || s.label === 'negative'),
).scores.get('person');
if (person !== undefined) structured.set('person', person);

const positives = corpus.filter((s) => s.label === 'positive').length;
process.stdout.write(`corpus: ${corpus.length} samples, ${positives} positive, ${corpus.length - positives} hard negatives\n\n`);
process.stdout.write(`${formatScores(structured)}\n`);
