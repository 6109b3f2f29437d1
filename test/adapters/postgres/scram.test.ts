/**
 * The server side of SCRAM-SHA-256 against a client written here from RFC 5802 (independently of
 * src/): a good exchange names the token; every tampered, truncated, replayed or malformed message
 * is refused, a malformed one as a protocol violation and a wrong proof exactly as a wrong token.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { ScramExchange } from '../../../src/adapters/postgres/scram.ts';
import { AuthError, ProtocolError } from '../../../src/errors.ts';
import { scramKeys } from '../../../src/identity/scram-keys.ts';
import type { ScramLogin } from '../../../src/identity/scram-logins.ts';

const TOKEN = 'gth_' + 'a'.repeat(43);
const OTHER = 'gth_' + 'b'.repeat(43);
const SALT = Buffer.from('0123456789abcdef');
const ITER = 4096;
const refused = () => new AuthError('auth_invalid', 'unknown or malformed token');

async function loginFor(...tokens: string[]): Promise<ScramLogin> {
  const candidates = [];
  for (const [i, t] of tokens.entries()) candidates.push({ tokenId: `tok_${i}`, ...(await scramKeys(t, SALT, ITER)) });
  return { salt: SALT, iterations: ITER, candidates };
}

const hmac = (k: Buffer, d: string) => createHmac('sha256', k).update(d).digest();

/** A client per RFC 5802: returns the client-final for a server-first, and the expected server signature. */
function client(password: string, gs2 = 'n,,', nonce = randomBytes(18).toString('base64')) {
  const bare = `n=,r=${nonce}`;
  return {
    first: Buffer.from(gs2 + bare),
    final(serverFirst: string, edit: { c?: string; r?: string; extra?: string } = {}) {
      const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
      const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), 32, 'sha256');
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const withoutProof = `c=${edit.c ?? Buffer.from(gs2).toString('base64')},r=${edit.r ?? attrs.r}${edit.extra ?? ''}`;
      const auth = `${bare},${serverFirst},${withoutProof}`;
      const sig = hmac(storedKey, auth);
      const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]!));
      return { withoutProof, proof, serverSignature: hmac(hmac(salted, 'Server Key'), auth).toString('base64') };
    },
  };
}

const msg = (withoutProof: string, proof: Buffer | string) =>
  Buffer.from(`${withoutProof},p=${typeof proof === 'string' ? proof : proof.toString('base64')}`);

async function exchange(login?: ScramLogin) {
  return new ScramExchange(login ?? (await loginFor(TOKEN, OTHER)), refused);
}

function started(ex: ScramExchange, first: Buffer): string {
  const serverFirst = ex.start(first);
  assert.equal(typeof serverFirst, 'string', String(serverFirst));
  return serverFirst as string;
}

const isProtocol = (r: unknown) => r instanceof ProtocolError && r.code === 'protocol_error';
const isRefused = (r: unknown) => r instanceof AuthError && r.code === 'auth_invalid';

describe('SCRAM-SHA-256 exchange', () => {
  test('a good exchange names the token and signs with its ServerKey', async () => {
    for (const [password, id] of [[TOKEN, 'tok_0'], [OTHER, 'tok_1']] as const) {
      const ex = await exchange();
      const c = client(password);
      const sf = started(ex, c.first);
      assert.match(sf, /^r=[\x21-\x7e]+,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=4096$/);
      const f = c.final(sf);
      const result = ex.finish(msg(f.withoutProof, f.proof));
      assert.deepEqual(result, { tokenId: id, serverFinal: `v=${f.serverSignature}` });
    }
  });

  test("'y' (client could bind, believes the server cannot) is accepted: no -PLUS is offered", async () => {
    const ex = await exchange();
    const c = client(TOKEN, 'y,,');
    const f = c.final(started(ex, c.first));
    assert.equal((ex.finish(msg(f.withoutProof, f.proof)) as any).tokenId, 'tok_0');
  });

  test('extensions before the proof are part of the signed message', async () => {
    const ex = await exchange();
    const c = client(TOKEN);
    const f = c.final(started(ex, c.first), { extra: ',x=ext' });
    assert.equal((ex.finish(msg(f.withoutProof, f.proof)) as any).tokenId, 'tok_0');
  });
});

