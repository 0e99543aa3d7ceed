// deploy/k8s: renders the Kustomize base and the gke overlay with `kubectl kustomize`, validates
// every object against the Kubernetes (and GKE) schemas offline with kubernetes-models, rejects
// fields the schemas do not know, and asserts what the deployment relies on: probes, security
// context, secrets mounted and read through *_file, NEG annotation, BackendConfig health check.
// Run: node tests/deploy/k8s.test.mjs (exit 77 when kubectl is not installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = process.env.AG_SOURCE_DIR || resolve(here, '../..');
const airgate = process.env.AG_AIRGATE || '';

// KUBECTL picks another build, e.g. Debian 12's kubectl 1.20 (kustomize 2.0.3) extracted with
// `apt-get download kubernetes-client && dpkg -x kubernetes-client_*.deb kc`.
const kubectl = process.env.KUBECTL || 'kubectl';
const probe = spawnSync(kubectl, ['version', '--client'], { encoding: 'utf8' });
if (probe.error) {
  console.log('SKIP: kubectl is not installed (Debian package: kubernetes-client)');
  process.exit(77);
}

const { parseAllDocuments, parse: parseYaml } = await import('yaml');
const models = {
  'v1/ServiceAccount': (await import('kubernetes-models/v1/ServiceAccount')).ServiceAccount,
  'v1/ConfigMap': (await import('kubernetes-models/v1/ConfigMap')).ConfigMap,
  'v1/Service': (await import('kubernetes-models/v1/Service')).Service,
  'apps/v1/Deployment': (await import('kubernetes-models/apps/v1/Deployment')).Deployment,
  'policy/v1/PodDisruptionBudget': (await import('kubernetes-models/policy/v1/PodDisruptionBudget'))
    .PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': (
    await import('kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler')
  ).HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': (await import('kubernetes-models/networking.k8s.io/v1/NetworkPolicy'))
    .NetworkPolicy,
  'cloud.google.com/v1/BackendConfig': (
    await import('@kubernetes-models/gke/cloud.google.com/v1/BackendConfig')
  ).BackendConfig,
};

function render(dir) {
  const r = spawnSync(kubectl, ['kustomize', join(src, dir)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kubectl kustomize ${dir} failed:\n${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) assert.equal(d.errors.length, 0, `YAML error in the rendering: ${d.errors}`);
  return docs.map((d) => d.toJS()).filter(Boolean);
}

// The schema validators read every field they know: wrap the object in proxies that record the
// reads; a field never read is one the schema does not have (a typo such as `livenessProbes`).
function track(obj, path, seen) {
  if (obj === null || typeof obj !== 'object') return obj;
  const wrapped = Array.isArray(obj)
    ? obj.map((v, i) => track(v, `${path}[${i}]`, seen))
    : Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, track(v, `${path}.${k}`, seen)]));
  const rec = { path, keys: Array.isArray(obj) ? [] : Object.keys(obj), used: new Set() };
  seen.push(rec);
  return new Proxy(wrapped, {
    get(t, k, r) {
      if (typeof k === 'string') rec.used.add(k);
      return Reflect.get(t, k, r);
    },
  });
}

function validate(obj) {
  const id = `${obj.apiVersion}/${obj.kind}`;
  const Model = models[id];
  assert.ok(Model, `no schema known for ${id} (${obj.metadata?.name})`);
  const seen = [];
  const proxied = track(obj, '', seen);
  Model.prototype.validate.call(proxied); // throws with the schema errors
  const unknown = [];
  for (const r of seen) {
    for (const k of r.keys) {
      if (!r.used.has(k) && !unknown.some((u) => r.path.startsWith(u))) unknown.push(`${r.path}.${k}`);
    }
  }
  assert.deepEqual(unknown, [], `${id} ${obj.metadata?.name}: fields unknown to the schema`);
}

function one(objs, kind, name) {
  const found = objs.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
  assert.equal(found.length, 1, `expected one ${kind}${name ? ' ' + name : ''}, found ${found.length}`);
  return found[0];
}

const matches = (selector, labels) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function airgateConfig(objs, dep) {
  const vol = dep.spec.template.spec.volumes.find((v) => v.configMap);
  assert.ok(vol, 'no ConfigMap volume in the Deployment');
  const cm = one(objs, 'ConfigMap', vol.configMap.name);
  assert.ok(cm.data['airgate.yaml'], 'ConfigMap has no airgate.yaml');
  return { text: cm.data['airgate.yaml'], config: parseYaml(cm.data['airgate.yaml']) };
}

