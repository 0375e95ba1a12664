// Validates rendered kustomize overlays offline: every object against the Kubernetes (and
// prometheus-operator) schemas of the kubernetes-models packages at run time, every object
// literal against their TypeScript types (which reject unknown fields, e.g. a misspelt
// readinessProbe), and the wiring between objects that no schema sees.
// Usage: node validate_k8s.cjs MODULES_DIR OVERLAY=RENDERED.yaml...
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const { createRequire } = require("module");

const [modulesDir, ...overlayArgs] = process.argv.slice(2);
if (!modulesDir || overlayArgs.length === 0) {
  console.error("usage: node validate_k8s.cjs MODULES_DIR OVERLAY=RENDERED.yaml...");
  process.exit(2);
}
const req = createRequire(path.join(modulesDir, "package.json"));
const YAML = req("yaml");

const errors = [];
const fail = (where, message) => errors.push(`${where}: ${message}`);

// The module of each apiVersion's models; core and built-in groups come from kubernetes-models.
function modelModule(apiVersion) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
  }
  return `kubernetes-models/${apiVersion}`;
}

function loadModel(apiVersion, kind) {
  try {
    return req(modelModule(apiVersion))[kind];
  } catch (e) {
    return undefined;
  }
}

// --- wiring checks -------------------------------------------------------------------------
const FLAGS = new Set(["--role", "--listen", "--metrics-listen", "--model", "--router", "--config"]);
const ROLES = ["router", "prefill", "decode"];

function matches(selector, labels) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function portOf(hostPort) {
  return Number(String(hostPort).split(":").pop());
}

