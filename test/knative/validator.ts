// Knative's own admission checks for podcount's manifests: the Go program beside this file
// (main.go), built once into ~/.cache/podcount/knative-validate/<hash of the pins and recipe>/,
// and the Knative CRD and ConfigMap YAMLs, read from the pinned modules in the Go module cache
// (never copied into this repo).
//
// CLI:  node test/knative/validator.ts            builds (or finds) the validator, prints where it
//                                                 is and where the CRDs and ConfigMaps are
//       node test/knative/validator.ts FILE|-...  validates rendered YAML, e.g.
//                                                 kubectl kustomize knative | node test/knative/validator.ts -
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { buildIntoCache, cacheRoot, findGo, MissingToolchainError } from '../controlplane/go-cache.ts';

const MODULE_DIR = import.meta.dirname;
// A static binary; -mod=readonly so a build never rewrites the pins, GOWORK=off so no go.work
// above the repo changes them either (the same recipe as test/controlplane).
const BUILD_FLAGS = ['-mod=readonly', '-trimpath', '-ldflags=-s -w'];
const GO_ENV = { ...process.env, CGO_ENABLED: '0', GOWORK: 'off' };

export type KnativeModule = 'knative.dev/serving' | 'knative.dev/eventing';

export interface ValidationResult {
  kind: string;
  name: string;
  ok: boolean;
  /** Knative's own message, field paths included (`must not set the field(s): spec.template.spec.securityContext`). */
  errors?: string;
  warnings?: string;
}

