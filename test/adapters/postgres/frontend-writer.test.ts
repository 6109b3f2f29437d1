import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrontendParser, readCleartextPassword, readSaslInitialResponse } from '../../../src/adapters/postgres/codec.ts';
import type { FrontendMessage } from '../../../src/adapters/postgres/codec.ts';
import {
  cancelRequest,
  passwordMessage,
  queryMessage,
  saslInitialResponse,
  saslResponse,
  startupMessage,
  terminateMessage,
} from '../../../src/adapters/postgres/frontend-writer.ts';
import { ProtocolError } from '../../../src/errors.ts';
import { fields, pushAll, startupBytes } from './wire-bytes.ts';

function parseOne(bytes: Buffer, typed = true): FrontendMessage {
  const p = new FrontendParser();
  if (typed) p.startupDone();
  const got = pushAll(p, [bytes]);
  assert.deepEqual(got.errors, []);
  assert.equal(got.messages.length, 1);
  return got.messages[0]!;
}

describe('frontend writer round-trips through FrontendParser', () => {
  it('StartupMessage carries exactly the given parameters', () => {
    const params = { user: 'svc', database: 'prod', client_encoding: 'LATIN1', application_name: 'gatehouse' };
    const bytes = startupMessage(params);
    assert.deepEqual(bytes, startupBytes(params));
    const m = parseOne(bytes, false);
    assert.deepEqual(fields(m), { type: 'startup', majorVersion: 3, minorVersion: 0, parameters: params });
  });

  it('StartupMessage refuses a NUL that would smuggle in a parameter', () => {
    assert.throws(() => startupMessage({ user: 'svc\0options\0-c role=admin' }), (e) => e instanceof ProtocolError);
    assert.throws(() => startupMessage({ 'options\0': 'x' }), (e) => e instanceof ProtocolError);
  });

  it('PasswordMessage', () => {
    const m = parseOne(passwordMessage('s3cret-é'));
    assert.ok(m.type === 'authResponse');
    assert.equal(readCleartextPassword(m), 's3cret-é');
  });

  it('SASLInitialResponse and SASLResponse', () => {
    const first = parseOne(saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=nonce'));
    assert.ok(first.type === 'authResponse');
    assert.deepEqual(readSaslInitialResponse(first), { mechanism: 'SCRAM-SHA-256', data: Buffer.from('n,,n=,r=nonce') });
    const final = parseOne(saslResponse('c=biws,r=nonce,p=proof'));
    assert.ok(final.type === 'authResponse');
    assert.equal(final.body.toString(), 'c=biws,r=nonce,p=proof');
  });

  it('Query and Terminate', () => {
    assert.deepEqual(fields(parseOne(queryMessage('select 1'))), { type: 'query', sql: 'select 1' });
    assert.deepEqual(fields(parseOne(terminateMessage())), { type: 'terminate' });
  });

  it('CancelRequest', () => {
    const m = parseOne(cancelRequest(77, 0x01020304), false);
    assert.deepEqual(fields(m), { type: 'cancelRequest', processId: 77, secretKey: '\x01\x02\x03\x04' });
  });
});
