/**
 * Custom masking patterns run on RE2 (re2js), a linear-time engine (issue 19, item 1): what RE2
 * cannot run is refused at load naming the profile, the pattern and why; what it accepts,
 * catastrophic-backtracking shapes included, does work proportional to the text. Work is a
 * counted quantity (the engine's reads of the text), never a timer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { compileMaskingProfiles, type MaskingConfigInput } from '../../src/masking/index.ts';
import { compileLinearRegex, linearRegexProblem } from '../../src/masking/linear-regex.ts';
import { highRiskPromptsSchema } from '../../src/policy/packs/high-risk-settings.ts';
import { KEY, profileOf } from './profile-fixture.ts';
import { countEngineReads } from './support/engine-reads.ts';

const HALF = 512 * 1024;
const MB = 1024 * 1024;

const configWith = (regex: string, flags?: string): MaskingConfigInput => ({
  profiles: { 'team.prod': { patterns: [{ name: 'hostile', regex, ...(flags === undefined ? {} : { flags }) }] } },
});

describe('patterns RE2 cannot run are refused at load, naming the profile, the pattern and why', () => {
  const refused: ReadonlyArray<readonly [string, string, RegExp]> = [
    ['a back-reference', '(a+)\\1', /back-reference/],
    ['a named back-reference', '(?<w>a+)\\k<w>', /back-reference/],
    ['a look-ahead', '(?=secret)\\w+', /look-ahead/],
    ['a negative look-ahead', '(?!test)\\w+', /look-ahead/],
    ['a look-behind', '(?<=key=)\\w+', /look-behind/],
    ['a negative look-behind', '(?<!x)\\d+', /look-behind/],
    ['a possessive quantifier', '\\d++x', /quantifier on a quantifier/],
    ['a doubled quantifier', 'a**', /quantifier on a quantifier/],
    ['a repeat count RE2 will not build', 'x{1001}', /repeat count above 1000/],
    ['nested large repeat counts', '(?:(?:a{1000}){1000}){1000}', /repeat count|too large|expression/i],
    ['an unclosed group', 'EMP-(\\d{6}', /missing closing \)/],
    ['a reversed class range', '[z-a]', /character class range/],
    ['an unknown Unicode class', '\\p{Nope}', /character class|Unicode|escape/i],
    ['an unfinished flag group', '(?i', /missing|flag|Perl/i],
  ];
  for (const [what, regex, why] of refused) {
    it(what, () => {
      assert.throws(
        () => compileMaskingProfiles(configWith(regex), KEY),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.equal(err.code, 'config_invalid');
          assert.equal(err.details.profile, 'team.prod');
          assert.equal(err.details.pattern, 'hostile');
          assert.equal(err.details.key, 'patterns.hostile.regex');
          assert.match(err.message, /masking profile "team\.prod": pattern "hostile"/);
          assert.match(err.message, why);
          return true;
        },
      );
    });
  }

  it('a pattern matching the empty string is refused (it would mask nothing at every position)', () => {
    assert.throws(() => compileMaskingProfiles(configWith('(?:x)?'), KEY), (err: unknown) => err instanceof ConfigError && /empty string/.test(err.message));
  });

  it('a flag outside i, m, s, u is refused by the schema', () => {
    assert.throws(() => compileMaskingProfiles(configWith('x', 'y'), KEY), (err: unknown) => err instanceof ConfigError && err.details.key === 'masking.profiles.team.prod.patterns.0.flags');
  });

  it('a pattern longer than 4096 characters is refused', () => {
    assert.throws(() => compileMaskingProfiles(configWith('a'.repeat(4097)), KEY), (err: unknown) => err instanceof ConfigError && err.details.key === 'masking.profiles.team.prod.patterns.0.regex');
  });

  it('the high-risk-prompts pack gives the same reason for the same pattern (one checker)', () => {
    for (const pattern of ['(?<=a)b', '(a)\\1', '(?=x)y', 'x{1001}']) {
      const result = highRiskPromptsSchema.safeParse({ patterns: [pattern] });
      assert.equal(result.success, false, pattern);
      const reason = linearRegexProblem(pattern);
      assert.ok(reason !== null);
      assert.ok(result.error.issues[0]!.message.includes(reason), `${pattern}: ${result.error.issues[0]!.message}`);
    }
  });
});

describe('catastrophic-backtracking shapes run in linear time on 1 MB (counted engine reads)', () => {
  // [pattern, text that lets the engine past its literal prefilter, repeated unit]
  const shapes: ReadonlyArray<readonly [string, string, string]> = [
    ['(a+)+b', 'b', 'a'],
    ['(a*)*b', 'b', 'a'],
    ['(a|a)*c', 'c', 'a'],
    ['(a|aa)+$', '', 'a!'],
    ['(\\w+\\s?)+$', '', 'word '],
    ['([a-z]+)*@', '@', 'a'],
    ['(.*a){3}x', 'x', 'a'],
    ['(x+x+)+y', 'y', 'x'],
    ['(\\d+)*-\\d+z', 'z', '1-'],
    ['(?i)(ab|a)*c', 'c', 'Ab'],
    ['^(([a-z])+.)+[A-Z]([a-z])+$', '', 'aaaaaaaaaa'],
    ['EMP-\\d{6}', '', 'EMP-12345'],
    ['\\b\\d{12}\\b', '', '12345678901 '],
  ];
  for (const [pattern, seed, unit] of shapes) {
    it(pattern, () => {
      const re = compileLinearRegex(pattern);
      const work = (size: number) =>
        countEngineReads(() => {
          const m = re.matcher(seed + unit.repeat(Math.ceil(size / unit.length)));
          let found = 0;
          while (m.find()) found++;
          return found;
        });
      const small = work(HALF);
      const large = work(MB);
      assert.ok(large.reads > 0, 'the engine read the text (the prefilter did not skip it)');
      // Twice the text, at most about twice the work; a backtracking engine needs 4x or far more.
      assert.ok(large.reads <= 2.1 * small.reads + 64, `${pattern}: ${small.reads} reads for ${HALF} chars, ${large.reads} for ${MB}`);
      assert.ok(large.reads <= 8 * MB, `${pattern}: ${large.reads} reads for ${MB} chars`);
    });
  }

  it('a profile with a nested-quantifier pattern masks a 1 MB body with linear work', () => {
    const profile = profileOf({ entities: {}, patterns: [{ name: 'ticket', regex: '(T+)+-\\d{4}' }] });
    const body = (size: number) => `${'T'.repeat(size)} see TT-1234`;
    const small = countEngineReads(() => profile.maskText(body(HALF)));
    const large = countEngineReads(() => profile.maskText(body(MB)));
    assert.ok(large.result.text.endsWith(' see [TICKET]'));
    assert.ok(large.reads <= 2.1 * small.reads + 64, `${small.reads} → ${large.reads}`);
  });
});

describe('RE2 semantics of custom patterns', () => {
  it('offsets are UTF-16 positions of the original text, after astral characters too', () => {
    const profile = profileOf({ entities: {}, patterns: [{ name: 'emp', regex: 'EMP-\\d{3}' }] });
    assert.equal(profile.maskText('😀😀 EMP-123 𝒳 EMP-456').text, '😀😀 [EMP] 𝒳 [EMP]');
  });

  it('flags i, m and s apply', () => {
    const profile = profileOf({
      entities: {},
      patterns: [
        { name: 'code', regex: 'secret-[a-z]+', flags: 'i' },
        { name: 'line', regex: '^token: \\w+$', flags: 'm' },
        { name: 'block', regex: 'BEGIN.+END', flags: 's' },
      ],
    });
    assert.equal(profile.maskText('SECRET-ABC').text, '[CODE]');
    assert.equal(profile.maskText('a\ntoken: xyz\nb').text, 'a\n[LINE]\nb');
    assert.equal(profile.maskText('x BEGIN\n1\nEND y').text, 'x [BLOCK] y');
  });

  it('Unicode classes work without a flag, and context words and validators still apply', () => {
    const profile = profileOf({
      entities: {},
      patterns: [
        { name: 'name_tag', regex: 'NAME:\\p{Lu}\\p{Ll}+' },
        { name: 'card', regex: '\\b\\d{12}\\b', validator: 'luhn', context: ['card'], contextWindow: 8 },
      ],
    });
    assert.equal(profile.maskText('NAME:Émile').text, '[NAME_TAG]');
    assert.equal(profile.maskText('card 123456789015, id 123456789015').text, 'card [CARD], id 123456789015');
  });
});