async function go(args: string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(findGo('knative validator: Go builds it and fetches the pinned Knative modules'), args, { cwd: MODULE_DIR, env: GO_ENV, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    if (err instanceof MissingToolchainError) throw err;
    const e = err as { stderr?: string; message: string };
    throw new Error(`knative validator: go ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** The cache folder for the current pins, source and recipe. */
export function validatorCacheDir(): string {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(MODULE_DIR, f)));
  hash.update(JSON.stringify([BUILD_FLAGS, GO_ENV.CGO_ENABLED]));
  return join(cacheRoot(), 'knative-validate', hash.digest('hex').slice(0, 16));
}

/** The validator binary: from the cache, or built into it (once per pins). Logs one line saying which. */
export async function ensureKnativeValidator(log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  const dir = validatorCacheDir();
  const binary = join(dir, 'validate');
  if (existsSync(binary)) {
    log(`knative validator: reusing ${binary}`);
    return binary;
  }
  const started = Date.now();
  await buildIntoCache(dir, (d) => existsSync(join(d, 'validate')), async (tmp) => {
    await go(['build', ...BUILD_FLAGS, '-o', join(tmp, 'validate'), '.']);
  });
  log(`knative validator: built in ${Math.round((Date.now() - started) / 1000)} s -> ${binary}`);
  return binary;
}

const moduleDirs = new Map<KnativeModule, Promise<string>>();

/** Where the Go module cache holds a pinned Knative module (downloaded on first use). */
export function moduleDir(module: KnativeModule): Promise<string> {
  let dir = moduleDirs.get(module);
  if (!dir) {
    // `go mod download -json` both fetches the version go.mod pins and says where it landed.
    dir = go(['mod', 'download', '-json', module]).then((out) => {
      const info = JSON.parse(out) as { Dir?: string; Error?: string };
      if (!info.Dir) throw new Error(`knative validator: ${module}: ${info.Error ?? 'no module folder'}`);
      return info.Dir;
    });
    moduleDirs.set(module, dir);
  }
  return dir;
}

/**
 * The CRDs podcount's manifests use, from the pinned modules: Serving's Service and the kinds it
 * owns (Configuration, Revision, Route), Eventing's Broker, Trigger and PingSource. (Serving's
 * networking CRDs are symlinks in its repo, so they are not in its module zip; podcount needs none.)
 */
export async function knativeCrdFiles(): Promise<string[]> {
  const serving = join(await moduleDir('knative.dev/serving'), 'config/core/300-resources');
  const eventing = join(await moduleDir('knative.dev/eventing'), 'config/core/resources');
  return [
    ...['service.yaml', 'configuration.yaml', 'revision.yaml', 'route.yaml'].map((f) => join(serving, f)),
    ...['broker.yaml', 'trigger.yaml', 'pingsource.yaml'].map((f) => join(eventing, f)),
  ];
}

/** The ConfigMaps a stock install ships (feature flags, defaults), which the webhooks decide by. */
export async function knativeConfigDirs(): Promise<{ serving: string; eventing: string }> {
  return {
    serving: join(await moduleDir('knative.dev/serving'), 'config/core/configmaps'),
    eventing: join(await moduleDir('knative.dev/eventing'), 'config/core/configmaps'),
  };
}

/**
 * Runs Knative's admission checks over rendered YAML: one result per Knative object. With
 * eventingFeatures, Eventing's config-features as a stock install ships it but with those flags
 * set (e.g. `authentication-oidc: enabled`), as an operator would edit it.
 */
export async function validateKnative(yaml: string, opts: { eventingFeatures?: Record<string, string> } = {}): Promise<{ ok: boolean; results: ValidationResult[] }> {
  const binary = await ensureKnativeValidator(() => {});
  const config = await knativeConfigDirs();
  if (!opts.eventingFeatures) return runValidator(binary, config, yaml);
  const dir = mkdtempSync(join(tmpdir(), 'podcount-eventing-config-'));
  try {
    // Written afresh: the module cache's files and folders are read-only.
    for (const f of readdirSync(config.eventing).filter((n) => n.endsWith('.yaml'))) writeFileSync(join(dir, f), readFileSync(join(config.eventing, f)));
    const features = join(dir, 'features.yaml');
    const docs = parseAllDocuments(readFileSync(features, 'utf8'));
    const map = docs.find((d) => d.getIn(['metadata', 'name']) === 'config-features');
    if (!map) throw new Error(`knative validator: no config-features in ${config.eventing}/features.yaml`);
    for (const [k, v] of Object.entries(opts.eventingFeatures)) map.setIn(['data', k], v);
    writeFileSync(features, docs.map((d) => d.toString()).join('---\n'));
    return await runValidator(binary, { ...config, eventing: dir }, yaml);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runValidator(binary: string, config: { serving: string; eventing: string }, yaml: string): Promise<{ ok: boolean; results: ValidationResult[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['-serving-config', config.serving, '-eventing-config', config.eventing], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      // 0 all pass, 1 some fail; anything else is bad input or a crash, never a verdict.
      if (code !== 0 && code !== 1) return reject(new Error(`knative validator exited ${code}: ${err.trim()}`));
      const results = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ValidationResult);
      resolve({ ok: code === 0, results });
    });
    child.stdin.end(yaml);
  });
}

if (import.meta.main) {
  try {
    const inputs = process.argv.slice(2);
    if (inputs.length === 0) {
      const binary = await ensureKnativeValidator((line) => console.log(line));
      const config = await knativeConfigDirs();
      console.log(`validate=${binary}`);
      for (const m of ['knative.dev/serving', 'knative.dev/eventing'] as const) console.log(`${m}=${await moduleDir(m)}`);
      console.log(`serving-config=${config.serving}\neventing-config=${config.eventing}`);
      for (const crd of await knativeCrdFiles()) console.log(`crd=${crd}`);
    } else {
      const yaml = inputs.map((f) => readFileSync(f === '-' ? 0 : f, 'utf8')).join('\n---\n');
      const { ok, results } = await validateKnative(yaml);
      for (const r of results) console.log(JSON.stringify(r));
      process.exitCode = ok ? 0 : 1;
    }
  } catch (err) {
    console.error(err instanceof MissingToolchainError ? err.message : err);
    process.exit(2);
  }
}