function checkWiring(overlay, objects) {
  const where = (o) => `${overlay} ${o.kind}/${o.metadata && o.metadata.name}`;
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const deployments = byKind("Deployment");
  const configMaps = byKind("ConfigMap");

  for (const o of objects) {
    if (o.kind !== "Namespace" && (!o.metadata || o.metadata.namespace !== "dllm")) {
      fail(where(o), "not in namespace dllm");
    }
  }
  for (const role of ROLES) {
    const d = deployments.find((x) => x.metadata.name === `dllm-${role}`);
    if (!d) {
      fail(overlay, `no Deployment dllm-${role}`);
      continue;
    }
    const podLabels = d.spec.template.metadata.labels || {};
    if (!matches(d.spec.selector, podLabels)) fail(where(d), "selector does not match its pods");
    if (podLabels["app.kubernetes.io/component"] !== role) fail(where(d), "component label");
    const c = (d.spec.template.spec.containers || []).find((x) => x.name === "dllm");
    if (!c || d.spec.template.spec.containers.length !== 1) {
      fail(where(d), "expects exactly one container named dllm");
      continue;
    }
    const args = c.args || [];
    if (args[0] !== "serve" || args[1] !== "--role" || args[2] !== role) {
      fail(where(d), `args must start with: serve --role ${role}`);
    }
    const flags = {};
    for (let i = 1; i < args.length; i += 2) {
      if (!FLAGS.has(args[i])) fail(where(d), `unknown flag ${args[i]}`);
      else if (args[i + 1] === undefined || args[i + 1].startsWith("--")) fail(where(d), `${args[i]} has no value`);
      else flags[args[i]] = args[i + 1];
    }
    const ports = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
    if (portOf(flags["--listen"]) !== ports.grpc) fail(where(d), "--listen port is not the grpc port");
    if (portOf(flags["--metrics-listen"]) !== ports.metrics) {
      fail(where(d), "--metrics-listen port is not the metrics port");
    }
    if (role !== "router" && !flags["--router"]) fail(where(d), "a node needs --router");
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const p = c[probe];
      if (!p || !p.grpc || p.grpc.port !== ports.grpc) fail(where(d), `${probe} must be gRPC health on the grpc port`);
    }
    const volumes = d.spec.template.spec.volumes || [];
    for (const m of c.volumeMounts || []) {
      if (!volumes.some((v) => v.name === m.name)) fail(where(d), `mount ${m.name} has no volume`);
    }
    for (const v of volumes) {
      if (v.configMap && !configMaps.some((cm) => cm.metadata.name === v.configMap.name)) {
        fail(where(d), `ConfigMap ${v.configMap.name} is not rendered`);
      }
      if (v.persistentVolumeClaim &&
          !byKind("PersistentVolumeClaim").some((p) => p.metadata.name === v.persistentVolumeClaim.claimName)) {
        fail(where(d), `PVC ${v.persistentVolumeClaim.claimName} is not rendered`);
      }
    }
    const configPath = flags["--config"];
    if (configPath) {
      const mount = (c.volumeMounts || []).find((m) => configPath.startsWith(m.mountPath + "/"));
      const volume = mount && volumes.find((v) => v.name === mount.name);
      const cm = volume && volume.configMap && configMaps.find((x) => x.metadata.name === volume.configMap.name);
      const file = cm && cm.data && cm.data[path.basename(configPath)];
      if (!file) fail(where(d), `--config ${configPath} is not a mounted ConfigMap file`);
      else {
        try {
          const config = JSON.parse(file);
          if (!config.model) fail(where(d), `${configPath} names no model`);
        } catch (e) {
          fail(where(d), `${configPath} is not JSON: ${e.message}`);
        }
      }
    }
    const res = c.resources || {};
    const gpus = (res.limits || {})["nvidia.com/gpu"];
    const wantGpu = overlay === "gpu" && role !== "router";
    if (wantGpu && (gpus !== "1" || (res.requests || {})["nvidia.com/gpu"] !== "1")) {
      fail(where(d), "requests and limits nvidia.com/gpu: 1 in the gpu overlay");
    }
    if (!wantGpu && JSON.stringify(res).includes("nvidia.com/gpu")) fail(where(d), "must not request GPUs");
    const tag = overlay === "gpu" ? ":cuda" : ":cpu";
    if (!String(c.image).endsWith(tag)) fail(where(d), `image ${c.image} should end in ${tag}`);
  }

  const podsOf = (selector) =>
    deployments.filter((d) => matches(selector, d.spec.template.metadata.labels || {}));
  const namedPorts = (d) => new Set(d.spec.template.spec.containers.flatMap((c) => (c.ports || []).map((p) => p.name)));
  for (const s of byKind("Service")) {
    const targets = podsOf({ matchLabels: s.spec.selector });
    if (targets.length !== 1) fail(where(s), `selects ${targets.length} Deployments`);
    for (const p of s.spec.ports || []) {
      if (targets[0] && !namedPorts(targets[0]).has(p.targetPort)) fail(where(s), `targetPort ${p.targetPort}`);
    }
  }
  if (!byKind("Service").some((s) => s.metadata.name === "dllm-router")) fail(overlay, "no Service dllm-router");
  for (const pdb of byKind("PodDisruptionBudget")) {
    if (podsOf(pdb.spec.selector).length !== 1) fail(where(pdb), "must select exactly one Deployment");
  }
  if (byKind("PodDisruptionBudget").length !== 3) fail(overlay, "one PodDisruptionBudget per role");
  const hpas = byKind("HorizontalPodAutoscaler");
  if (hpas.length === 0) fail(overlay, "no HorizontalPodAutoscaler");
  for (const h of hpas) {
    if (!deployments.some((d) => d.metadata.name === h.spec.scaleTargetRef.name)) fail(where(h), "scales nothing");
    const m = (h.spec.metrics || []).find((x) => x.type === "Pods");
    if (!m || m.pods.metric.name !== "dllm_requests_waiting") fail(where(h), "must scale on dllm_requests_waiting");
  }
  const sms = byKind("ServiceMonitor");
  const pms = byKind("PodMonitor");
  if (sms.length === 0 || pms.length === 0) fail(overlay, "needs a ServiceMonitor and a PodMonitor");
  for (const sm of sms) {
    const svcs = byKind("Service").filter((s) => matches(sm.spec.selector, s.metadata.labels || {}));
    if (svcs.length === 0) fail(where(sm), "selects no Service");
    for (const e of sm.spec.endpoints || []) {
      for (const s of svcs) if (!(s.spec.ports || []).some((p) => p.name === e.port)) fail(where(sm), `port ${e.port}`);
    }
  }
  const monitored = new Set();
  for (const pm of pms) {
    for (const d of podsOf(pm.spec.selector)) {
      monitored.add(d.metadata.name);
      for (const e of pm.spec.podMetricsEndpoints || []) {
        if (!namedPorts(d).has(e.port)) fail(where(pm), `${d.metadata.name} has no port ${e.port}`);
      }
    }
  }
  for (const role of ["prefill", "decode"]) {
    if (!monitored.has(`dllm-${role}`)) fail(overlay, `no PodMonitor scrapes dllm-${role}`);
  }
}