describe('hostile SCRAM messages', () => {
  const good = async (tamper: (f: { withoutProof: string; proof: Buffer }, sf: string) => Buffer, login?: ScramLogin, password = TOKEN) => {
    const ex = await exchange(login);
    const c = client(password);
    const sf = started(ex, c.first);
    return ex.finish(tamper(c.final(sf), sf));
  };

  test('a wrong token is refused as a wrong cleartext token is', async () => {
    assert.ok(isRefused(await good((f) => msg(f.withoutProof, f.proof), undefined, 'gth_' + 'c'.repeat(43))));
  });
  test("another principal's token (not among the candidates) is refused", async () => {
    assert.ok(isRefused(await good((f) => msg(f.withoutProof, f.proof), await loginFor(OTHER))));
  });
  test('a name with no verifier (mock salt, no candidates) fails at the proof, as a wrong token', async () => {
    assert.ok(isRefused(await good((f) => msg(f.withoutProof, f.proof), { salt: SALT, iterations: ITER, candidates: [] })));
  });

  const finals: [string, (f: { withoutProof: string; proof: Buffer }, sf: string) => Buffer, 'protocol' | 'refused'][] = [
    ['proof bit flipped', (f) => { const p = Buffer.from(f.proof); p[7]! ^= 0x01; return msg(f.withoutProof, p); }, 'refused'],
    ['last proof bit flipped', (f) => { const p = Buffer.from(f.proof); p[31]! ^= 0x80; return msg(f.withoutProof, p); }, 'refused'],
    ['nonce changed', (f) => msg(f.withoutProof.replace(/r=(.)/, (_m, ch) => `r=${ch === 'A' ? 'B' : 'A'}`), f.proof), 'protocol'],
    ['nonce cut to the client part', (f, sf) => msg(f.withoutProof.replace(/r=[^,]*/, `r=${sf.slice(2, 26)}`), f.proof), 'protocol'],
    ['channel-binding flag lies (c= says y, first said n)', (f) => msg(f.withoutProof.replace(/c=[^,]*/, `c=${Buffer.from('y,,').toString('base64')}`), f.proof), 'protocol'],
    ['channel binding data for -PLUS', (f) => msg(f.withoutProof.replace(/c=[^,]*/, `c=${Buffer.from('p=tls-server-end-point,,').toString('base64')}AAAA`), f.proof), 'protocol'],
    ['c= not base64', (f) => msg(f.withoutProof.replace(/c=[^,]*/, 'c=biws!'), f.proof), 'protocol'],
    ['no c=', (f) => msg(f.withoutProof.replace(/c=[^,]*,/, ''), f.proof), 'protocol'],
    ['no proof', (f) => Buffer.from(f.withoutProof), 'protocol'],
    ['proof not base64', (f) => msg(f.withoutProof, '!!!!'), 'protocol'],
    ['proof one byte short', (f) => msg(f.withoutProof, f.proof.subarray(0, 31)), 'protocol'],
    ['proof one byte long', (f) => msg(f.withoutProof, Buffer.concat([f.proof, Buffer.from([0])])), 'protocol'],
    ['empty proof', (f) => msg(f.withoutProof, ''), 'protocol'],
    ['a second proof appended (the first becomes part of the signed text)', (f) => msg(`${f.withoutProof},p=${f.proof.toString('base64')}`, f.proof), 'refused'],
    ['truncated in the nonce', (f) => Buffer.from(f.withoutProof.slice(0, 20)), 'protocol'],
    ['truncated in the proof', (f) => msg(f.withoutProof, f.proof).subarray(0, -5), 'protocol'],
    ['not UTF-8', (f) => Buffer.concat([msg(f.withoutProof, f.proof), Buffer.from([0xff])]), 'protocol'],
    ['a NUL inside', (f) => Buffer.from(`${f.withoutProof}\0,p=${f.proof.toString('base64')}`), 'protocol'],
    ['an attribute without a name', (f) => msg(`${f.withoutProof},garbage`, f.proof), 'protocol'],
    ['empty message', () => Buffer.alloc(0), 'protocol'],
  ];
  for (const [name, tamper, expected] of finals) {
    test(`client-final: ${name}`, async () => {
      const result = await good(tamper);
      assert.ok(expected === 'protocol' ? isProtocol(result) : isRefused(result), `${name}: ${String(result)}`);
    });
  }

  const firsts: [string, Buffer][] = [
    ['-PLUS binding asked of SCRAM-SHA-256', Buffer.from('p=tls-server-end-point,,n=,r=abc')],
    ['unknown flag', Buffer.from('x,,n=,r=abc')],
    ['an authorization identity', Buffer.from('n,a=bob,n=,r=abc')],
    ['a mandatory extension', Buffer.from('n,,m=ext,n=,r=abc')],
    ['no user attribute', Buffer.from('n,,r=abc')],
    ['no nonce', Buffer.from('n,,n=')],
    ['empty nonce', Buffer.from('n,,n=,r=')],
    ['a nonce with a control character', Buffer.from('n,,n=,r=ab\x7fc')],
    ['a nonce with a space', Buffer.from('n,,n=,r=ab c')],
    ['a huge nonce', Buffer.from(`n,,n=,r=${'x'.repeat(4096)}`)],
    ['truncated gs2 header', Buffer.from('n,')],
    ['only the flag', Buffer.from('n')],
    ['empty', Buffer.alloc(0)],
    ['not UTF-8', Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xc3, 0x28, 0x2c, 0x72, 0x3d, 0x61])],
    ['a NUL', Buffer.from('n,,n=\0,r=abc')],
  ];
  for (const [name, first] of firsts) {
    test(`client-first: ${name}`, async () => {
      const ex = await exchange();
      assert.ok(isProtocol(ex.start(first)), name);
    });
  }

  test('a client-final replayed from another exchange is refused (fresh server nonce)', async () => {
    const c = client(TOKEN, 'n,,', 'fixed-client-nonce');
    const ex1 = await exchange();
    const f = c.final(started(ex1, c.first));
    assert.equal((ex1.finish(msg(f.withoutProof, f.proof)) as any).tokenId, 'tok_0');
    const ex2 = await exchange();
    started(ex2, c.first);
    assert.ok(isProtocol(ex2.finish(msg(f.withoutProof, f.proof))));
  });

  test('a client-final replayed in the same exchange, or before the client-first, is refused', async () => {
    const ex = await exchange();
    const c = client(TOKEN);
    const f = c.final(started(ex, c.first));
    assert.ok(isRefused(ex.finish(msg(f.withoutProof, Buffer.alloc(32)))));
    assert.ok(isProtocol(ex.finish(msg(f.withoutProof, f.proof))), 'one try per exchange');
    const early = await exchange();
    assert.ok(isProtocol(early.finish(msg(f.withoutProof, f.proof))));
  });

  test('a second client-first is refused', async () => {
    const ex = await exchange();
    const c = client(TOKEN);
    started(ex, c.first);
    assert.ok(isProtocol(ex.start(c.first)));
  });

  test('each exchange has its own server nonce', async () => {
    const c = client(TOKEN, 'n,,', 'same');
    const a = started(await exchange(), c.first);
    const b = started(await exchange(), c.first);
    assert.notEqual(a, b);
  });
});
