/**
 * identity.roles: what the config accepts (and the mistakes it refuses, with where), and how a
 * principal's groups become roles. Hostile inputs are listed case by case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { ROLE_NAMES } from '../../src/config/schema.ts';
import { GatewayError } from '../../src/errors.ts';
import { accessFor, allowedRoles, mayUse, requireRole, ROLES, rolesFor, type RoleGrant } from '../../src/identity/roles.ts';

const withRoles = (rolesYaml: string) => `identity:\n  roles:\n${rolesYaml}`;

function problemOf(text: string): string {
  try {
    parseConfig(text, 'gatehouse.yaml', {});
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'config_invalid');
    return err.message;
  }
  assert.fail(`expected the config to be refused:\n${text}`);
}

const GRANTS: readonly RoleGrant[] = parseConfig(
  withRoles(`    - group: platform-admins
      role: admin
    - group: security
      role: auditor
    - group: oncall
      role: approver
    - group: engineering
      role: user
      connections: [openai, analytics-db]
    - group: data
      role: user
      connections: [analytics-db, warehouse]
    - group: __proto__
      role: auditor
`),
  'gatehouse.yaml',
  {},
).identity.roles;

const user = (...groups: string[]) => ({ kind: 'user' as const, groups });

test('the role list of the config schema is the one roles.ts checks routes against', () => {
  assert.deepEqual([...ROLE_NAMES], [...ROLES]);
});

test('a config without identity.roles has no grants; the example from the docs loads', () => {
  assert.deepEqual(parseConfig('log:\n  level: info\n', 'gatehouse.yaml', {}).identity.roles, []);
  assert.equal(GRANTS.length, 6);
  assert.deepEqual(GRANTS[3], { group: 'engineering', role: 'user', connections: ['openai', 'analytics-db'] });
});

test('groups become roles; several groups add up; a user holds the union of its grants’ connections', () => {
  assert.deepEqual(accessFor(user('platform-admins'), GRANTS), { roles: ['admin'], connections: [] });
  assert.deepEqual(accessFor(user('security', 'oncall'), GRANTS), { roles: ['approver', 'auditor'], connections: [] });
  assert.deepEqual(accessFor(user('engineering', 'data'), GRANTS), { roles: ['user'], connections: ['analytics-db', 'openai', 'warehouse'] });
  assert.deepEqual(rolesFor(user('engineering', 'security'), GRANTS), ['auditor', 'user']);
  assert.deepEqual(accessFor(user(), GRANTS), { roles: [], connections: [] });
  assert.deepEqual(accessFor(user('marketing'), GRANTS), { roles: [], connections: [] });
});

test('the bootstrap admin is admin whatever the config says, even with no grants or a grant that names its group', () => {
  const admin = { kind: 'admin' as const, groups: ['admins'] };
  assert.deepEqual(rolesFor(admin, []), ['admin']);
  assert.deepEqual(rolesFor(admin, [{ group: 'admins', role: 'auditor' }]), ['admin']);
  assert.deepEqual(rolesFor({ kind: 'admin', groups: [] }, GRANTS), ['admin']);
});

test('allow lists: admin may use every route, others only the routes that name them', () => {
  assert.deepEqual(allowedRoles(undefined), ['admin']);
  assert.deepEqual(allowedRoles(['user', 'auditor']), ['admin', 'auditor', 'user']);
  assert.equal(mayUse(['admin'], undefined), true);
  assert.equal(mayUse(['auditor'], undefined), false);
  assert.equal(mayUse(['auditor', 'user'], ['user']), true);
  assert.throws(() => requireRole(['auditor'], ['user'], 'POST /tokens'), (err: GatewayError) => {
    assert.equal(err.code, 'forbidden_role');
    assert.deepEqual(err.details, { allowed: ['admin', 'user'], held: ['auditor'] });
    assert.match(err.message, /POST \/tokens needs the role admin or user; this identity holds auditor/);
    return true;
  });
  assert.throws(() => requireRole([], ['auditor'], 'GET /sessions'), (err: GatewayError) => err.code === 'forbidden_admin' && /identity\.roles/.test(err.message));
});

// Hostile principals: each must hold nothing it was not granted.
const HOSTILE_PRINCIPALS: { name: string; principal: { kind: 'user' | 'service_account' | 'admin'; groups: string[] }; roles: string[] }[] = [
  { name: 'a case trick on the group name', principal: user('Platform-Admins'), roles: [] },
  { name: 'an upper-case group', principal: user('PLATFORM-ADMINS'), roles: [] },
  { name: 'a trailing space', principal: user('platform-admins '), roles: [] },
  { name: 'a leading tab', principal: user('\tplatform-admins'), roles: [] },
  { name: 'a Cyrillic look-alike letter', principal: user('plаtform-admins'), roles: [] },
  { name: 'a Unicode hyphen', principal: user('platform‐admins'), roles: [] },
  { name: 'the group name decomposed (NFD) where the grant is composed', principal: user('café'.normalize('NFD')), roles: [] },
  { name: 'a group that is a role name', principal: user('admin', 'Admin', 'auditor'), roles: [] },
  { name: 'a wildcard as a group', principal: user('*'), roles: [] },
  { name: 'an empty group', principal: user(''), roles: [] },
  { name: 'a group with a NUL inside', principal: user('platform-admins\u0000'), roles: [] },
  { name: 'prototype names', principal: user('constructor', 'toString', 'hasOwnProperty'), roles: [] },
  { name: '__proto__ only gets its own grant', principal: user('__proto__'), roles: ['auditor'] },
  { name: 'a service account in the admin group', principal: { kind: 'service_account', groups: ['platform-admins'] }, roles: [] },
  { name: 'ten thousand groups, one of them right', principal: user(...Array.from({ length: 10_000 }, (_, i) => `g${i}`), 'oncall'), roles: ['approver'] },
  { name: 'the same group many times', principal: user('engineering', 'engineering', 'engineering'), roles: ['user'] },
];

for (const c of HOSTILE_PRINCIPALS) {
  test(`hostile principal: ${c.name}`, () => {
    assert.deepEqual(rolesFor(c.principal, [...GRANTS, { group: 'café', role: 'admin' }]), c.roles);
  });
}

test('a user grant’s connections do not leak to a principal outside the group', () => {
  assert.deepEqual(accessFor(user('Engineering'), GRANTS).connections, []);
  assert.deepEqual(accessFor(user('security'), GRANTS).connections, []);
});

// Hostile configs: each is refused at load with the grant it is about.
const HOSTILE_CONFIGS: { name: string; yaml: string; problem: RegExp }[] = [
  { name: 'a role in another case', yaml: '    - group: ops\n      role: Admin\n', problem: /identity\.roles\[0\]\.role/ },
  { name: 'a role that does not exist', yaml: '    - group: ops\n      role: root\n', problem: /identity\.roles\[0\]\.role/ },
  { name: 'an empty group', yaml: "    - group: ''\n      role: auditor\n", problem: /identity\.roles\[0\]\.group/ },
  { name: 'spaces around the group', yaml: "    - group: ' platform-admins'\n      role: admin\n", problem: /matched exactly/ },
  { name: 'a control character in the group', yaml: '    - group: "ops\\nadmins"\n      role: admin\n', problem: /control characters/ },
  { name: 'a wildcard group', yaml: "    - group: '*'\n      role: admin\n", problem: /not a wildcard/ },
  { name: 'a group that is a number', yaml: '    - group: 42\n      role: auditor\n', problem: /identity\.roles\[0\]\.group/ },
  { name: 'a group far too long', yaml: `    - group: ${'g'.repeat(300)}\n      role: auditor\n`, problem: /identity\.roles\[0\]\.group/ },
  { name: 'the same grant twice', yaml: '    - group: ops\n      role: admin\n    - group: ops\n      role: admin\n', problem: /identity\.roles\[1\].*granted admin twice/ },
  { name: 'a user grant without connections', yaml: '    - group: eng\n      role: user\n', problem: /identity\.roles\[0\]\.connections.*names the connections/ },
  { name: 'an auditor grant with connections', yaml: '    - group: sec\n      role: auditor\n      connections: [openai]\n', problem: /only a user grant names connections/ },
  { name: 'an empty connection list', yaml: '    - group: eng\n      role: user\n      connections: []\n', problem: /at least one connection/ },
  { name: 'a connection named in upper case', yaml: '    - group: eng\n      role: user\n      connections: [OpenAI]\n', problem: /connections\[0\]/ },
  { name: 'a connection with a path in its name', yaml: '    - group: eng\n      role: user\n      connections: [../admin]\n', problem: /connections\[0\]/ },
  { name: 'a connection listed twice', yaml: '    - group: eng\n      role: user\n      connections: [openai, openai]\n', problem: /"openai" is listed twice/ },
  { name: 'a wildcard connection', yaml: "    - group: eng\n      role: user\n      connections: ['*']\n", problem: /connections\[0\]/ },
  { name: 'an unknown key in a grant', yaml: '    - group: eng\n      role: auditor\n      permissions: [all]\n', problem: /permissions/ },
  { name: 'a map instead of a list', yaml: '    platform-admins: admin\n', problem: /identity\.roles/ },
  { name: 'a grant without a role', yaml: '    - group: eng\n', problem: /identity\.roles\[0\]\.role/ },
  { name: 'a list of roles in one grant', yaml: '    - group: eng\n      role: [admin, user]\n', problem: /identity\.roles\[0\]\.role/ },
];

for (const c of HOSTILE_CONFIGS) {
  test(`hostile config refused: ${c.name}`, () => {
    assert.match(problemOf(withRoles(c.yaml)), c.problem);
  });
}

test('connections a grant names need not exist yet: connections added through the API later are granted by name', () => {
  const config = parseConfig(withRoles('    - group: eng\n      role: user\n      connections: [not-yet-created]\n'), 'gatehouse.yaml', {});
  assert.deepEqual(accessFor(user('eng'), config.identity.roles).connections, ['not-yet-created']);
});
