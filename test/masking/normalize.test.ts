import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizedViews, readableText } from '../../src/masking/normalize.ts';
import { profileOf } from './profile-fixture.ts';

const secrets = profileOf({ entities: { secret: 'redact', credit_card: 'redact', email: 'redact' } });

test('plain ASCII has no other reading', () => {
  assert.equal(normalizedViews('order ORD-7 at 2024-03-18T09:41:07Z, 5% off'), null);
  assert.equal(normalizedViews('café 北京 — “quoted”'), null, 'text that folds to itself');
});

test('each reading maps every unit back to the code units it came from', () => {
  const text = 'a\u200bb&#52;ｃ𝐝';
  const [joined, split] = normalizedViews(text)!;
  assert.equal(joined!.text, 'ab4cd');
  assert.equal(split!.text, 'a b4cd');
  assert.deepEqual([...joined!.starts], [0, 2, 3, 8, 9]);
  assert.deepEqual([...joined!.ends], [1, 3, 8, 9, 11]);
});

const cases: readonly [string, string][] = [
  ['fullwidth digits', '４１１１ １１１１ １１１１ １１１１'],
  ['Arabic-Indic digits', '٤١١١ ١١١١ ١١١١ ١١١١'],
  ['Devanagari digits', '४१११ ११११ ११११ ११११'],
  ['mathematical digits', '𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏'],
  ['soft hyphens', '4111\u00ad1111\u00ad1111\u00ad1111'],
  ['zero-width joiner and word joiner', '4111\u200d1111\u20601111 1111'],
  ['bidi controls', '4111 1111\u202c 1111\u202e 1111'],
  ['variation selectors', '4\ufe0f111 1111 1111 1111'],
  ['decimal references', '&#52;&#49;&#49;&#49; 1111 1111 1111'],
  ['hex references', '&#x34;&#X31;11 1111 1111 1111'],
  ['percent-encoding', '%34111%201111 %E2%80%8B1111 1111'],
  ['\\u escapes (JSON inside text)', '\\u0034111 1111 1111 \\u00311\\u00311'],
  ['no-break and ideographic spaces', '4111\u00a01111\u30001111\u202f1111'],
];
for (const [name, card] of cases) {
  test(`a card number in ${name} is masked in place, the rest untouched`, () => {
    const text = `pay «${card}» now`;
    assert.equal(secrets.maskText(text).text, 'pay «[CREDIT_CARD]» now');
  });
}

test('invisible characters before a value separate, inside one they join', () => {
  const key = 'AKIAIOSFODNN7EXAMPLE';
  assert.equal(secrets.maskText(`x\u200b${key} y`).text, 'x\u200b[AWS_ACCESS_KEY] y');
  assert.equal(secrets.maskText(`${key.slice(0, 9)}\u200c${key.slice(9)}`).text, '[AWS_ACCESS_KEY]');
  assert.equal(secrets.maskText('ｍａｉｌ ａｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ').text, 'ｍａｉｌ [EMAIL]');
});

test('a named reference is read only when terminated; unknown ones stay as written', () => {
  assert.equal(readableText('a &amp; b &amp c &copy; d &#99999999;'), 'a & b &amp c &copy; d &#99999999;');
});

test('pseudonyms see the value as read: two spellings of one card give one token', () => {
  const pseudo = profileOf({ entities: { credit_card: 'pseudonym' } });
  assert.equal(pseudo.maskText('４１１１１１１１１１１１１１１１').text, pseudo.maskText('4111111111111111').text);
});

test('a \\u escape is read as what it encodes, a surrogate pair as one character; a lone surrogate stays', () => {
  assert.equal(readableText('{"k":"\\u0041KIA"} \\ud83d\\ude00 \\ud83d x'), '{"k":"AKIA"} 😀 \\ud83d x');
  assert.equal(normalizedViews('C:\\Users\\me\\notes.txt'), null);
});

test('percent-encoded text is read decoded: a key in a URL is masked, the URL around it kept', () => {
  assert.equal(secrets.maskText('see https://x.example/?k=AKIA%49OSFODNN7EXAMPLE&page=2').text, 'see https://x.example/?k=[AWS_ACCESS_KEY]&page=2');
  assert.equal(normalizedViews('100% sure, 50%off'), null);
  assert.equal(readableText('S%C3%A3o Paulo %zz'), 'São Paulo %zz');
});
