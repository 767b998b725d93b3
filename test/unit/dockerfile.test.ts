// The Dockerfile cannot be built here (no container engine on the CI machine), so its promises
// are checked on its parsed form: pinned bases by argument, a numeric non-root user, nothing but
// the bundle in the runtime stage, and the same start command as `npm start`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dockerfile = DockerfileParser.parse(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const instructions = dockerfile.getInstructions();
const froms = dockerfile.getFROMs();
const runtimeStart = instructions.indexOf(froms.at(-1)!);
const runtime = instructions.slice(runtimeStart);
const args = Object.fromEntries(dockerfile.getARGs().map((a) => {
  const [name, value] = a.getArgumentsContent()!.split('=');
  return [name!, value];
}));
const keyword = (k: string) => (i: Instruction) => i.getKeyword() === k;

test('base images are build arguments with pinned defaults (Node 24 in both stages)', () => {
  assert.equal(froms.length, 2, 'multi-stage: build, runtime');
  for (const from of froms) assert.match(from.getImage() ?? '', /^\$\{[A-Z_]+\}$/, 'FROM names an ARG');
  assert.match(args['BUILD_IMAGE'] ?? '', /^docker\.io\/library\/node:24[-.]/);
  assert.match(args['RUNTIME_IMAGE'] ?? '', /^gcr\.io\/distroless\/nodejs24-debian13:nonroot/);
});

test('the runtime stage runs as a numeric non-root user', () => {
  const users = runtime.filter(keyword('USER'));
  assert.equal(users.length, 1);
  const [uid, gid] = users[0]!.getArgumentsContent()!.split(':');
  assert.match(uid ?? '', /^\d+$/);
  assert.notEqual(Number(uid), 0);
  assert.match(gid ?? '', /^\d+$/);
});

test('the runtime stage copies only the bundle: no node_modules, no sources, no dev dependencies', () => {
  const copies = runtime.filter(keyword('COPY')) as Copy[];
  assert.ok(copies.length >= 1);
  for (const copy of copies) {
    assert.deepEqual(copy.getFlags().map((f) => `${f.getName()}=${f.getValue()}`), ['from=build']);
    const [source] = copy.getArguments().map((a) => a.getValue());
    assert.equal(source, '/app/dist');
  }
  assert.equal(runtime.some((i) => /node_modules/.test(i.getTextContent())), false);
});

test('it starts exactly as `npm start` does', () => {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'];
  const cmd = runtime.filter(keyword('CMD'));
  assert.equal(cmd.length, 1);
  // distroless node images have ENTRYPOINT ["/nodejs/bin/node"]: CMD holds node's arguments.
  assert.equal(runtime.some(keyword('ENTRYPOINT')), false);
  const argv = JSON.parse(cmd[0]!.getArgumentsContent()!) as string[];
  assert.equal(['node', ...argv].join(' '), start);
});

test('.dockerignore keeps the context small and secrets out', () => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const entry of ['node_modules', 'dist', '.git', 'test', '.env*']) assert.ok(ignored.includes(entry), entry);
});