// --- schemas ---------------------------------------------------------------------------------
const typed = [];  // TypeScript lines, one object each
const typedWhere = [];
let imports = 0;
for (const arg of overlayArgs) {
  const eq = arg.indexOf("=");
  const overlay = arg.slice(0, eq);
  const file = arg.slice(eq + 1);
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  const objects = [];
  for (const doc of docs) {
    if (doc.errors.length) {
      fail(`${overlay} ${file}`, doc.errors.map((e) => e.message).join("; "));
      continue;
    }
    const o = doc.toJS();
    if (o === null) continue;
    objects.push(o);
    const where = `${overlay} ${o.kind}/${o.metadata && o.metadata.name}`;
    const Model = loadModel(o.apiVersion, o.kind);
    if (!Model) {
      fail(where, `no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      fail(where, e.message);
    }
    const alias = `T${imports++}`;
    typed.push(
      `import type { I${o.kind} as ${alias} } from "${modelModule(o.apiVersion)}/${o.kind}";\n` +
        `export const o${imports}: ${alias} = ${JSON.stringify(o)};`);
    typedWhere.push(where);
  }
  if (objects.length === 0) fail(overlay, "renders no objects");
  checkWiring(overlay, objects);
}

// Unknown fields: TypeScript's excess-property check on each object literal.
const work = fs.mkdtempSync(path.join(modulesDir, ".check-"));
try {
  // Two lines per object: the object is on line 2k+2 (1-based), so errors map back to it.
  fs.writeFileSync(path.join(work, "manifests.ts"), typed.join("\n") + "\n");
  fs.writeFileSync(path.join(work, "tsconfig.json"), JSON.stringify({
    compilerOptions: { noEmit: true, strict: true, skipLibCheck: true, types: [],
                       module: "commonjs", moduleResolution: "node", target: "es2020" },
    files: ["manifests.ts"],
  }));
  try {
    execFileSync(process.execPath, [req.resolve("typescript/bin/tsc"), "-p", work], { encoding: "utf8" });
  } catch (e) {
    const out = String(e.stdout || "") + String(e.stderr || "");
    for (const line of out.split("\n").filter((l) => l.includes("error TS"))) {
      const m = /manifests\.ts\((\d+),/.exec(line);
      const object = m ? typedWhere[Math.floor((Number(m[1]) - 1) / 2)] : "?";
      fail(object || "?", line.replace(/^.*?error /, "error "));
    }
    if (!out.includes("error TS")) fail("tsc", out || e.message);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

if (errors.length) {
  for (const e of errors) console.error("k8s: " + e);
  console.error(`k8s: ${errors.length} problem(s)`);
  process.exit(1);
}
console.log(`k8s: ${overlayArgs.length} overlay(s), ${typed.length} objects valid`);