function checkCommon(objs, label) {
  for (const o of objs) validate(o);
  const dep = one(objs, 'Deployment', 'airgate');
  const pod = dep.spec.template.spec;
  const podLabels = dep.spec.template.metadata.labels;
  assert.ok(matches(dep.spec.selector.matchLabels, podLabels), 'selector does not match the pods');
  assert.ok(dep.spec.replicas >= 2, `${label}: replicas ${dep.spec.replicas} < 2`);

  // No service-account token, non-root, seccomp.
  assert.equal(pod.automountServiceAccountToken, false);
  const sa = one(objs, 'ServiceAccount', pod.serviceAccountName);
  assert.equal(sa.automountServiceAccountToken, false);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0, 'runAsUser must not be root');
  assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault');

  const c = pod.containers.find((x) => x.name === 'airgate');
  assert.ok(c, 'no airgate container');
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.equal(c.securityContext.capabilities.add, undefined, 'capabilities added');
  assert.notEqual(c.securityContext.privileged, true);

  // Probes on airgate's own health endpoints, on its serving port.
  const port = c.ports.find((p) => p.name === 'http');
  assert.equal(port.containerPort, 4180);
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  for (const p of [c.livenessProbe, c.readinessProbe]) assert.ok([4180, 'http'].includes(p.httpGet.port));
  for (const k of ['requests', 'limits'])
    for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[k]?.[r], `resources.${k}.${r} missing`);
  assert.ok(pod.terminationGracePeriodSeconds > 25, 'grace period shorter than the drain timeout');

  // Secrets: a Secret volume mounted read-only, and the config reads both secrets from it.
  const { text, config } = airgateConfig(objs, dep);
  const secretVol = pod.volumes.find((v) => v.secret);
  assert.ok(secretVol, 'no Secret volume');
  const mount = c.volumeMounts.find((m) => m.name === secretVol.name);
  assert.ok(mount && mount.readOnly === true, 'Secret not mounted read-only');
  const files = new Set(secretVol.secret.items.map((i) => `${mount.mountPath}/${i.path}`));
  assert.ok(files.has(config.oidc.client_secret_file), 'client secret not read from the Secret mount');
  assert.ok(files.has(config.session.cookie_secret_file), 'cookie secret not read from the Secret mount');
  assert.ok(!('client_secret' in config.oidc) && !('cookie_secret' in config.session), 'inline secret');
  assert.ok((secretVol.secret.defaultMode & 0o007) === 0, 'Secret files readable by others');
  const cfgMount = c.volumeMounts.find((m) => m.mountPath === '/etc/airgate');
  assert.ok(cfgMount?.readOnly, 'config not mounted read-only at /etc/airgate');
  assert.deepEqual(c.args, ['serve', '-c', '/etc/airgate/airgate.yaml']);

  // The management listener (/metrics, /statusz) on the pod IP, on the named port "management",
  // scraped there (annotations); never behind the Service the load balancer uses.
  const mport = c.ports.find((p) => p.name === 'management');
  assert.ok(mport, 'no container port named management');
  assert.equal(config.management?.listen, `0.0.0.0:${mport.containerPort}`);
  assert.notEqual(mport.containerPort, port.containerPort);
  const ann = dep.spec.template.metadata.annotations ?? {};
  assert.equal(ann['prometheus.io/scrape'], 'true');
  assert.equal(ann['prometheus.io/port'], String(mport.containerPort));
  assert.equal(ann['prometheus.io/path'], '/metrics');

  // Upstream: the headless Service over the Airflow webserver pods, by its cluster DNS name.
  const ns = dep.metadata.namespace;
  const headless = objs.find((o) => o.kind === 'Service' && o.spec.clusterIP === 'None');
  assert.ok(headless, 'no headless Service for the webservers');
  const up = new URL(config.upstreams.servers[0]);
  assert.equal(up.hostname, `${headless.metadata.name}.${headless.metadata.namespace ?? ns}.svc.cluster.local`);
  assert.equal(Number(up.port), headless.spec.ports[0].port);
  assert.equal(config.upstreams.servers.length, 1);

  // Service in front of airgate, PDB and HPA aimed at the same pods.
  const svc = one(objs, 'Service', 'airgate');
  assert.ok(matches(svc.spec.selector, podLabels), 'Service selects no airgate pod');
  assert.equal(svc.spec.ports[0].targetPort, 'http');
  assert.ok(svc.spec.ports.every((p) => p.targetPort !== 'management' && p.port !== mport.containerPort),
    'the management port must not be in the Service');
  const pdb = one(objs, 'PodDisruptionBudget', 'airgate');
  assert.ok(matches(pdb.spec.selector.matchLabels, podLabels));
  assert.ok(pdb.spec.minAvailable >= 1);
  const hpa = one(objs, 'HorizontalPodAutoscaler', 'airgate');
  assert.equal(hpa.spec.scaleTargetRef.name, 'airgate');
  assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas >= hpa.spec.minReplicas);

  // Only airgate may talk to the webservers (nobody can forge identity headers around it).
  const np = one(objs, 'NetworkPolicy');
  assert.ok(matches(np.spec.podSelector.matchLabels, headless.spec.selector));
  assert.ok(np.spec.ingress.every((r) => r.from.every((f) => matches(f.podSelector.matchLabels, podLabels))));
  return { dep, svc, text, config };
}

