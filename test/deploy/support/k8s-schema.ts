/**
 * A schema check of the Kubernetes objects the chart renders, standing in for `helm lint` and the
 * API server's validation where neither can run. It covers the kinds and fields this chart uses
 * (ConfigMap and Service v1, Deployment apps/v1, PodDisruptionBudget policy/v1), written from the
 * Kubernetes API reference and its validation rules (name formats, port ranges, quantities,
 * exactly-one-of fields). Objects are strict: a field the schema does not know is reported, as
 * the API server's strict field validation (kubectl's default since 1.27) would refuse it, so a
 * misspelt field in a template cannot pass. A field the chart starts using must be added here.
 *
 * Beyond single fields, checkReferences does what the API server and kubelet check across fields:
 * selectors match the pod's labels, named ports and volumes exist, nothing is declared twice.
 */
import { z } from 'zod';
import type { Manifest } from './helm-render.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

const dnsLabel = z.string().max(63).regex(DNS_LABEL, 'a DNS-1123 label: lower-case letters, digits and "-"');
const dnsSubdomain = z.string().max(253).regex(DNS_SUBDOMAIN, 'a DNS-1123 subdomain');

/** IANA service name, what a port's `name` must be (at most 15 characters, a letter somewhere). */
const portName = z
  .string()
  .max(15)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'lower-case letters, digits and "-"')
  .refine((name) => /[a-z]/.test(name) && !name.includes('--'), 'a port name has a letter and no "--"');

/** `prefix/name` as label and annotation keys are. */
const qualifiedName = z.string().refine((key) => {
  const parts = key.split('/');
  if (parts.length > 2) return false;
  const name = parts.at(-1)!;
  const prefix = parts.length === 2 ? parts[0]! : null;
  return name.length <= 63 && QUALIFIED_NAME_PART.test(name) && (prefix === null || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
}, 'a qualified name: [prefix/]name, name at most 63 characters of letters, digits, "-", "_", "."');
const labelValue = z.string().max(63).refine((v) => v === '' || QUALIFIED_NAME_PART.test(v), 'a label value: letters, digits, "-", "_", "."');
const labels = z.record(qualifiedName, labelValue);
const annotations = z.record(qualifiedName, z.string());

const port = z.number().int().min(1).max(65535);
const intOrName = z.union([port, portName]);
const intOrPercent = z.union([z.number().int().min(0), z.string().regex(/^\d+%$/)]);
const seconds = z.number().int().min(0);
const quantity = z.string().regex(QUANTITY, 'a quantity such as 100m, 256Mi or 1');

const objectMeta = z.strictObject({ name: dnsSubdomain, namespace: dnsLabel.optional(), labels: labels.optional(), annotations: annotations.optional() });
const labelSelector = z.strictObject({ matchLabels: labels });

const configMapKey = z
  .string()
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, 'letters, digits, "-", "_", "."')
  .refine((key) => !key.startsWith('..'), 'keys starting with ".." are the kubelet\'s own');

const configMap = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ConfigMap'),
  metadata: objectMeta,
  // Each value a string: an unquoted number or boolean would be refused by the API server.
  data: z.record(configMapKey, z.string()).nullable().optional(),
  immutable: z.boolean().optional(),
});

const service = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata: objectMeta.extend({ name: z.string().max(63).regex(DNS_1035_LABEL, 'a Service name is a DNS-1035 label') }),
  spec: z.strictObject({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']),
    selector: labels,
    ports: z
      .array(
        z.strictObject({
          name: portName,
          port,
          targetPort: intOrName,
          protocol: z.enum(['TCP', 'UDP', 'SCTP']),
          nodePort: port.optional(),
          appProtocol: z.string().optional(),
        }),
      )
      .min(1),
  }),
});

const httpGetProbe = z.strictObject({
  httpGet: z.strictObject({ path: z.string().startsWith('/'), port: intOrName, scheme: z.enum(['HTTP', 'HTTPS']).optional() }),
  initialDelaySeconds: seconds.optional(),
  periodSeconds: z.number().int().min(1).optional(),
  timeoutSeconds: z.number().int().min(1).optional(),
  successThreshold: z.number().int().min(1).optional(),
  failureThreshold: z.number().int().min(1).optional(),
});

const envVar = z
  .strictObject({
    name: z.string().regex(C_IDENTIFIER, 'an environment variable name'),
    value: z.string().optional(),
    valueFrom: z
      .strictObject({ secretKeyRef: z.strictObject({ name: dnsSubdomain, key: configMapKey, optional: z.boolean().optional() }) })
      .optional(),
  })
  .refine((e) => (e.value === undefined) !== (e.valueFrom === undefined), 'an env entry has exactly one of value and valueFrom');

