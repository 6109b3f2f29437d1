/**
 * The Helm chart (deploy/helm/gatehouse), in place of `helm lint` and `helm template`, which do not
 * install from the npm registry or Debian's packages: it is rendered with Go's own text/template
 * (support/helm-render.ts), every object is checked against a strict schema of the Kubernetes API
 * (support/k8s-schema.ts), and the whole is checked as a Gatehouse deployment: the config it
 * mounts loads and compiles as `gatehouse start` would, listeners, ports and probes agree, secrets
 * come from Secrets, and the pod outlives the gateway's drain (support/chart-checks.ts). Each check
 * is shown to catch what it is for, on values and templates broken on purpose.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { loadChart, only, renderChart, type Chart, type Rendered, type RenderOptions } from './support/helm-render.ts';
import { checkReferences, validateObject, type Deployment, type Service } from './support/k8s-schema.ts';
import { checkGatehouseChart } from './support/chart-checks.ts';

const chart = loadChart();
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

/** Every problem the three layers find; [] for a chart that would deploy and run. */
async function problemsOf(rendered: Rendered): Promise<string[]> {
  const schema = rendered.manifests.flatMap(validateObject);
  if (schema.length > 0) return schema;
  return [...checkReferences(rendered.manifests), ...(await checkGatehouseChart(rendered))];
}

async function problemsWith(options: RenderOptions, from: Chart = chart): Promise<string[]> {
  return problemsOf(await renderChart(from, options));
}

/** The chart with one template edited; fails when the edit no longer applies, so no case passes vacuously. */
function withTemplate(name: string, from: string, to: string): Chart {
  const text = chart.templates.get(name) ?? '';
  assert.ok(text.includes(from), `${name} no longer contains ${JSON.stringify(from)}`);
  return { ...chart, templates: new Map(chart.templates).set(name, text.replace(from, to)) };
}

const deploymentOf = (r: Rendered) => only(r, 'Deployment') as unknown as Deployment;
const containerOf = (r: Rendered) => deploymentOf(r).spec.template.spec.containers[0]!;
const configWith = (edit: (text: string) => string) => {
  const text = edit(chart.values.config as string);
  assert.notEqual(text, chart.values.config, 'the edit changed nothing');
  return text;
};

