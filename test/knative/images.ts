// Knative's images for the test cluster: every `ko://` import path the installed YAML names, its
// binary (built by test/node/binaries.ts) and the image
// test/images builds from it as ko would (localhost/knative-<project>-<cmd>:<key>).
import { basename, join } from 'node:path';
import { ensureKnativeImages, type BuiltImage } from '../images/images.ts';
import { ensureNodeBinaries, EVENTING, SERVING } from '../node/binaries.ts';

/** An import path as Knative's YAML writes it after `ko://`, e.g. knative.dev/serving/cmd/queue. */
export type ImportPath = string;

/** Every Knative command's binary, by import path. */
async function knativeBinaries(log: (line: string) => void): Promise<Map<ImportPath, string>> {
  const node = await ensureNodeBinaries(log);
  const out = new Map<ImportPath, string>();
  // test/node/binaries.ts names each binary after its package's last element, as `go build -o dir/` does.
  for (const c of SERVING) out.set(`knative.dev/serving/cmd/${c}`, join(node.knative.serving, basename(c)));
  for (const c of EVENTING) out.set(`knative.dev/eventing/cmd/${c}`, join(node.knative.eventing, basename(c)));
  return out;
}

/** knative.dev/eventing/cmd/broker/filter -> knative-eventing-filter (a repository name: no '_'). */
export function imageName(importPath: ImportPath): string {
  const m = /^knative\.dev\/(serving|eventing)\/cmd\/(?:.*\/)?([^/]+)$/.exec(importPath);
  if (!m) throw new Error(`knative: not a Knative command: ${importPath}`);
  return `knative-${m[1]}-${m[2]!.replaceAll('_', '-')}`;
}

/** Builds (or finds) an image per Knative command; by import path. */
export async function ensureKnativeCommandImages(log: (line: string) => void): Promise<Map<ImportPath, BuiltImage>> {
  const binaries = await knativeBinaries(log);
  const commands = [...binaries].map(([path, binary]) => ({ name: imageName(path), binary }));
  const built = await ensureKnativeImages(commands, { log });
  return new Map([...binaries.keys()].map((path) => [path, built[imageName(path)]!]));
}
