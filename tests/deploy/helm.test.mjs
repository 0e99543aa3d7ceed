// deploy/helm: the values files for the official Apache Airflow chart. helm is not a Debian
// package, so the chart is not rendered here; instead the files are parsed, the sidecar container,
// its volumes and the Service ports are validated against the Kubernetes schemas offline
// (kubernetes-models, fields unknown to the schema rejected, as in k8s.test.mjs), and what the
// sidecar relies on is asserted: probes, ports, non-root, resources, secrets read through
// *_file from the Secret mount, NEG annotation, the GCLB health checks, and the airgate config
// itself is checked by `airgate check-config`.
// Run: node tests/deploy/helm.test.mjs
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

const { parse: parseYaml, parseAllDocuments } = await import('yaml');
const { Container } = await import('kubernetes-models/v1/Container');
const { Volume } = await import('kubernetes-models/v1/Volume');
const { ServicePort } = await import('kubernetes-models/v1/ServicePort');
const { BackendConfig } = await import('@kubernetes-models/gke/cloud.google.com/v1/BackendConfig');
const { HealthCheckPolicy } = await import('@kubernetes-models/gke/networking.gke.io/v1/HealthCheckPolicy');

// The schema validators read every field they know: record the reads; a field never read is one
// the schema does not have (a typo such as `livenessProbes`).
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

function validate(Model, obj, what) {
  const seen = [];
  Model.prototype.validate.call(track(obj, '', seen)); // throws with the schema errors
  const unknown = [];
  for (const r of seen) {
    for (const k of r.keys) {
      if (!r.used.has(k) && !unknown.some((u) => r.path.startsWith(u))) unknown.push(`${r.path}.${k}`);
    }
  }
  assert.deepEqual(unknown, [], `${what}: fields unknown to the schema`);
}

