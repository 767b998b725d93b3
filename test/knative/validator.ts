// Knative's own validation for podcount's manifests (the Go program beside this file, built once
// into ~/.cache/podcount/knative-validate/<hash of the pins>/), and the Knative CRD and default
// ConfigMap YAMLs, read from the pinned modules in the Go module cache (not copied into the repo).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../controlplane/binaries.ts';

const MODULE_DIR = import.meta.dirname;
const GO_ENV = { ...process.env, GOFLAGS: '-mod=mod' };

export interface ValidationResult {
  kind: string;
  name: string;
  ok: boolean;
  errors?: string;
}

export async function ensureKnativeValidator(log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(MODULE_DIR, f)));
  const dir = join(cacheRoot(), 'knative-validate', hash.digest('hex').slice(0, 16));
  const binary = join(dir, 'validate');
  if (existsSync(binary)) return binary;
  const started = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', join(tmp, 'validate'), '.'], { cwd: MODULE_DIR, env: GO_ENV, stdio: ['ignore', 'inherit', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`building the Knative validator failed:\n${stderr.slice(-4000)}`))));
    });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  log(`knative validator: built in ${Math.round((Date.now() - started) / 1000)} s -> ${binary}`);
  return binary;
}

/** Where the Go module cache holds a pinned Knative module. */
export function moduleDir(module: 'knative.dev/serving' | 'knative.dev/eventing'): string {
  execFileSync('go', ['mod', 'download', module], { cwd: MODULE_DIR, env: GO_ENV, stdio: 'ignore' });
  return execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', module], { cwd: MODULE_DIR, env: GO_ENV, encoding: 'utf8' }).trim();
}

/** The CRDs podcount's manifests use: Serving's Service (and what it creates), Eventing's Broker, Trigger, PingSource. */
export function knativeCrdFiles(): string[] {
  const serving = join(moduleDir('knative.dev/serving'), 'config/core/300-resources');
  const eventing = join(moduleDir('knative.dev/eventing'), 'config/core/resources');
  return [
    ...['service.yaml', 'configuration.yaml', 'revision.yaml', 'route.yaml'].map((f) => join(serving, f)),
    ...['broker.yaml', 'trigger.yaml', 'pingsource.yaml'].map((f) => join(eventing, f)),
  ];
}

/** config-br-defaults as a stock Knative Eventing install ships it (the default Broker class). */
export function eventingDefaultsFile(): string {
  return join(moduleDir('knative.dev/eventing'), 'config/core/configmaps/default-broker.yaml');
}

/** Runs Knative's validation over rendered YAML: one result per Knative object. */
export async function validateKnative(yaml: string): Promise<{ ok: boolean; results: ValidationResult[] }> {
  const binary = await ensureKnativeValidator();
  const args = ['-eventing-defaults', eventingDefaultsFile()];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0 && code !== 1) return reject(new Error(`knative validator exited ${code}: ${err}`));
      const results = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ValidationResult);
      resolve({ ok: code === 0, results });
    });
    child.stdin.end(yaml);
  });
}
