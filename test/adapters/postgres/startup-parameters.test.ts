/**
 * The startup-parameter rules on their own: `options` read as PostgreSQL reads it (pg_split_opts,
 * then -c / --), which settings pass and which are refused by name, and that docs/postgres.md
 * lists every refused name. The same rules against a real database are in test/e2e/postgres-fidelity*.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { operatorList, optionSettings, refusalKind, splitOptions, startupSettings } from '../../../src/adapters/postgres/startup-parameters.ts';
import { REFUSED_PREFIXES, REFUSED_SETTINGS, USER_LEVEL_CUSTOM_SETTINGS } from '../../../src/adapters/postgres/refused-settings.ts';
import { GatewayError } from '../../../src/errors.ts';

function forwarded(parameters: Record<string, string>, refuse: string[] = []): Record<string, string> {
  const result = startupSettings(parameters, { refuse: operatorList(refuse) });
  if (result instanceof GatewayError) assert.fail(`refused: ${result.message}`);
  return result.forward;
}

function refused(parameters: Record<string, string>, refuse: string[] = []): GatewayError {
  const result = startupSettings(parameters, { refuse: operatorList(refuse) });
  assert.ok(result instanceof GatewayError, `expected a refusal of ${JSON.stringify(parameters)}, got ${JSON.stringify(result)}`);
  return result;
}

describe('options as PostgreSQL splits it', () => {
  const cases: [string, string[]][] = [
    ['', []],
    ['   ', []],
    ['-c a=1', ['-c', 'a=1']],
    ['  -c   a=1  ', ['-c', 'a=1']],
    ['-c search_path=a\\ b', ['-c', 'search_path=a b']],
    ['-c x=a\\\\b', ['-c', 'x=a\\b']],
    ['-c x=trailing\\', ['-c', 'x=trailing']],
    ['-c\ta=1\n--b=2\r\f\v', ['-c', 'a=1', '--b=2']],
    // U+00A0 and U+3000 are not C-locale spaces: they stay inside the word
    ['-c\u00a0role=x', ['-c\u00a0role=x']],
    ['-c a=1\u3000-c b=2', ['-c', 'a=1\u3000-c', 'b=2']],
  ];
  for (const [input, words] of cases) {
    test(JSON.stringify(input), () => assert.deepEqual(splitOptions(input), words));
  }
});

describe('settings in options', () => {
  test('-c name=value, -cname=value and --name=value; dashes in names read as underscores', () => {
    assert.deepEqual(optionSettings('-c statement_timeout=50 -clock_timeout=60 --idle-in-transaction-session-timeout=70'), [
      ['statement_timeout', '50'],
      ['lock_timeout', '60'],
      ['idle_in_transaction_session_timeout', '70'],
    ]);
  });
  test('values keep "=" and escaped spaces; names fold to lower case', () => {
    assert.deepEqual(optionSettings('-c Search_Path=a\\ b,c=d'), [['search_path', 'a b,c=d']]);
  });
  test('other switches, missing values and dangling -c are refused, naming what is wrong', () => {
    for (const bad of ['-d 5', '-P', '-Ec x=1', 'positional', '-c', '-c role', '--role', '-c =x', '--=x', '-W 60', '-f s']) {
      const result = optionSettings(bad);
      assert.ok(result instanceof GatewayError, bad);
      assert.equal(result.code, 'invalid_argument');
    }
  });
});

describe('what passes', () => {
  test('pool and session settings a role may make itself pass, lower-cased; options first, parameters win', () => {
    assert.deepEqual(
      forwarded({
        user: 'me',
        database: 'prod-db',
        application_name: 'app',
        DateStyle: 'ISO, MDY',
        statement_timeout: '5s',
        options: '-c search_path=app\\ schema,public -c statement_timeout=1s --default-transaction-isolation=serializable',
        client_encoding: 'UTF8',
        replication: 'false',
      }),
      {
        search_path: 'app schema,public',
        statement_timeout: '5s',
        default_transaction_isolation: 'serializable',
        application_name: 'app',
        datestyle: 'ISO, MDY',
      },
    );
  });
  test('UTF8 under any of PostgreSQL\'s spellings; SQL_ASCII as libpq sends it in the C locale', () => {
    for (const name of ['UTF8', 'utf-8', 'Unicode', 'SQL_ASCII', 'utf_8']) assert.deepEqual(forwarded({ client_encoding: name }), {});
  });
  test('PL/pgSQL settings any role may make pass; unknown core names pass for the database to judge', () => {
    assert.deepEqual(forwarded({ 'plpgsql.extra_warnings': 'all', no_such_setting: 'x' }), { 'plpgsql.extra_warnings': 'all', no_such_setting: 'x' });
  });
  test('what the client sent is kept as sent, for the record', () => {
    const result = startupSettings({ user: 'someone', options: '-c a=b', application_name: 'x' });
    assert.ok(!(result instanceof GatewayError));
    assert.deepEqual(result.sent, { user: 'someone', options: '-c a=b', application_name: 'x' });
  });
  test('a token or password put in the startup packet by mistake is not kept for the record', () => {
    const token = `gth_${'A'.repeat(40)}`;
    const result = startupSettings({ user: 'me', password: 'hunter2', application_name: token, options: `-c application_name=${token}`, PGPASSWORD: 'x' });
    assert.ok(!(result instanceof GatewayError), String(result));
    assert.deepEqual(result.sent, { user: 'me', password: '[redacted]', application_name: '[redacted]', options: '[redacted]', PGPASSWORD: '[redacted]' });
    assert.ok(!JSON.stringify(result.sent).includes('hunter2') && !JSON.stringify(result.sent).includes(token));
  });
  test('a long value passes here: the packet the database gets is measured where it is built', () => {
    assert.equal(forwarded({ application_name: 'x'.repeat(9_500) })['application_name']!.length, 9_500);
  });
});

describe('hostile startup parameters are refused by name', () => {
  const cases: [string, Record<string, string>, string | RegExp][] = [
    ['role as a parameter', { role: 'postgres' }, 'role'],
    ['ROLE in upper case', { ROLE: 'postgres' }, 'ROLE'],
    ['session_authorization', { session_authorization: 'postgres' }, 'session_authorization'],
    ['-c role=x', { options: '-c role=postgres' }, 'role'],
    ['-crole=x', { options: '-crole=postgres' }, 'role'],
    ['--role=x', { options: '--role=postgres' }, 'role'],
    ['-c  role=x (two spaces)', { options: '-c  role=postgres' }, 'role'],
    ['-c\\trole=x', { options: '-c\trole=postgres' }, 'role'],
    ['--ROLE=x', { options: '--ROLE=postgres' }, 'role'],
    ['--session-authorization=x (dashes)', { options: '--session-authorization=postgres' }, 'session_authorization'],
    ['role after a harmless one', { options: '-c statement_timeout=1 -c role=postgres' }, 'role'],
    ['a bare word after a setting (getopt would leave it as an argument)', { options: '-c application_name=a\\ -c role=x' }, /"role=x" is not accepted/],
    ['session_replication_role', { options: '-c session_replication_role=replica' }, 'session_replication_role'],
    ['log_statement', { log_statement: 'none' }, 'log_statement'],
    ['a log_ name not yet known', { options: '-c log_future_thing=off' }, 'log_future_thing'],
    ['track_activities', { track_activities: 'off' }, 'track_activities'],
    ['pgaudit.log', { options: '-c pgaudit.log=none' }, 'pgaudit.log'],
    ['PGAUDIT.LOG in upper case', { 'PGAUDIT.LOG': 'none' }, 'PGAUDIT.LOG'],
    ['auto_explain.* (an extension setting)', { 'auto_explain.log_min_duration': '-1' }, 'auto_explain.log_min_duration'],
    ['plpgsql.variable_conflict (superuser-only)', { 'plpgsql.variable_conflict': 'use_column' }, 'plpgsql.variable_conflict'],
    ['session_preload_libraries', { session_preload_libraries: 'x' }, 'session_preload_libraries'],
    ['local_preload_libraries', { options: '-c local_preload_libraries=x' }, 'local_preload_libraries'],
    ['allow_system_table_mods', { allow_system_table_mods: 'on' }, 'allow_system_table_mods'],
    ['zero_damaged_pages', { zero_damaged_pages: 'on' }, 'zero_damaged_pages'],
    ['lo_compat_privileges', { lo_compat_privileges: 'on' }, 'lo_compat_privileges'],
    ['ignore_system_indexes (-P is refused too)', { ignore_system_indexes: 'on' }, 'ignore_system_indexes'],
    ['standard_conforming_strings off would lex SQL differently', { standard_conforming_strings: 'off' }, 'standard_conforming_strings'],
    ['user from options', { options: '-c user=postgres' }, 'user'],
    ['database from options', { options: '--database=postgres' }, 'database'],
    ['USER in another case', { USER: 'postgres' }, 'USER'],
    ['_pq_ from options', { options: '-c _pq_.x=1' }, '_pq_.x'],
    ['an empty name in options', { options: '-c =1' }, /no setting name/],
    ['client_encoding LATIN1', { client_encoding: 'LATIN1' }, /client_encoding LATIN1/],
    ['client_encoding in another case', { CLIENT_ENCODING: 'LATIN1' }, /client_encoding LATIN1/],
    ['client_encoding from options', { options: '-c client_encoding=SJIS' }, /client_encoding SJIS/],
    ['a name full of control characters', { 'log_\u0001\u0002': 'x' }, /log_\\x01\\x02/],
  ];
  for (const [name, parameters, named] of cases) {
    test(name, () => {
      const error = refused(parameters);
      assert.equal(error.code, 'invalid_argument');
      if (typeof named === 'string') {
        assert.ok(error.message.includes(`"${named}"`), error.message);
        assert.equal(error.details.setting, named);
      } else assert.match(error.message, named);
    });
  }
  test('replication stays a protocol refusal, whatever the spelling of true', () => {
    for (const value of ['true', 'database', 'on', '1', 'yes']) assert.equal(refused({ replication: value }).code, 'protocol_error');
  });
  test('-c role=x behind an escaped space is part of a value, not a setting', () => {
    assert.deepEqual(forwarded({ options: '-c application_name=a\\ -c\\ role=x' }), { application_name: 'a -c role=x' });
  });
  test('look-alikes are not the setting: they pass to the database, which knows no such name', () => {
    // Greek omicron, Cyrillic o, the Kelvin sign, a fullwidth R: PostgreSQL folds ASCII only
    for (const name of ['r\u03bfle', 'r\u043ele', 'ro\u212ale', '\uff32OLE']) assert.equal(refusalKind(name), null, name);
  });
  test('a long options value with a refused setting at its very end', () => {
    const padding = Array.from({ length: 300 }, (_, i) => `-c application_name=a${i}`).join(' ');
    assert.equal(refused({ options: `${padding} -c role=postgres` }).details.setting, 'role');
  });
});

describe('the operator list', () => {
  test('names and prefixes, compared as PostgreSQL compares names', () => {
    assert.match(refused({ Search_Path: 'x' }, ['search_path']).message, /postgres\.refuseStartupSettings/);
    assert.equal(refused({ options: '-c enable_seqscan=off' }, ['enable_*']).details.setting, 'enable_seqscan');
    assert.deepEqual(forwarded({ work_mem: '4MB' }, ['enable_*']), { work_mem: '4MB' });
  });
});

describe('docs/postgres.md lists the refused settings', () => {
  const docs = readFileSync(new URL('../../../docs/postgres.md', import.meta.url), 'utf8');
  test('every refused name and prefix, and the PL/pgSQL settings that pass', () => {
    for (const name of [...REFUSED_SETTINGS.keys(), ...REFUSED_PREFIXES.map(([p]) => `${p}*`), ...USER_LEVEL_CUSTOM_SETTINGS]) {
      assert.ok(docs.includes(`\`${name}\``), `docs/postgres.md does not list ${name}`);
    }
  });
});
