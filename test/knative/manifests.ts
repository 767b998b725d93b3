// Knative's upstream YAML, read from the pinned Go modules (never copied into the repo) and put
// together as its release does (hack/generate-yamls.sh: `ko resolve -R -f config/core/` and the
// channel and broker folders), then rendered with the test overlay in ./install/:
// - Serving: config/core/ + what its symlinks point to (not in module zips, which drop
//   symlinks): the networking CRDs and config-network from knative.dev/networking, the caching
//   Image CRD from knative.dev/caching, each at the version serving's go.mod requires;
// - Eventing: config/core/ + its symlinked ConfigMaps (third_party/eventing-integrations-latest),
//   config/channels/in-memory-channel/, config/brokers/mt-channel-broker/.
// `ko://<import path>` becomes the locally built image's ref, as `ko resolve` would do, and
// `app.kubernetes.io/version: devel` the release's version, as the release's sed does.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { findGo } from '../controlplane/go-cache.ts';
import { moduleDir } from './validator.ts';

const run = promisify(execFile);
const OVERLAYS = join(import.meta.dirname, 'install');

export type Project = 'serving' | 'eventing';
export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A module's folder in the Go module cache (`go mod download` fetches it if absent). */
async function downloadedModule(path: string): Promise<string> {
  const { stdout } = await run(findGo('knative install: Go finds the Knative modules'), ['mod', 'download', '-json', path], {
    cwd: import.meta.dirname, env: { ...process.env, GOWORK: 'off' }, maxBuffer: 16 << 20,
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`knative: go mod download ${path}: ${info.Error ?? 'no folder'}`);
  return info.Dir;
}

/** The version of `dep` that a module's go.mod requires. */
function required(moduleRoot: string, dep: string): string {
  const m = new RegExp(`^\\s*${dep.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(readFileSync(join(moduleRoot, 'go.mod'), 'utf8'));
  if (!m) throw new Error(`knative: ${moduleRoot}/go.mod requires no ${dep}`);
  return m[1]!;
}

/** Every .yaml under `dir` (recursive, sorted like ko's walk); ko reads no other file. */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e) ? [p] : [];
  });
}

/** knative.dev/serving v0.50.0 is release knative-v1.23.0 (v0.N.P = 1.(N-27).P). */
function releaseVersion(moduleRoot: string): string {
  const m = /@v0\.(\d+)\.(\d+)$/.exec(moduleRoot);
  if (!m) throw new Error(`knative: no release version in ${moduleRoot}`);
  return `1.${Number(m[1]) - 27}.${m[2]}`;
}

/** The upstream files of one project, in release order. */
export async function upstreamFiles(project: Project): Promise<{ files: string[]; version: string }> {
  if (project === 'serving') {
    const serving = await moduleDir('knative.dev/serving');
    const networking = await downloadedModule(`knative.dev/networking@${required(serving, 'knative.dev/networking')}`);
    const caching = await downloadedModule(`knative.dev/caching@${required(serving, 'knative.dev/caching')}`);
    return {
      version: releaseVersion(serving),
      files: [...yamlFiles(join(serving, 'config/core')), ...yamlFiles(join(networking, 'config')), join(caching, 'config/image.yaml')],
    };
  }
  const eventing = await moduleDir('knative.dev/eventing');
  return {
    version: releaseVersion(eventing),
    files: ['config/core', 'third_party/eventing-integrations-latest', 'config/channels/in-memory-channel', 'config/brokers/mt-channel-broker']
      .flatMap((d) => yamlFiles(join(eventing, d))),
  };
}

/**
 * The files as one stream with every `ko://` ref replaced, and the import paths it named; throws
 * on a ref without an image.
 */
export function resolveKo(files: string[], version: string, images: Map<string, string>): { yaml: string; used: Set<string> } {
  const text = files.map((f) => `# ${f.replace(/.*\/pkg\/mod\//, '')}\n${readFileSync(f, 'utf8')}`).join('\n---\n');
  const missing = new Set<string>();
  const used = new Set<string>();
  const resolved = text.replace(/ko:\/\/([\w./-]+)/g, (_, path: string) => {
    const ref = images.get(path);
    if (ref) used.add(path);
    else missing.add(path);
    return ref ?? `ko://${path}`;
  });
  if (missing.size) throw new Error(`knative: no image for ${[...missing].join(', ')}`);
  return { yaml: resolved.replaceAll('app.kubernetes.io/version: devel', `app.kubernetes.io/version: "${version}"`), used };
}

/**
 * The overlay ./install/<project>/ applied to the resolved upstream YAML: both copied into a temp
 * folder (kustomize reads nothing outside its root) and rendered with kubectl's kustomize.
 */
export async function render(kubectl: string, project: Project, upstream: string): Promise<Obj[]> {
  const dir = mkdtempSync(join(tmpdir(), `podcount-knative-${project}-`));
  try {
    cpSync(join(OVERLAYS, project), dir, { recursive: true });
    writeFileSync(join(dir, 'upstream.yaml'), upstream);
    const { stdout } = await run(kubectl, ['kustomize', dir], { maxBuffer: 64 << 20 });
    return parseAllDocuments(stdout).map((d) => d.toJSON() as Obj).filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