const resourceAmounts = z.partialRecord(z.enum(['cpu', 'memory', 'ephemeral-storage']), quantity);

const container = z.strictObject({
  name: dnsLabel,
  image: z.string().min(1).refine((image) => !/\s/.test(image), 'an image reference has no spaces'),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  ports: z.array(z.strictObject({ name: portName, containerPort: port, protocol: z.enum(['TCP', 'UDP', 'SCTP']) })).optional(),
  env: z.array(envVar).optional(),
  startupProbe: httpGetProbe.optional(),
  livenessProbe: httpGetProbe.optional(),
  readinessProbe: httpGetProbe.optional(),
  lifecycle: z
    .strictObject({ preStop: z.strictObject({ exec: z.strictObject({ command: z.array(z.string()).min(1) }) }) })
    .optional(),
  resources: z.strictObject({ requests: resourceAmounts.optional(), limits: resourceAmounts.optional() }).nullable().optional(),
  securityContext: z
    .strictObject({
      allowPrivilegeEscalation: z.boolean(),
      readOnlyRootFilesystem: z.boolean(),
      runAsNonRoot: z.boolean().optional(),
      runAsUser: z.number().int().min(0).optional(),
      capabilities: z.strictObject({ drop: z.array(z.string()).optional(), add: z.array(z.string()).optional() }).optional(),
    })
    .optional(),
  volumeMounts: z
    .array(
      z.strictObject({
        name: dnsLabel,
        mountPath: z.string().startsWith('/'),
        readOnly: z.boolean().optional(),
        subPath: z.string().optional(),
      }),
    )
    .optional(),
});

const volume = z
  .strictObject({
    name: dnsLabel,
    configMap: z.strictObject({ name: dnsSubdomain, defaultMode: z.number().int().min(0).max(0o777).optional() }).optional(),
    secret: z.strictObject({ secretName: dnsSubdomain, defaultMode: z.number().int().min(0).max(0o777).optional() }).optional(),
    emptyDir: z.strictObject({ sizeLimit: quantity.optional(), medium: z.enum(['', 'Memory']).optional() }).optional(),
  })
  .refine((v) => [v.configMap, v.secret, v.emptyDir].filter((s) => s !== undefined).length === 1, 'a volume has exactly one source');

const podSpec = z.strictObject({
  automountServiceAccountToken: z.boolean().optional(),
  terminationGracePeriodSeconds: seconds,
  securityContext: z
    .strictObject({
      runAsNonRoot: z.boolean(),
      runAsUser: z.number().int().min(0),
      runAsGroup: z.number().int().min(0),
      fsGroup: z.number().int().min(0).optional(),
      seccompProfile: z.strictObject({ type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']) }),
    })
    .optional(),
  imagePullSecrets: z.array(z.strictObject({ name: dnsSubdomain })).optional(),
  topologySpreadConstraints: z
    .array(
      z.strictObject({
        maxSkew: z.number().int().min(1),
        topologyKey: qualifiedName,
        whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']),
        labelSelector: labelSelector,
      }),
    )
    .optional(),
  containers: z.array(container).min(1),
  volumes: z.array(volume).optional(),
});

const deployment = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('Deployment'),
  metadata: objectMeta,
  spec: z.strictObject({
    replicas: z.number().int().min(0),
    revisionHistoryLimit: z.number().int().min(0).optional(),
    minReadySeconds: seconds.optional(),
    selector: labelSelector,
    strategy: z.strictObject({
      type: z.literal('RollingUpdate'),
      rollingUpdate: z.strictObject({ maxUnavailable: intOrPercent, maxSurge: intOrPercent }),
    }),
    template: z.strictObject({ metadata: z.strictObject({ labels, annotations: annotations.optional() }), spec: podSpec }),
  }),
});

const podDisruptionBudget = z.strictObject({
  apiVersion: z.literal('policy/v1'),
  kind: z.literal('PodDisruptionBudget'),
  metadata: objectMeta,
  spec: z.strictObject({ minAvailable: intOrPercent.optional(), maxUnavailable: intOrPercent.optional(), selector: labelSelector }),
});

const SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  'v1/ConfigMap': configMap,
  'v1/Service': service,
  'apps/v1/Deployment': deployment,
  'policy/v1/PodDisruptionBudget': podDisruptionBudget,
};

export type Deployment = z.output<typeof deployment>;
export type PodSpec = z.output<typeof podSpec>;
export type Container = z.output<typeof container>;
export type Service = z.output<typeof service>;

