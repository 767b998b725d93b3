// The Dockerfile cannot be built here (no container engine on the CI machine), so its promises
// are checked on its parsed form: pinned bases by argument, a numeric non-root user, nothing but
// the bundle in the runtime stage, the code cache written by the user that reads it, and the
// same start command as `npm start`. (test/integration/bundle.test.ts runs that runtime stage's
// two steps, the cache and the start, on a bare copy of dist/.)
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
/** The runtime stage's last USER: the one its RUN and the container run as. */
const runUser = () => runtime.filter(keyword('USER')).at(-1)!;

test('base images are build arguments with pinned defaults (Node 24 in both stages)', () => {
  assert.equal(froms.length, 2, 'multi-stage: build, runtime');
  for (const from of froms) assert.match(from.getImage() ?? '', /^\$\{[A-Z_]+\}$/, 'FROM names an ARG');
  assert.match(args['BUILD_IMAGE'] ?? '', /^docker\.io\/library\/node:24[-.]/);
  assert.match(args['RUNTIME_IMAGE'] ?? '', /^gcr\.io\/distroless\/nodejs24-debian13:nonroot/);
});

test('the runtime stage runs as a numeric non-root user', () => {
  const users = runtime.filter(keyword('USER'));
  const [uid, gid] = runUser().getArgumentsContent()!.split(':');
  assert.match(uid ?? '', /^\d+$/);
  assert.notEqual(Number(uid), 0);
  assert.match(gid ?? '', /^\d+$/);
  // Only root before it (to lay out /app, below): the non-root user is the one the image runs as.
  for (const u of users.slice(0, -1)) assert.equal(u.getArgumentsContent(), '0:0', u.getTextContent());
});

test('the code belongs to root: /app is made as root, the non-root user comes after the COPYs', () => {
  // WORKDIR creates its folder as the current USER, and the distroless base's USER is nonroot:
  // without `USER 0:0` first, /app would belong to 65532 (found by building the image).
  const at = (i: Instruction) => runtime.indexOf(i);
  const workdir = runtime.filter(keyword('WORKDIR'));
  assert.deepEqual(workdir.map((w) => w.getArgumentsContent()), ['/app']);
  const root = runtime.find((i) => i.getKeyword() === 'USER' && i.getArgumentsContent() === '0:0');
  assert.ok(root && at(root) < at(workdir[0]!), 'USER 0:0 before WORKDIR /app');
  const copies = runtime.filter(keyword('COPY'));
  assert.ok(copies.every((c) => at(c) > at(workdir[0]!) && at(c) < at(runUser())), 'COPYs after WORKDIR, before the non-root USER');
});

test('the runtime stage copies only the bundle (and an empty cache folder): no node_modules, no sources', () => {
  const copies = runtime.filter(keyword('COPY')) as Copy[];
  const sources = copies.map((copy) => {
    assert.deepEqual(copy.getFlags().map((f) => f.getName()).filter((n) => n !== 'chown'), ['from'], copy.getTextContent());
    assert.equal(copy.getFlags().find((f) => f.getName() === 'from')?.getValue(), 'build');
    return copy.getArguments()[0]!.getValue();
  });
  assert.deepEqual(sources, ['/app/dist', '/app/cache/']);
  // What /app/cache holds: one empty folder, made right after the build.
  const build = instructions.slice(0, runtimeStart);
  const cacheWriters = build.filter((i) => i.getTextContent().includes('/app/cache'));
  assert.equal(cacheWriters.length, 1);
  assert.match(cacheWriters[0]!.getTextContent(), /&& mkdir -p \/app\/cache\/\.compile-cache$/);
  assert.equal(runtime.some((i) => /node_modules/.test(i.getTextContent())), false);
});

test('the compile cache is written by the runtime user with the start command (Node keys it by uid)', () => {
  const user = runUser();
  const cacheCopy = (runtime.filter(keyword('COPY')) as Copy[]).find((c) => c.getArguments()[0]!.getValue() === '/app/cache/')!;
  assert.equal(cacheCopy.getFlags().find((f) => f.getName() === 'chown')?.getValue(), user.getArgumentsContent());
  const prepare = runtime.filter((i) => i.getKeyword() === 'RUN');
  assert.equal(prepare.length, 1, 'one build step in the runtime stage');
  assert.ok(runtime.indexOf(prepare[0]!) > runtime.indexOf(user), 'RUN after USER: as the uid that reads the cache');
  const cmd = JSON.parse(runtime.find(keyword('CMD'))!.getArgumentsContent()!) as string[];
  // distroless' node is /nodejs/bin/node; exec form, as the image has no shell.
  assert.deepEqual(JSON.parse(prepare[0]!.getArgumentsContent()!), ['/nodejs/bin/node', ...cmd, '--prepare-cache']);
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