function checkConfig(text, label) {
  if (!airgate) return;
  const dir = mkdtempSync(join(tmpdir(), 'ag-k8s-'));
  try {
    writeFileSync(join(dir, 'airgate.yaml'), text);
    writeFileSync(join(dir, 'client-secret'), 'client-secret-for-the-test');
    writeFileSync(join(dir, 'cookie-secret'), 'cookie-secret-for-the-test-0123456789abcdef');
    const r = spawnSync(airgate, ['check-config', '-c', join(dir, 'airgate.yaml')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        AIRGATE_OIDC_CLIENT_SECRET_FILE: join(dir, 'client-secret'),
        AIRGATE_SESSION_COOKIE_SECRET_FILE: join(dir, 'cookie-secret'),
      },
    });
    assert.equal(r.status, 0, `${label}: airgate check-config failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// On GKE the lines go to Cloud Logging: log.format gcp in the config, and no environment variable
// (which would win over the file) setting another format.
function checkGcpLogging(dep, config, label) {
  assert.equal(config.log.format, 'gcp', `${label}: log.format`);
  assert.match(config.log.gcp_project_id ?? '', /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, `${label}: log.gcp_project_id`);
  const c = dep.spec.template.spec.containers.find((x) => x.name === 'airgate');
  const env = (c.env ?? []).find((e) => e.name === 'AIRGATE_LOG_FORMAT');
  assert.ok(!env || env.value === 'gcp', `${label}: AIRGATE_LOG_FORMAT=${env?.value} overrides the config`);
}

test('base renders, validates and is hardened', () => {
  const objs = render('deploy/k8s/base');
  const { text } = checkCommon(objs, 'base');
  checkConfig(text, 'base ConfigMap');
});

test('gke overlay: NEG, BackendConfig on /readyz, GCLB trusted ranges', () => {
  const objs = render('deploy/k8s/overlays/gke');
  const { svc, dep, text, config } = checkCommon(objs, 'gke');
  const neg = JSON.parse(svc.metadata.annotations['cloud.google.com/neg']);
  const port = String(dep.spec.template.spec.containers[0].ports[0].containerPort);
  assert.ok(neg.exposed_ports?.[port], `NEG does not expose port ${port}`);
  assert.ok(svc.spec.ports.some((p) => String(p.port) === port), 'NEG port is not a Service port');
  const bcName = JSON.parse(svc.metadata.annotations['cloud.google.com/backend-config']).default;
  const bc = one(objs, 'BackendConfig', bcName);
  assert.equal(bc.spec.healthCheck.requestPath, '/readyz');
  assert.equal(String(bc.spec.healthCheck.port), port);
  assert.equal(bc.spec.healthCheck.type, 'HTTP');
  assert.deepEqual([...config.trusted_proxies].sort(), ['130.211.0.0/22', '35.191.0.0/16']);
  checkGcpLogging(dep, config, 'gke');
  // The GKE policy: least privilege, each client role its own Airflow role, everyone else denied.
  assert.deepEqual(config.roles.map, {
    airflow_admin: 'Admin', airflow_op: 'Op', airflow_user: 'User', airflow_viewer: 'Viewer',
  });
  assert.ok(!Object.values(config.roles.map).includes('Admin') || config.roles.map.airflow_admin === 'Admin',
    'Admin only through the admin role');
  assert.equal(config.roles.unmapped, 'deny');
  assert.equal(config.session.lifetime_s, 86400);
  checkConfig(text, 'gke ConfigMap');
});

test('airflow3 overlay: the same gateway in front of the chart\'s Airflow 3 api-server pods', () => {
  const objs = render('deploy/k8s/overlays/airflow3');
  const { text, config } = checkCommon(objs, 'airflow3');
  const headless = one(objs, 'Service', 'airflow-webserver-headless');
  assert.deepEqual(headless.spec.selector, { component: 'api-server', release: 'airflow' });
  const np = one(objs, 'NetworkPolicy');
  assert.deepEqual(np.spec.podSelector.matchLabels, { component: 'api-server', release: 'airflow' });
  assert.equal(config.upstreams.health_path, '/api/v2/monitor/health');
  checkGcpLogging(objs.find((o) => o.kind === 'Deployment'), config, 'airflow3');
  assert.ok(one(objs, 'BackendConfig', 'airgate'), 'the GKE parts come along');
  checkConfig(text, 'airflow3 ConfigMap');
});

test('monitoring examples scrape the pods\' management port', () => {
  const dep = one(render('deploy/k8s/base'), 'Deployment', 'airgate');
  const podLabels = dep.spec.template.metadata.labels;
  const pm = parseYaml(readFileSync(join(src, 'deploy/k8s/monitoring/podmonitor.yaml'), 'utf8'));
  assert.equal(`${pm.apiVersion}/${pm.kind}`, 'monitoring.coreos.com/v1/PodMonitor');
  assert.ok(matches(pm.spec.selector.matchLabels, podLabels));
  assert.deepEqual(pm.spec.podMetricsEndpoints.map((e) => [e.port, e.path]), [['management', '/metrics']]);
  const gmp = parseYaml(readFileSync(join(src, 'deploy/k8s/monitoring/podmonitoring-gke.yaml'), 'utf8'));
  assert.equal(`${gmp.apiVersion}/${gmp.kind}`, 'monitoring.googleapis.com/v1/PodMonitoring');
  assert.ok(matches(gmp.spec.selector.matchLabels, podLabels));
  assert.deepEqual(gmp.spec.endpoints.map((e) => [e.port, e.path]), [['management', '/metrics']]);
  for (const m of [pm, gmp]) assert.equal(m.metadata.namespace, dep.metadata.namespace ?? 'airflow');
});

test('the strict field check catches a misspelt field', () => {
  const objs = render('deploy/k8s/base');
  const dep = structuredClone(one(objs, 'Deployment', 'airgate'));
  dep.spec.template.spec.containers[0].livenessProbes = dep.spec.template.spec.containers[0].livenessProbe;
  assert.throws(() => validate(dep), /livenessProbes/);
  const bad = structuredClone(one(objs, 'Deployment', 'airgate'));
  bad.spec.replicas = 'two';
  assert.throws(() => validate(bad), /replicas/);
});

// Debian 12's kubernetes-client is kubectl 1.20 with kustomize 2.0.3 inside: it rejects newer
// kustomization fields and directories under `resources:`. Keep the files within what it reads
// (checked here statically, so the rule holds whichever kubectl renders above).
test('kustomizations stay readable by the kustomize in Debian 12 kubectl 1.20', () => {
  for (const f of ['deploy/k8s/base/kustomization.yaml', 'deploy/k8s/overlays/gke/kustomization.yaml',
    'deploy/k8s/overlays/airflow3/kustomization.yaml']) {
    const k = parseYaml(readFileSync(join(src, f), 'utf8'));
    for (const field of ['labels', 'patches', 'replacements', 'components', 'sortOptions', 'helmCharts'])
      assert.equal(k[field], undefined, `${f}: '${field}' needs kustomize >= 3`);
    for (const r of k.resources ?? []) assert.match(r, /\.ya?ml$/, `${f}: directory ${r} under resources`);
    assert.ok(!('commonLabels' in k), `${f}: commonLabels would rewrite the Airflow pod selectors`);
  }
});
