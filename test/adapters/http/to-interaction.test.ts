import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { BadRequest } from '../../../src/errors.ts';
import type { Connection } from '../../../src/connections/registry.ts';
import { toRequestDraft } from '../../../src/adapters/http/to-interaction.ts';

function connection(type: 'openai' | 'http'): Connection {
  return { name: type, type, tags: [], upstream: new URL('http://127.0.0.1:9/base'), credential: undefined, passCookies: false, source: 'config' };
}

const JSON_TYPE: IncomingHttpHeaders = { 'content-type': 'application/json' };
const FORM_TYPE: IncomingHttpHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

function isBadRequest(err: unknown): boolean {
  return err instanceof BadRequest && err.code === 'bad_request';
}

describe('toRequestDraft: paths, overrides and models', () => {
  it('classifies the normalised target it is given', () => {
    const body = Buffer.from('{"model":"GPT-4o","messages":[{"role":"user","content":"hi"}]}');
    const draft = toRequestDraft(connection('openai'), 'POST', '/V1/Chat/Completions/?x=1', JSON_TYPE, body);
    assert.equal(draft.kind, 'llm.chat');
    assert.equal(draft.summary.http?.path, '/V1/Chat/Completions/');
    assert.equal(draft.summary.http?.query, 'x=1');
    assert.equal(draft.summary.llm?.model, 'gpt-4o', 'policy reads the folded name');
    assert.equal(draft.model, 'GPT-4o', 'the record keeps the name as sent');
  });

  // A caller that forwards one string must classify that same string: anything not in normal form is refused.
  for (const target of ['/v1/%63hat/completions', '/v1/x/../chat/completions', '//v1/chat/completions', '/v1/chat/completions;x', '/a%2Fb', '/..']) {
    it(`refuses a target that is not in normal form: ${target}`, () => {
      assert.throws(() => toRequestDraft(connection('openai'), 'POST', target, JSON_TYPE, Buffer.from('{}')), isBadRequest);
    });
  }

  for (const header of ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url']) {
    it(`refuses the ${header} header on either connection type`, () => {
      for (const type of ['openai', 'http'] as const) {
        assert.throws(() => toRequestDraft(connection(type), 'POST', '/v1/models', { [header]: 'DELETE' }, Buffer.alloc(0)), isBadRequest);
      }
    });
  }

  it('refuses _method in the query', () => {
    assert.throws(() => toRequestDraft(connection('http'), 'POST', '/items/1?_method=DELETE', {}, Buffer.alloc(0)), isBadRequest);
  });

  it('refuses _method in a form body and at the top of a JSON body', () => {
    assert.throws(() => toRequestDraft(connection('http'), 'POST', '/items/1', FORM_TYPE, Buffer.from('name=x&_method=DELETE')), isBadRequest);
    assert.throws(() => toRequestDraft(connection('http'), 'POST', '/items/1', FORM_TYPE, Buffer.from('%5Fmethod=DELETE')), isBadRequest);
    assert.throws(() => toRequestDraft(connection('http'), 'POST', '/items/1', JSON_TYPE, Buffer.from('{"_method":"DELETE"}')), isBadRequest);
    assert.throws(() => toRequestDraft(connection('openai'), 'POST', '/v1/chat/completions', JSON_TYPE, Buffer.from('{"model":"a","_method":"GET"}')), isBadRequest);
  });

  it('passes _method where no framework reads it as an override', () => {
    const nested = toRequestDraft(connection('http'), 'POST', '/items/1', JSON_TYPE, Buffer.from('{"data":{"_method":"x"}}'));
    assert.equal(nested.kind, 'http.request');
    const value = toRequestDraft(connection('http'), 'POST', '/items/1', FORM_TYPE, Buffer.from('note=_method%3DDELETE'));
    assert.equal(value.kind, 'http.request');
  });

  it('refuses a model given twice or as an array, on any OpenAI endpoint', () => {
    for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/fine_tuning/jobs']) {
      assert.throws(() => toRequestDraft(connection('openai'), 'POST', path, JSON_TYPE, Buffer.from('{"model":"gpt-4o-mini","model":"gpt-4o"}')), isBadRequest, path);
      assert.throws(() => toRequestDraft(connection('openai'), 'POST', path, JSON_TYPE, Buffer.from('{"model":["gpt-4o"]}')), isBadRequest, path);
    }
  });

  it('an ordinary chat request passes untouched', () => {
    const text = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}],"stream":true}';
    const draft = toRequestDraft(connection('openai'), 'POST', '/v1/chat/completions', JSON_TYPE, Buffer.from(text));
    assert.equal(draft.kind, 'llm.chat');
    assert.equal(draft.body.type === 'json' ? draft.body.text : null, text);
    assert.equal(draft.model, 'gpt-4o-mini');
  });
});