/** Problems of one object, each `Kind/name: path: message`. */
export function validateObject(manifest: Manifest): string[] {
  const { source: _source, ...object } = manifest;
  const where = `${manifest.kind}/${String(manifest.metadata?.name)}`;
  const schema = SCHEMAS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!schema) return [`${where}: ${manifest.apiVersion} ${manifest.kind} is not a kind this chart is checked for`];
  const result = schema.safeParse(object);
  return result.success ? [] : result.error.issues.map((issue) => `${where}: ${issue.path.join('.') || '(object)'}: ${issue.message}`);
}

const matches = (selector: Record<string, string>, labelSet: Record<string, string> | undefined) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labelSet?.[k] === v);

function duplicates(values: readonly string[]): string[] {
  return [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];
}

/** What the API server and kubelet check across fields and objects. Call after validateObject passed. */
export function checkReferences(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const ids = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
  for (const id of duplicates(ids)) problems.push(`${id}: rendered twice`);
  const deployments = manifests.filter((m) => m.kind === 'Deployment') as unknown as (Manifest & Deployment)[];
  for (const d of deployments) {
    const where = `Deployment/${d.metadata.name}`;
    const pod = d.spec.template;
    if (!matches(d.spec.selector.matchLabels, pod.metadata.labels)) problems.push(`${where}: selector does not match the pod template's labels`);
    const volumes = (pod.spec.volumes ?? []).map((v) => v.name);
    for (const name of duplicates(volumes)) problems.push(`${where}: volume ${name} declared twice`);
    for (const c of pod.spec.containers) {
      const portNames = (c.ports ?? []).map((p) => p.name);
      for (const name of duplicates(portNames)) problems.push(`${where}: container ${c.name}: port ${name} declared twice`);
      for (const name of duplicates((c.env ?? []).map((e) => e.name))) problems.push(`${where}: container ${c.name}: env ${name} set twice`);
      for (const name of duplicates((c.volumeMounts ?? []).map((m) => m.mountPath))) problems.push(`${where}: container ${c.name}: two mounts at ${name}`);
      for (const [probeName, probe] of [['startupProbe', c.startupProbe], ['livenessProbe', c.livenessProbe], ['readinessProbe', c.readinessProbe]] as const) {
        const target = probe?.httpGet.port;
        if (typeof target === 'string' && !portNames.includes(target)) problems.push(`${where}: container ${c.name}: ${probeName} names port ${target}, which the container does not declare`);
      }
      for (const mount of c.volumeMounts ?? []) {
        if (!volumes.includes(mount.name)) problems.push(`${where}: container ${c.name}: mount ${mount.mountPath} names volume ${mount.name}, which the pod does not declare`);
      }
    }
    for (const v of pod.spec.volumes ?? []) {
      const used = pod.spec.containers.some((c) => (c.volumeMounts ?? []).some((m) => m.name === v.name));
      if (!used) problems.push(`${where}: volume ${v.name} is mounted by no container`);
    }
    for (const constraint of pod.spec.topologySpreadConstraints ?? []) {
      if (!matches(constraint.labelSelector.matchLabels, pod.metadata.labels)) problems.push(`${where}: a topology spread constraint selects other pods than its own`);
    }
  }
  const podLabels = deployments.map((d) => d.spec.template.metadata.labels);
  for (const m of manifests) {
    const where = `${m.kind}/${m.metadata.name}`;
    if (m.kind === 'Service') {
      const svc = m as unknown as Manifest & Service;
      const pods = deployments.filter((d) => matches(svc.spec.selector, d.spec.template.metadata.labels));
      if (pods.length === 0) problems.push(`${where}: selector matches no pod template`);
      if (svc.spec.ports.length > 1) for (const name of duplicates(svc.spec.ports.map((p) => p.name))) problems.push(`${where}: port ${name} declared twice`);
      for (const p of svc.spec.ports) {
        const target = p.targetPort;
        if (typeof target !== 'string') continue;
        for (const d of pods) {
          const declared = d.spec.template.spec.containers.some((c) => (c.ports ?? []).some((cp) => cp.name === target));
          if (!declared) problems.push(`${where}: port ${p.name} targets ${target}, which Deployment/${d.metadata.name} does not declare`);
        }
      }
    }
    if (m.kind === 'PodDisruptionBudget') {
      const selector = (m.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      if (!podLabels.some((l) => matches(selector, l))) problems.push(`${where}: selector matches no pod template`);
    }
  }
  return problems;
}
