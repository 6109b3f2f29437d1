/** The published schema (docs/schema/audit-event-v1.json) against real events, the OCSF mapping, and the sinks' config. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { KINDS_MATCH, type AuditEventV1 } from '../../../src/audit/event-schema.ts';
import { toOcsf } from '../../../src/audit/ocsf.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { realEvents } from './events.ts';

const schema = JSON.parse(readFileSync(new URL('../../../docs/schema/audit-event-v1.json', import.meta.url), 'utf8'));
const ajv = new (Ajv as unknown as typeof Ajv.default)({ allErrors: true, strict: false });
(addFormats as unknown as typeof addFormats.default)(ajv);
const validate = ajv.compile(schema);

let events: AuditEventV1[];
before(async () => {
  events = [...(await realEvents()), ...(await realEvents({ includeBodies: true }))];
});

test('every real event of every kind validates against the published schema, and names no field the schema leaves out', () => {
  assert.deepEqual(new Set(events.map((e) => e.kind)), new Set(['session.start', 'interaction', 'audit.open', 'audit.complete', 'audit.event', 'session.end']));
  for (const e of events) {
    assert.ok(validate(e), `${e.id}: ${ajv.errorsText(validate.errors)}`);
    for (const key of Object.keys(e)) assert.ok(key in schema.properties, `${key} is documented in the schema`);
    for (const part of ['session', 'interaction', 'decision', 'action', 'actor', 'agent'] as const) {
      const value = e[part] as Record<string, unknown> | null;
      if (value) for (const key of Object.keys(value)) assert.ok(key in schema.properties[part].oneOf[1].properties, `${part}.${key} is documented`);
    }
  }
});

test('the schema refuses what is not an event (it can fail)', () => {
  const e = structuredClone(events[0]!) as unknown as Record<string, unknown>;
  for (const broken of [{ ...e, seq: 0 }, { ...e, kind: 'other' }, { ...e, time: 'yesterday' }, { ...e, schema: 'gatehouse.audit.v2' }, (({ hash: _h, ...rest }) => rest)(e)]) {
    assert.equal(validate(broken), false);
  }
});

test('the config\'s kinds are the ledger\'s kinds', () => {
  assert.equal(KINDS_MATCH, true);
});

test('OCSF: class, category, activity and type per kind of event, with the chain hash kept', () => {
  const by = (kind: string) => events.find((e) => e.kind === kind)!;
  const cases: [AuditEventV1, number, number][] = [
    [by('session.start'), 3002, 1],
    [by('session.end'), 3002, 2],
    [by('interaction'), 6003, 99],
    [by('audit.complete'), 3002, 99], // revokeToken: a credential event
  ];
  for (const [event, classUid, activity] of cases) {
    const o = toOcsf(event);
    assert.equal(o.class_uid, classUid, event.kind);
    assert.equal(o.activity_id, activity, event.kind);
    assert.equal(o.category_uid, Math.floor(classUid / 1000));
    assert.equal(o.type_uid, classUid * 100 + activity);
    assert.equal(o.time, Date.parse(event.time));
    assert.equal((o.unmapped as any).gatehouse.hash, event.hash);
    assert.equal((o.metadata as any).uid, event.id);
  }
  const sql = structuredClone(by('interaction'));
  sql.session = { ...sql.session!, protocol: 'postgres' };
  sql.interaction = { ...sql.interaction!, kind: 'sql.query', target: 'DELETE FROM users', summary: { sql: { kinds: ['delete'] } } };
  sql.decision = { result: 'deny', rule: 'no-deletes', reason: 'blocked' };
  const o = toOcsf(sql);
  assert.deepEqual([o.class_uid, o.class_name, o.activity_id, o.severity_id, o.status_id, o.disposition_id], [6005, 'Datastore Activity', 7, 3, 2, 2]);
  assert.equal((o.query_info as any).query_string, 'DELETE FROM users');
  const account = structuredClone(by('audit.event'));
  account.action = { ...account.action!, name: 'disableUser', outcome: 200 };
  assert.deepEqual([toOcsf(account).class_uid, toOcsf(account).activity_id, toOcsf(account).status_id], [3001, 5, 1]);
  const other = structuredClone(by('audit.event'));
  other.action = { ...other.action!, name: 'deleteConnection', outcome: 403 };
  assert.deepEqual([toOcsf(other).class_uid, toOcsf(other).activity_id, toOcsf(other).status_id, toOcsf(other).severity_id], [6003, 4, 2, 3]);
});

const base = 'store:\n  sqlitePath: ./x.db\naudit:\n  sinks:\n';
const refused: [string, string, RegExp][] = [
  ['plain http to a remote host', '    - { name: a, type: webhook, url: "http://siem.example.com/in", secret: "0123456789abcdef0" }', /use https/],
  ['a URL with a password', '    - { name: a, type: webhook, url: "https://u:p@siem.example.com/in", secret: "0123456789abcdef0" }', /user name or password/],
  ['a webhook without a secret', '    - { name: a, type: webhook, url: "https://siem.example.com/in" }', /signs every batch/],
  ['a short secret', '    - { name: a, type: webhook, url: "https://siem.example.com/in", secret: "short" }', /at least 16/],
  ['HEC without a token', '    - { name: a, type: webhook, format: splunk-hec, url: "https://siem.example.com/in" }', /needs token/],
  ['two sinks with one name', '    - { name: a, type: stdout }\n    - { name: a, type: stdout }', /each sink keeps its own cursor/],
  ['an unknown type', '    - { name: a, type: kafka }', /type/],
  ['an unknown kind', '    - { name: a, type: stdout, kinds: [everything] }', /kinds/],
  ['a CA for plain TCP', '    - { name: a, type: syslog, host: h, ca: "x" }', /transport tls only/],
  ['an upper-case name', '    - { name: SIEM, type: stdout }', /lowercase/],
  ['retry max below min', '    - { name: a, type: stdout, retry: { min: 10s, max: 1s } }', /at least min/],
];
for (const [what, yaml, message] of refused) {
  test(`config refuses ${what}`, () => {
    assert.throws(() => parseConfig(`${base}${yaml}\n`, 't.yaml', {}), (err: Error) => {
      assert.match(err.message, message);
      assert.ok(!err.message.includes('0123456789abcdef0'), 'the secret is not repeated');
      return true;
    });
  });
}

test('config: secrets from the environment, defaults filled', () => {
  const config = parseConfig(`${base}    - { name: hec, type: webhook, format: splunk-hec, url: "https://splunk.example.com:8088/services/collector/event", token: "\${HEC}" }\n`, 't.yaml', { HEC: 'tok-from-env' });
  const sink = config.audit!.sinks![0]!;
  assert.equal(sink.type === 'webhook' && sink.token, 'tok-from-env');
  assert.deepEqual([sink.schema, sink.batchSize, sink.retry.min, sink.retry.max, sink.includeBodies], ['gatehouse', 100, 1_000, 300_000, false]);
});

test('the example event in docs/audit-export.md validates against the schema', async () => {
  const { docBlock } = await import('../../docs/support/markdown.ts');
  const example = JSON.parse(docBlock('docs/audit-export.md › The event: gatehouse.audit.v1 › 1').text) as Record<string, unknown>;
  const keys = Object.keys(example);
  assert.ok(validate(example), ajv.errorsText(validate.errors));
  for (const key of keys) assert.ok(key in schema.properties);
});
