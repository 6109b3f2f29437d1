/**
 * What makes a rendered chart a working Gatehouse deployment, beyond valid Kubernetes objects:
 * the container runs the config the ConfigMap holds, that config loads and compiles as
 * `gatehouse start` would, its listeners are the ports the probes and Services use, its folders
 * are mounted so the file watch sees ConfigMap updates, secrets come from Secrets only, and the
 * pod is given longer to stop than the gateway takes to drain.
 */
import { posix } from 'node:path';
import YAML from 'yaml';
import type { Manifest, Rendered } from './helm-render.ts';
import type { Container, Deployment } from './k8s-schema.ts';
import { configEnvRefs, drainTimeoutMs, gatewayEnvNames, loadLikeStart, placeholderEnv, reachableHost, SECRET_ENV } from './gateway-facts.ts';

const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL|DATABASE_URL/i;

function configMapData(rendered: Rendered, name: string): Record<string, string> | null {
  const found = rendered.manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === name);
  return found ? ((found as { data?: Record<string, string> | null }).data ?? {}) : null;
}

/** Problems of the rendered chart as a Gatehouse deployment; [] when it would run. */
export async function checkGatehouseChart(rendered: Rendered): Promise<string[]> {
  const problems: string[] = [];
  const deployments = rendered.manifests.filter((m) => m.kind === 'Deployment') as unknown as (Manifest & Deployment)[];
  if (deployments.length !== 1) return [`expected one Deployment, found ${deployments.length}`];
  const deployment = deployments[0]!;
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'gatehouse');
  if (!container) return ['no container named gatehouse'];
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  const mounts = container.volumeMounts ?? [];

  // The config file: `start --config <path>`, in a folder mounted from a ConfigMap of this chart.
  const args = container.args ?? [];
  const configPath = args[0] === 'start' && args[1] === '--config' ? args[2] : undefined;
  if (!configPath) return [`container args ${JSON.stringify(args)}: expected start --config <file>`];
  const files: Record<string, string> = {};
  for (const mount of mounts) {
    const volume = volumes.get(mount.name);
    if (mount.subPath !== undefined && (volume?.configMap || volume?.secret)) {
      problems.push(`mount ${mount.mountPath} uses subPath: the kubelet never updates such a mount, so the gateway would not see a new config or policy`);
    }
    if (volume?.configMap) {
      const data = configMapData(rendered, volume.configMap.name);
      if (data === null) problems.push(`volume ${mount.name} mounts ConfigMap ${volume.configMap.name}, which the chart does not render`);
      for (const [key, text] of Object.entries(data ?? {})) files[posix.join(mount.mountPath, key)] = text;
    }
  }
  const configText = files[configPath];
  if (configText === undefined) return [...problems, `${configPath} (the --config file) is in no mounted ConfigMap`];

  // Environment: the gateway's secrets from Secrets, every ${NAME} the config uses defined, no unknown GATEHOUSE_* name.
  const env = container.env ?? [];
  const envNames = new Set(env.map((e) => e.name));
  for (const name of SECRET_ENV) {
    const entry = env.find((e) => e.name === name);
    if (!entry?.valueFrom?.secretKeyRef) problems.push(`${name} must come from a Secret (valueFrom.secretKeyRef)`);
  }
  for (const entry of env) {
    if (entry.value !== undefined && SECRET_NAME.test(entry.name)) problems.push(`env ${entry.name} has a literal value: a secret belongs in a Secret`);
  }
  const known = gatewayEnvNames();
  for (const name of envNames) if (name.startsWith('GATEHOUSE_') && !known.has(name)) problems.push(`env ${name}: the gateway reads no such variable`);
  for (const name of configEnvRefs(configText)) if (!envNames.has(name)) problems.push(`${configPath} references \${${name}}, which the container's env does not set`);

  const loaded = await loadLikeStart(configPath, configText, placeholderEnv(envNames), files);
  problems.push(...loaded.problems);
  const config = loaded.config;
  if (!config) return problems;

  // No credential written into the config itself.
  const rawConnections = (YAML.parse(configText) as { connections?: unknown } | null)?.connections as { name?: string; credential?: unknown }[] | undefined;
  for (const c of rawConnections ?? []) {
    const values = typeof c.credential === 'string' ? [c.credential] : c.credential && typeof c.credential === 'object' ? [(c.credential as { value?: unknown }).value] : [];
    for (const value of values) if (typeof value === 'string' && !/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(value)) problems.push(`connection ${c.name}: credential is written into the config; use a \${NAME} reference to a Secret`);
  }
  if (config.store.databaseUrl !== undefined && !configText.includes('databaseUrl: ${')) problems.push('store.databaseUrl is written into the config; GATEHOUSE_DATABASE_URL comes from a Secret');

  // Listeners ↔ container ports ↔ probes.
  const portOf = (name: string) => (container.ports ?? []).find((p) => p.name === name)?.containerPort;
  const listener = (what: string, address: { host: string; port: number } | undefined, portName: string) => {
    const declared = portOf(portName);
    if (!address && declared === undefined) return;
    if (!address) return problems.push(`container port ${portName} (${declared}) has no listener in the config`);
    if (!reachableHost(address.host)) problems.push(`${what} listens on ${address.host}: probes and the Service cannot reach it; use 0.0.0.0`);
    if (declared !== address.port) problems.push(`${what} listens on port ${address.port}, but container port ${portName} is ${declared ?? 'not declared'}`);
  };
  listener('http.listen', config.http.listen, 'http');
  const postgresListens = config.postgres.listen ?? (config.connections.some((c) => c.type === 'postgres') ? { host: '127.0.0.1', port: 15432 } : undefined);
  listener('postgres.listen', postgresListens, 'postgres');
  listener('admin.listen', config.admin.listen, 'admin');
  const probe = (name: 'startupProbe' | 'livenessProbe' | 'readinessProbe', path: string, port: string) => {
    const got = container[name]?.httpGet;
    if (!got) return problems.push(`${name} is missing`);
    if (got.path !== path || got.port !== port) problems.push(`${name} is GET ${got.path} on ${got.port}; expected GET ${path} on ${port}`);
  };
  // The data-plane listener answers /healthz in both layouts; /readyz is on the admin listener when there is one.
  probe('startupProbe', '/healthz', 'http');
  probe('livenessProbe', '/healthz', 'http');
  probe('readinessProbe', '/readyz', config.admin.listen ? 'admin' : 'http');
  const annotations = deployment.spec.template.metadata.annotations ?? {};
  if (annotations['prometheus.io/scrape'] === 'true') {
    if (!config.admin.listen) problems.push('prometheus annotations without admin.listen: /metrics needs an admin token on the shared listener');
    else if (annotations['prometheus.io/port'] !== String(config.admin.listen.port) || annotations['prometheus.io/path'] !== '/metrics') problems.push('prometheus annotations do not point at /metrics on the admin port');
  }

  // Files the config names (TLS) must be in a mounted Secret.
  for (const file of [config.postgres.tls?.cert, config.postgres.tls?.key]) {
    if (file === undefined) continue;
    const mount = mounts.find((m) => file.startsWith(`${m.mountPath}/`) && volumes.get(m.name)?.secret);
    if (!mount) problems.push(`${file} (postgres.tls) is in no mounted Secret`);
    else if (!['tls.crt', 'tls.key'].includes(posix.relative(mount.mountPath, file))) problems.push(`${file}: a kubernetes.io/tls Secret holds tls.crt and tls.key`);
  }

  // Shutdown: the pod must outlive the preStop pause plus the gateway's drain.
  const drain = drainTimeoutMs(configText) / 1000;
  const sleep = preStopSleepSeconds(container);
  if (sleep === null) problems.push('preStop is not `sleep <seconds>`');
  if (pod.terminationGracePeriodSeconds <= (sleep ?? 0) + drain) {
    problems.push(`terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} is not above preStop ${sleep}s + shutdown.drainTimeout ${drain}s: the kubelet would kill the gateway mid-drain`);
  }

  // Hardening.
  const sc = container.securityContext;
  if (!pod.securityContext?.runAsNonRoot || sc?.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false || !sc.capabilities?.drop?.includes('ALL')) {
    problems.push('the container must run as non-root with a read-only root file system, no privilege escalation and every capability dropped');
  }
  if (!mounts.some((m) => m.mountPath === '/tmp' && volumes.get(m.name)?.emptyDir)) problems.push('no writable /tmp (emptyDir) beside the read-only root file system');
  const update = deployment.spec.strategy.rollingUpdate;
  if (update.maxUnavailable !== 0) problems.push('a rolling update may take a ready replica away before its successor is ready (maxUnavailable is not 0)');
  const pdb = rendered.manifests.find((m) => m.kind === 'PodDisruptionBudget') as { spec: { minAvailable?: number | string } } | undefined;
  if (pdb && typeof pdb.spec.minAvailable === 'number' && pdb.spec.minAvailable >= deployment.spec.replicas) {
    problems.push(`PodDisruptionBudget minAvailable ${pdb.spec.minAvailable} with ${deployment.spec.replicas} replica(s) blocks every node drain`);
  }
  return problems;
}

function preStopSleepSeconds(container: Container): number | null {
  const command = container.lifecycle?.preStop.exec.command ?? [];
  return command.length === 2 && command[0] === 'sleep' && /^\d+$/.test(command[1]!) ? Number(command[1]) : null;
}
