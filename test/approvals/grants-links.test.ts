/** Which sessions a grant's end reaches: the ones whose decisions read it, each once, and a late link ends at once. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GrantLinks } from '../../src/approvals/grant-links.ts';

test('a grant ends exactly the sessions linked to it, each once, and forgets them', () => {
  const links = new GrantLinks<{ name: string }>();
  const [s1, s2, s3] = [{ name: 's1' }, { name: 's2' }, { name: 's3' }];
  assert.equal(links.link(s1, ['g1', 'g2']), null);
  assert.equal(links.link(s2, ['g2']), null);
  assert.equal(links.link(s3, ['g3']), null);
  const ended = links.end(['g1', 'g2'], 'revoked');
  assert.deepEqual(ended.map((e) => [e.session.name, e.grantId]), [['s1', 'g1'], ['s2', 'g2']]);
  assert.deepEqual(links.end(['g1', 'g2'], 'revoked'), [], 'nothing left to end');
  assert.equal(links.size, 1);
});

test('a closed session is not ended; a link to a grant that already ended reports it', () => {
  const links = new GrantLinks<object>();
  const s = {};
  links.link(s, ['g1']);
  links.unlink(s);
  assert.deepEqual(links.end(['g1'], 'expired'), []);
  assert.deepEqual(links.link({}, ['g0', 'g1']), { grantId: 'g1', end: 'expired' });
  assert.equal(links.size, 0);
});
