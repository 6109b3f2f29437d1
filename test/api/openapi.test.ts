import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { API_PREFIX, registerApi, type ApiDeps } from '../../src/api/server.ts';

/**
 * The API on a bare Fastify instance: every route it registers is seen by an onRoute hook added
 * first, independently of @fastify/swagger. Reading the document touches none of the
 * dependencies, so they are left out.
 */
async function apiAndDocument() {
  const app = Fastify();
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  await registerApi(app, {} as ApiDeps);
  const response = await app.inject({ method: 'GET', url: `${API_PREFIX}/openapi.json` });
  await app.close();
  return { routes, status: response.statusCode, doc: response.json() };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

test('the OpenAPI document is served without a token and describes every route the API registers', async () => {
  const { routes, status, doc } = await apiAndDocument();
  assert.equal(status, 200);
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(typeof doc.info.version, 'string');

  const registered = routes.filter((r) => r.url.startsWith(`${API_PREFIX}/`)).map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
  const documented = Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => m in (item as object)).map((m) => `${m.toUpperCase()} ${path}`));
  assert.ok(registered.length >= 16, `only ${registered.length} routes registered`);
  assert.deepEqual(documented.sort(), registered.sort());
});

test('every operation has a unique operationId, a known tag, a summary, its path parameters, a success answer and the error shape', async () => {
  const { doc } = await apiAndDocument();
  const tags = new Set(doc.tags.map((t: { name: string }) => t.name));
  const ids = new Set<string>();
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const method of METHODS.filter((m) => m in item)) {
      const op = item[method];
      const where = `${method.toUpperCase()} ${path}`;
      assert.ok(op.operationId && !ids.has(op.operationId), `${where}: operationId missing or repeated`);
      ids.add(op.operationId);
      assert.ok(op.tags?.length === 1 && tags.has(op.tags[0]), `${where}: tagged ${op.tags}`);
      assert.ok(op.summary, `${where}: no summary`);

      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name).sort();
      assert.deepEqual(declared, inPath, `${where}: path parameters`);

      const statuses = Object.keys(op.responses);
      const success = statuses.filter((s) => /^2\d\d$/.test(s));
      assert.ok(success.length > 0, `${where}: no success response`);
      for (const s of success) {
        assert.ok(op.responses[s].description && op.responses[s].description !== 'Default Response', `${where} ${s}: no description`);
        if (s !== '204') assert.ok(op.responses[s].content?.['application/json']?.schema, `${where} ${s}: no schema`);
      }
      // The OAuth token endpoint answers errors as RFC 6749 §5.2 says, so OAuth clients read them.
      const errorShape = path === `${API_PREFIX}/oauth2/token` ? 'OAuthError' : 'Error';
      for (const s of ['4XX', '5XX']) {
        assert.deepEqual(op.responses[s]?.content?.['application/json']?.schema, { $ref: `#/components/schemas/${errorShape}` }, `${where} ${s}`);
      }
      if (op.requestBody) assert.ok(op.requestBody.content['application/json'].schema, `${where}: body without a schema`);
    }
  }
});

test('the error shape in the document is the one the API sends, and every $ref resolves', async () => {
  const { doc } = await apiAndDocument();
  const error = doc.components.schemas.Error;
  assert.deepEqual(error.required, ['error']);
  assert.deepEqual(error.properties.error.required.sort(), ['code', 'gatehouse', 'message', 'param', 'type']);
  assert.ok(error.properties.error.properties.code.enum.includes('invalid_argument'));

  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(refs.length > 0);
  for (const name of new Set(refs)) assert.ok(doc.components.schemas[name], `dangling $ref ${name}`);
});

test('only the document and the service-account exchange skip the admin token, and the document says so', async () => {
  const { doc } = await apiAndDocument();
  assert.deepEqual(doc.security, [{ adminToken: [] }]);
  const exceptions = Object.entries<Record<string, any>>(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]?.security).map((m) => [`${m.toUpperCase()} ${path}`, item[m].security]),
  );
  assert.deepEqual(Object.fromEntries(exceptions), {
    [`GET ${API_PREFIX}/openapi.json`]: [],
    // Sign-in and workload token exchange: the ID token or workload token in the body is the credential.
    [`GET ${API_PREFIX}/login/config`]: [],
    [`POST ${API_PREFIX}/login/oidc`]: [],
    [`POST ${API_PREFIX}/oauth2/token`]: [],
    [`POST ${API_PREFIX}/token/exchange`]: [{ serviceAccountSecret: [] }],
  });
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['adminToken', 'serviceAccountSecret']);
});