function checkConfig(text, label) {
  if (!airgate) return;
  const dir = mkdtempSync(join(tmpdir(), 'ag-helm-'));
  try {
    writeFileSync(join(dir, 'airgate.yaml'), text);
    writeFileSync(join(dir, 'client-secret'), 'client-secret-for-the-test');
    writeFileSync(join(dir, 'cookie-secret'), 'cookie-secret-for-the-test-0123456789abcdef');
    const r = spawnSync(airgate, ['check-config', '-c', join(dir, 'airgate.yaml')], {
      encoding: 'utf8',
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRGATE_'))),
        AIRGATE_OIDC_CLIENT_SECRET_FILE: join(dir, 'client-secret'),
        AIRGATE_SESSION_COOKIE_SECRET_FILE: join(dir, 'cookie-secret'),
      },
    });
    assert.equal(r.status, 0, `${label}: airgate check-config failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The chart component keys each file may set (values.schema.json of apache-airflow/airflow):
// anything else under the component would be silently ignored by helm.
const CHART_KEYS = new Set(['extraContainers', 'extraVolumes', 'extraVolumeMounts', 'service']);
const SERVICE_KEYS = new Set(['ports', 'annotations', 'type']);

function checkValues(file, component, servicePortName, healthPath) {
  const values = parseYaml(readFileSync(join(src, 'deploy/helm', file), 'utf8'));
  assert.deepEqual(Object.keys(values).sort(), [component, 'extraConfigMaps'].sort(), `${file}: top-level keys`);
  const comp = values[component];
  for (const k of Object.keys(comp)) assert.ok(CHART_KEYS.has(k), `${file}: ${component}.${k} is not a chart key`);
  for (const k of Object.keys(comp.service)) assert.ok(SERVICE_KEYS.has(k), `${file}: ${component}.service.${k}`);

  assert.equal(comp.extraContainers.length, 1);
  const c = comp.extraContainers[0];
  validate(Container, c, `${file} container`);
  for (const v of comp.extraVolumes) validate(Volume, v, `${file} volume ${v.name}`);
  for (const p of comp.service.ports) validate(ServicePort, p, `${file} service port`);

  assert.equal(c.name, 'airgate');
  assert.ok(c.image, 'no image');
  assert.deepEqual(c.args, ['serve', '-c', '/etc/airgate/airgate.yaml']);
  const serving = c.ports.find((p) => p.name === 'airgate');
  assert.equal(serving?.containerPort, 4180);
  const mgmt = c.ports.find((p) => p.name === 'management');
  assert.equal(mgmt?.containerPort, 9090);
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  for (const p of [c.readinessProbe, c.livenessProbe]) assert.ok(['airgate', 4180].includes(p.httpGet.port));
  for (const k of ['requests', 'limits'])
    for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[k]?.[r], `resources.${k}.${r} missing`);
  const sc = c.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  assert.ok(sc.runAsUser > 0);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.equal(sc.capabilities.add, undefined);
  assert.notEqual(sc.privileged, true);
  assert.equal(sc.seccompProfile?.type, 'RuntimeDefault');

  // every mount has its volume; config and Secret read-only
  const vols = new Map(comp.extraVolumes.map((v) => [v.name, v]));
  for (const m of c.volumeMounts) assert.ok(vols.has(m.name), `mount ${m.name} has no volume in extraVolumes`);
  const cfgMount = c.volumeMounts.find((m) => m.mountPath === '/etc/airgate');
  assert.ok(cfgMount?.readOnly);
  const cfgVol = vols.get(cfgMount.name);
  const cmName = cfgVol.configMap?.name;
  assert.ok(cmName, 'the config volume is not a ConfigMap');
  const cm = values.extraConfigMaps[cmName];
  assert.ok(cm, `extraConfigMaps has no ${cmName}`);
  const text = parseYaml(cm.data)['airgate.yaml'];
  assert.ok(text, 'the ConfigMap has no airgate.yaml');
  assert.ok(!text.includes('{{'), 'the chart passes extraConfigMaps through tpl: no {{ in the config');
  const config = parseYaml(text);
  // the named management port is only scrapeable when the listener is not on loopback
  assert.equal(config.management?.listen, `0.0.0.0:${mgmt.containerPort}`,
    'management.listen must be 0.0.0.0 on the container port named management');

  const secretVol = comp.extraVolumes.find((v) => v.secret);
  const secretMount = c.volumeMounts.find((m) => m.name === secretVol.name);
  assert.equal(secretMount.readOnly, true);
  assert.equal(secretVol.secret.defaultMode & 0o007, 0, 'Secret files readable by others');
  const files = new Set(secretVol.secret.items.map((i) => `${secretMount.mountPath}/${i.path}`));
  assert.ok(files.has(config.oidc.client_secret_file), 'client secret not read from the Secret mount');
  assert.ok(files.has(config.session.cookie_secret_file), 'cookie secret not read from the Secret mount');
  assert.ok(!('client_secret' in config.oidc) && !('cookie_secret' in config.session), 'inline secret');

  // airgate in front of the Airflow container of the same pod, which the chart serves on 8080
  assert.deepEqual(config.upstreams.servers, ['http://127.0.0.1:8080']);
  assert.equal(config.upstreams.health_path, healthPath);
  assert.equal(new URL(`http://${config.listen}`).port, String(serving.containerPort));
  assert.equal(config.log.format, 'gcp');
  assert.match(config.log.gcp_project_id, /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
  assert.deepEqual([...config.trusted_proxies].sort(), ['130.211.0.0/22', '35.191.0.0/16']);
  assert.equal(config.roles.unmapped, 'deny');

  // the Service: the chart's port name and number, sent to airgate; NEG on that port
  assert.equal(comp.service.ports.length, 1);
  const sp = comp.service.ports[0];
  assert.equal(sp.name, servicePortName);
  assert.equal(sp.port, 8080);
  assert.ok(['airgate', 4180].includes(sp.targetPort), `Service targetPort ${sp.targetPort} is not airgate`);
  const neg = JSON.parse(comp.service.annotations['cloud.google.com/neg']);
  assert.ok(neg.exposed_ports?.[String(sp.port)], 'NEG does not expose the Service port');
  assert.equal(JSON.parse(comp.service.annotations['cloud.google.com/backend-config']).default, 'airgate');
  checkConfig(text, file);
  return { c, config };
}

test('Airflow 2: airgate as a webserver sidecar', () => {
  checkValues('airgate-webserver.yaml', 'webserver', 'airflow-ui', '/health');
});

test('Airflow 3: airgate as an api-server sidecar', () => {
  checkValues('airgate-api-server.yaml', 'apiServer', 'api-server', '/api/v2/monitor/health');
});

test('the two files differ only where Airflow 2 and 3 differ', () => {
  const a = parseYaml(readFileSync(join(src, 'deploy/helm/airgate-webserver.yaml'), 'utf8'));
  const b = parseYaml(readFileSync(join(src, 'deploy/helm/airgate-api-server.yaml'), 'utf8'));
  assert.deepEqual(a.webserver.extraContainers, b.apiServer.extraContainers);
  assert.deepEqual(a.webserver.extraVolumes, b.apiServer.extraVolumes);
  assert.deepEqual(a.webserver.service.annotations, b.apiServer.service.annotations);
});

test('GCLB: BackendConfig and HealthCheckPolicy check /readyz on the sidecar port', () => {
  const docs = parseAllDocuments(readFileSync(join(src, 'deploy/helm/gclb.yaml'), 'utf8')).map((d) => d.toJS());
  const bc = docs.find((d) => d.kind === 'BackendConfig');
  const hc = docs.find((d) => d.kind === 'HealthCheckPolicy');
  assert.equal(docs.length, 2);
  validate(BackendConfig, bc, 'BackendConfig');
  validate(HealthCheckPolicy, hc, 'HealthCheckPolicy');
  assert.equal(bc.metadata.name, 'airgate', 'the name the Service annotation points at');
  assert.equal(bc.spec.healthCheck.requestPath, '/readyz');
  assert.equal(bc.spec.healthCheck.port, 4180);
  assert.equal(hc.spec.default.config.httpHealthCheck.requestPath, '/readyz');
  assert.equal(hc.spec.default.config.httpHealthCheck.port, 4180);
  assert.equal(hc.spec.targetRef.kind, 'Service');
});

test('the strict field check catches a misspelt field', () => {
  const a = parseYaml(readFileSync(join(src, 'deploy/helm/airgate-webserver.yaml'), 'utf8'));
  const c = structuredClone(a.webserver.extraContainers[0]);
  c.readinessProbes = c.readinessProbe;
  assert.throws(() => validate(Container, c, 'x'), /readinessProbes/);
  const d = structuredClone(a.webserver.extraContainers[0]);
  d.ports[0].containerPort = 'http';
  assert.throws(() => validate(Container, d, 'x'), /containerPort/);
});
