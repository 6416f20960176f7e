// validate.mjs FILE.yaml...: every object that `kubectl kustomize` rendered,
// checked against the Kubernetes API schema of the npm package
// kubernetes-models, in two ways:
//  - its validate(): types, required fields, enums and formats;
//  - the object as a TypeScript literal of the model's interface: the
//    excess-property check refuses a misspelt or unknown field at any
//    depth, which the JSON schema alone lets through.
// Then what chald's deployment needs (the privileges of
// deploy/image/podman-privileges, terminationGracePeriodSeconds against
// drain + grace, egress denied). Prints one line per problem and a summary;
// exits 1 on any problem.
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import ts from "typescript";

const here = path.dirname(new URL(import.meta.url).pathname);
const problems = [];
const objects = [];

function problem(obj, msg) {
  const id = obj ? `${obj.kind}/${obj.metadata?.name}` : "-";
  problems.push(`${obj?.__file ?? "-"}: ${id}: ${msg}`);
}

for (const file of process.argv.slice(2)) {
  for (const obj of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (obj == null) continue;
    Object.defineProperty(obj, "__file", { value: path.basename(file) });
    objects.push(obj);
  }
}
if (objects.length === 0) {
  console.error("validate.mjs: no objects");
  process.exit(1);
}

// 1. The models' own validation.
const models = [];
for (const obj of objects) {
  const gv = obj.apiVersion, kind = obj.kind;
  let mod;
  try {
    mod = await import(`kubernetes-models/${gv}`);
  } catch {
    problem(obj, `unknown apiVersion ${gv}`);
    models.push(null);
    continue;
  }
  if (typeof mod[kind] !== "function") {
    problem(obj, `unknown kind ${kind} in ${gv}`);
    models.push(null);
    continue;
  }
  models.push({ gv, kind });
  try {
    new mod[kind](obj).validate();
  } catch (e) {
    problem(obj, `schema: ${e.message.split("\n").slice(0, 6).join("; ")}`);
  }
}

// 2. TypeScript: one object per line, so that a diagnostic's line names it.
const lines = objects.map((obj, i) => models[i] == null ? "" :
  `export const o${i}: import("kubernetes-models/${models[i].gv}/` +
  `${models[i].kind}").I${models[i].kind} = ${JSON.stringify(obj)};`);
const tsfile = path.join(process.cwd(), "rendered.ts");
fs.writeFileSync(tsfile, lines.join("\n") + "\n");
const program = ts.createProgram([tsfile], {
  noEmit: true, strict: true, skipLibCheck: true, types: [],
  target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.ES2020,
  moduleResolution: ts.ModuleResolutionKind.Node10,
});
for (const d of ts.getPreEmitDiagnostics(program)) {
  const msg = ts.flattenDiagnosticMessageText(d.messageText, "; ");
  if (d.file == null) {
    problem(null, `typescript: ${msg}`);
    continue;
  }
  const { line } = d.file.getLineAndCharacterOfPosition(d.start);
  problem(objects[line], `field: ${msg}`);
}

// 3. What the chald image needs of its pod.
const privs = fs.readFileSync(process.env.PRIVILEGES ??
  path.join(here, "..", "..", "image", "podman-privileges"), "utf8")
  .split("\n")
  .filter((l) => l.startsWith("--cap-add="))
  .flatMap((l) => l.slice("--cap-add=".length).split(","));

function seconds(d) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|min|h)?$/.exec(d ?? "");
  if (!m) return NaN;
  const mult = { ms: 0.001, s: 1, m: 60, min: 60, h: 3600 }[m[2] ?? "s"];
  return Number(m[1]) * mult;
}

function arg(args, name, dflt) {
  const a = (args ?? []).find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
}

for (const obj of objects) {
  if (obj.kind === "Deployment") {
    const pod = obj.spec?.template?.spec ?? {};
    for (const c of pod.containers ?? []) {
      const sc = c.securityContext ?? {};
      const add = sc.capabilities?.add ?? [];
      if (sc.privileged) problem(obj, `${c.name}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL"))
        problem(obj, `${c.name}: capabilities.drop lacks ALL`);
      if (add.length !== privs.length || privs.some((p) => !add.includes(p)))
        problem(obj, `${c.name}: capabilities.add ${add} is not ` +
          `${privs} (deploy/image/podman-privileges)`);
      if (sc.readOnlyRootFilesystem !== true)
        problem(obj, `${c.name}: readOnlyRootFilesystem is not true`);
      const drain = seconds(arg(c.args, "drain", "0"));
      const grace = seconds(arg(c.args, "grace", "5s"));
      const tgps = pod.terminationGracePeriodSeconds ?? 30;
      if (!(tgps >= drain + grace + 5))
        problem(obj, `terminationGracePeriodSeconds ${tgps} < drain ` +
          `${drain} + grace ${grace} + 5`);
      for (const p of ["readinessProbe", "livenessProbe"])
        if (c[p]?.httpGet?.path !== "/healthz")
          problem(obj, `${c.name}: ${p} is not GET /healthz`);
    }
    if (pod.enableServiceLinks !== false)
      problem(obj, "enableServiceLinks is not false (JAIL_* clashes)");
  }
  if (obj.kind === "NetworkPolicy") {
    if (!(obj.spec?.policyTypes ?? []).includes("Egress") ||
        (obj.spec?.egress ?? []).length !== 0)
      problem(obj, "egress is not denied");
  }
  if (obj.kind === "Service" && obj.spec?.type === "LoadBalancer" &&
      obj.spec?.externalTrafficPolicy !== "Local" &&
      !Object.keys(obj.metadata?.annotations ?? {}).some((a) =>
        /proxy-?protocol/i.test(a + obj.metadata.annotations[a])))
    problem(obj, "client addresses are lost: neither " +
      "externalTrafficPolicy: Local nor a PROXY protocol annotation");
}

for (const p of problems) console.log(`FAIL: ${p}`);
const kinds = {};
for (const o of objects) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
console.log(`validate: ${objects.length} objects (` +
  Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ") +
  `), ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