describe('Helm chart: metadata', () => {
  test('Chart.yaml is a v2 application chart named after its folder; the image defaults to this version of the gateway', () => {
    assert.equal(chart.meta.apiVersion, 'v2');
    assert.equal(chart.meta.name, 'gatehouse');
    assert.match(chart.meta.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    assert.equal(chart.meta.appVersion, pkg.version);
  });

  test('every template is one helm renders (yaml, tpl, NOTES.txt)', () => {
    for (const name of chart.templates.keys()) assert.match(name, /^templates\/(_[a-z-]+\.tpl|[a-z-]+\.yaml|NOTES\.txt)$/);
  });
});

describe('Helm chart: the default values', () => {
  let rendered: Rendered;

  test('render to valid objects that make a working deployment', async () => {
    rendered = await renderChart();
    assert.deepEqual(
      rendered.manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort(),
      ['ConfigMap/gatehouse-config', 'ConfigMap/gatehouse-policies', 'Deployment/gatehouse', 'PodDisruptionBudget/gatehouse', 'Service/gatehouse'],
    );
    assert.deepEqual(await problemsOf(rendered), []);
  });

  test('two replicas, rolled one at a time without losing a ready one, and a budget that keeps one', () => {
    const d = deploymentOf(rendered);
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    assert.equal((only(rendered, 'PodDisruptionBudget').spec as { minAvailable: number }).minAvailable, 1);
  });

  test('the Service carries HTTP on 8080 and PostgreSQL on 15432 to the named container ports', () => {
    const svc = only(rendered, 'Service') as unknown as Service;
    assert.deepEqual(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['http', 8080, 'http'], ['postgres', 15432, 'postgres']]);
  });

  test('the three gateway secrets come from the Secrets values.yaml names, and nothing else is secret in values.yaml', () => {
    const env = containerOf(rendered).env ?? [];
    const refs = Object.fromEntries(env.map((e) => [e.name, e.valueFrom?.secretKeyRef]));
    assert.deepEqual(refs.GATEHOUSE_DATABASE_URL, { name: 'gatehouse', key: 'database-url' });
    assert.deepEqual(refs.GATEHOUSE_MASTER_KEY, { name: 'gatehouse', key: 'master-key' });
    assert.deepEqual(refs.GATEHOUSE_ADMIN_TOKEN, { name: 'gatehouse', key: 'admin-token' });
    const text = readFileSync(`${chart.dir}/values.yaml`, 'utf8');
    // Token prefixes (admin, agent, service account), provider keys, and passwords inside URLs.
    assert.doesNotMatch(text.replace(/^\s*#.*$/gm, ''), /\bgt[ahs]_[A-Za-z0-9]|\bsk-[A-Za-z0-9]|:\/\/[^/\s:@]+:[^/\s@]+@/);
  });

  test('config and policies are mounted as whole folders, where the gateway follows ConfigMap updates', () => {
    const c = containerOf(rendered);
    assert.deepEqual(c.args, ['start', '--config', '/etc/gatehouse/config/gatehouse.yaml']);
    const mounts = (c.volumeMounts ?? []).filter((m) => m.name === 'config' || m.name === 'policies');
    assert.deepEqual(mounts, [
      { name: 'config', mountPath: '/etc/gatehouse/config', readOnly: true },
      { name: 'policies', mountPath: '/etc/gatehouse/policies', readOnly: true },
    ]);
    assert.equal((YAML.parse(chart.values.config as string) as { policy: { dir: string } }).policy.dir, '../policies');
  });

  test('probes: alive on /healthz, ready on /readyz; the pod outlives preStop plus the 20 s drain; non-root, read-only', () => {
    const d = deploymentOf(rendered);
    const c = containerOf(rendered);
    assert.equal(c.livenessProbe?.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe?.httpGet.path, '/readyz');
    assert.deepEqual(c.lifecycle?.preStop.exec.command, ['sleep', '5']);
    assert.ok(d.spec.template.spec.terminationGracePeriodSeconds > 5 + 20);
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(d.spec.template.spec.securityContext?.runAsNonRoot, true);
    assert.equal(d.spec.template.metadata.annotations, undefined, 'no scrape annotations while /metrics needs a token');
  });

  test('NOTES.txt renders and names every Secret the pods wait for', () => {
    for (const ref of ['gatehouse/database-url', 'gatehouse/master-key', 'gatehouse/admin-token', 'gatehouse-upstreams/openai-api-key']) assert.ok(rendered.notes.includes(ref), ref);
    assert.ok(rendered.notes.includes('postgresTls.existingSecret'), 'warns that the PostgreSQL listener has no TLS');
    assert.doesNotMatch(rendered.notes, /<no value>/);
  });
});

describe('Helm chart: other supported values', () => {
  test('an admin listener: its own ClusterIP Service, readiness there, and scrape annotations for /metrics', async () => {
    const config = configWith((t) => t.replace('postgres:\n', 'admin:\n  listen: 0.0.0.0:9090\npostgres:\n'));
    const r = await renderChart(chart, { values: { config, ports: { admin: 9090 } } });
    assert.deepEqual(await problemsOf(r), []);
    const admin = only(r, 'Service', '-admin') as unknown as Service;
    assert.equal(admin.spec.type, 'ClusterIP');
    assert.deepEqual(admin.spec.ports.map((p) => [p.name, p.port]), [['admin', 9090]]);
    assert.equal(containerOf(r).readinessProbe?.httpGet.port, 'admin');
    assert.deepEqual(deploymentOf(r).spec.template.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'prometheus.io/path': '/metrics' });
  });

  test('PostgreSQL TLS from a kubernetes.io/tls Secret', async () => {
    const config = configWith((t) => t.replace('  listen: 0.0.0.0:15432\n', '  listen: 0.0.0.0:15432\n  tls: { cert: /etc/gatehouse/tls/tls.crt, key: /etc/gatehouse/tls/tls.key }\n'));
    const r = await renderChart(chart, { values: { config, postgresTls: { existingSecret: 'gatehouse-pg-tls' } } });
    assert.deepEqual(await problemsOf(r), []);
    const volume = deploymentOf(r).spec.template.spec.volumes?.find((v) => v.name === 'postgres-tls');
    assert.deepEqual(volume?.secret, { secretName: 'gatehouse-pg-tls', defaultMode: 0o440 });
    assert.doesNotMatch(r.notes, /has no TLS Secret/);
  });

  test('one replica renders no PodDisruptionBudget (it would block node drains); three keep it', async () => {
    const one = await renderChart(chart, { values: { replicaCount: 1 } });
    assert.deepEqual(await problemsOf(one), []);
    assert.equal(one.manifests.some((m) => m.kind === 'PodDisruptionBudget'), false);
    const three = await renderChart(chart, { values: { replicaCount: 3 } });
    assert.deepEqual(await problemsOf(three), []);
    assert.equal(deploymentOf(three).spec.replicas, 3);
  });

  test('names: <release>-gatehouse, the release alone when it is gatehouse, fullnameOverride, and helm\'s longest release name', async () => {
    const names = async (options: RenderOptions) => (await renderChart(chart, options)).manifests.map((m) => m.metadata.name);
    assert.ok((await names({ releaseName: 'prod' })).includes('prod-gatehouse'));
    assert.ok((await names({ values: { fullnameOverride: 'edge' } })).includes('edge-policies'));
    const longest = 'a'.repeat(53);
    const r = await renderChart(chart, { releaseName: longest });
    assert.deepEqual(await problemsOf(r), []);
    assert.equal(only(r, 'Service').metadata.name, `${longest}-gatehouse`);
  });

  test('no policy files, no PostgreSQL listener, plain env, a pinned tag and pull secrets', async () => {
    const config = configWith((t) => t.replace('postgres:\n  listen: 0.0.0.0:15432\n', ''));
    const r = await renderChart(chart, {
      values: { config, policies: {}, ports: { postgres: null }, env: { NODE_OPTIONS: '--max-semi-space-size=8' }, image: { tag: '0.1.0-rc.1' }, imagePullSecrets: ['regcred'] },
    });
    assert.deepEqual(await problemsOf(r), []);
    assert.deepEqual((only(r, 'Service') as unknown as Service).spec.ports.map((p) => p.name), ['http']);
    assert.equal(containerOf(r).image, 'gatehouse:0.1.0-rc.1');
    assert.deepEqual(deploymentOf(r).spec.template.spec.imagePullSecrets, [{ name: 'regcred' }]);
  });
});

/** Broken on purpose: each must be reported, naming what is wrong. */
describe('Helm chart: what the checks refuse', () => {
  const refused = async (problems: Promise<string[]>, expected: RegExp) => {
    const found = await problems;
    assert.ok(found.some((p) => expected.test(p)), `expected a problem matching ${expected}, got:\n${found.join('\n') || '(none)'}`);
  };
  const renderFails = (from: Chart, options: RenderOptions, expected: RegExp) => assert.rejects(renderChart(from, options), expected);

  test('a Sprig/Helm function the Go renderer does not have (the chart keeps to built-ins)', () =>
    renderFails(withTemplate('templates/service.yaml', '{{ .Values.service.type }}', '{{ .Values.service.type | quote }}'), {}, /function "quote" not defined/));
  test('toYaml', () => renderFails(withTemplate('templates/deployment.yaml', '{{- range $kind, $amounts := .Values.resources }}', '{{ toYaml .Values.resources }}{{- range $kind, $amounts := .Values.resources }}'), {}, /function "toYaml" not defined/));
  test('a misspelt value (missing keys are errors, not empty strings)', () => renderFails(withTemplate('templates/deployment.yaml', '.Values.replicaCount', '.Values.replicas'), {}, /map has no entry for key "replicas"/));
  test('a template syntax error', () => renderFails(withTemplate('templates/pdb.yaml', '{{- end }}', ''), {}, /templates\/pdb\.yaml: .*unexpected EOF/));
  test('a release name helm refuses', () => renderFails(chart, { releaseName: 'Prod_1' }, /helm refuses it/));
  test('a scalar Kubernetes reads as a boolean but YAML 1.2 as a string', () => renderFails(chart, { values: { image: { pullPolicy: 'on' } } }, /reads differently as YAML 1\.1/));

  test('a misspelt field in a template (strict schema)', () => refused(problemsWith({}, withTemplate('templates/deployment.yaml', 'readinessProbe:', 'readynessProbe:')), /Unrecognized key.*readynessProbe/));
  test('a Service type that does not exist', () => refused(problemsWith({ values: { service: { type: 'Loadbalancer' } } }), /spec\.type/));
  test('an object name Kubernetes refuses', () => refused(problemsWith({ values: { fullnameOverride: 'Gatehouse_Prod' } }), /metadata\.name/));
  test('a resource amount that is not a quantity', () => refused(problemsWith({ values: { resources: { requests: { cpu: 'a lot' } } } }), /a quantity/));
  test('a policy file named like the kubelet\'s own ..data entries', () => refused(problemsWith({ values: { policies: { '..data': 'rules: []' } } }), /ConfigMap\/gatehouse-policies: data\.\.\.data: Invalid key/));
  test('a policy file name with a slash', () => refused(problemsWith({ values: { policies: { 'team/a.yaml': 'rules: []' } } }), /ConfigMap\/gatehouse-policies: data\.team\/a\.yaml: Invalid key/));

  test('the HTTP listener on loopback, unreachable by probes and the Service', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('listen: 0.0.0.0:8080', 'listen: 127.0.0.1:8080')) } }), /http\.listen listens on 127\.0\.0\.1/));
  test('the HTTP listener on another port than the container port', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('0.0.0.0:8080', '0.0.0.0:9000')) } }), /port 9000, but container port http is 8080/));
  test('a PostgreSQL container port with no listener in the config', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('postgres:\n  listen: 0.0.0.0:15432\n', '')) } }), /container port postgres \(15432\) has no listener/));
  test('admin.listen set but no admin port (readiness would probe the wrong listener)', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('postgres:\n', 'admin:\n  listen: 0.0.0.0:9090\npostgres:\n')) } }), /readinessProbe is GET \/readyz on http; expected GET \/readyz on admin/));
  test('an admin port with no admin.listen', () => refused(problemsWith({ values: { ports: { admin: 9090 } } }), /container port admin \(9090\) has no listener/));
  test('TLS files in no mounted Secret', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('  listen: 0.0.0.0:15432\n', '  listen: 0.0.0.0:15432\n  tls: { cert: /etc/gatehouse/tls/tls.crt, key: /etc/gatehouse/tls/tls.key }\n')) } }), /tls\.crt \(postgres\.tls\) is in no mounted Secret/));
  test('a config the gateway refuses', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('http:\n', 'http:\n  bodyLimit: lots\n')) } }), /bodyLimit/));
  test('a config given as a map instead of gatehouse.yaml text', () => refused(problemsWith({ values: { config: { http: { listen: '0.0.0.0:8080' } } } }), /expected object, received string/));
  test('a policy file with a rule the gateway refuses', () => refused(problemsWith({ values: { policies: { '50-llm.yaml': 'rules:\n  - { name: x, action: maybe }\n' } } }), /policy/));
  test('policy.dir pointing where nothing is mounted', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('dir: ../policies', 'dir: ./rules')) } }), /policy\.dir resolves to \/etc\/gatehouse\/config\/rules, where nothing is mounted/));

  test('a credential written into the config', () => refused(problemsWith({ values: { config: configWith((t) => t.replace('credential: ${OPENAI_API_KEY}', 'credential: sk-live-0123456789abcdef')) } }), /credential is written into the config/));
  test('a ${NAME} the container does not set', () => refused(problemsWith({ values: { envFromSecrets: [] } }), /references \$\{OPENAI_API_KEY\}/));
  test('a secret-looking variable with a literal value', () => refused(problemsWith({ values: { env: { UPSTREAM_TOKEN: 'abc' } } }), /env UPSTREAM_TOKEN has a literal value/));
  test('a GATEHOUSE_ variable the gateway never reads', () => refused(problemsWith({ values: { env: { GATEHOUSE_LISTEN_ADDR: '0.0.0.0' } } }), /GATEHOUSE_LISTEN_ADDR: the gateway reads no such variable/));
  test('a gateway secret set twice', () => refused(problemsWith({ values: { envFromSecrets: [{ name: 'OPENAI_API_KEY', secret: 's', key: 'k' }, { name: 'GATEHOUSE_MASTER_KEY', secret: 's', key: 'k2' }] } }), /env GATEHOUSE_MASTER_KEY set twice/));
  test('the master key as a literal (template edited)', () =>
    refused(
      problemsWith({}, withTemplate('templates/deployment.yaml', "- name: GATEHOUSE_MASTER_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: {{ .Values.secrets.masterKey.existingSecret }}\n                  key: {{ .Values.secrets.masterKey.key }}", '- name: GATEHOUSE_MASTER_KEY\n              value: "00"')),
      /GATEHOUSE_MASTER_KEY must come from a Secret/,
    ));

  test('a config mount with subPath (the kubelet would never update it)', () => refused(problemsWith({}, withTemplate('templates/deployment.yaml', 'mountPath: /etc/gatehouse/policies\n', 'mountPath: /etc/gatehouse/policies\n              subPath: 50-llm.yaml\n')), /uses subPath/));
  test('a grace period shorter than preStop plus the default drain', () => refused(problemsWith({ values: { terminationGracePeriodSeconds: 20 } }), /terminationGracePeriodSeconds 20 is not above preStop 5s \+ shutdown\.drainTimeout 20s/));
  test('a drain longer than the grace period', () => refused(problemsWith({ values: { config: configWith((t) => `${t}shutdown:\n  drainTimeout: 45s\n`) } }), /terminationGracePeriodSeconds 40 is not above preStop 5s \+ shutdown\.drainTimeout 45s/));
  test('a budget that keeps every replica', () => refused(problemsWith({ values: { podDisruptionBudget: { minAvailable: 2 } } }), /blocks every node drain/));
  test('a writable root file system', () => refused(problemsWith({}, withTemplate('templates/deployment.yaml', 'readOnlyRootFilesystem: true', 'readOnlyRootFilesystem: false')), /read-only root file system/));
  test('a Service that selects no pod', () => refused(problemsWith({}, withTemplate('templates/service.yaml', 'selector: {{ template "gatehouse.selectorLabels" . }}', 'selector: {app: other}')), /Service\/gatehouse: selector matches no pod template/));
  test('a probe on a port the container does not declare', () => refused(problemsWith({}, withTemplate('templates/deployment.yaml', 'path: /healthz\n              port: http\n            periodSeconds: 10', 'path: /healthz\n              port: web\n            periodSeconds: 10')), /livenessProbe names port web/));
});
