// Knative's images as ko builds them, without ko or a registry: a static base shaped like
// Knative's ko base (gcr.io/distroless/static:nonroot: passwd/group with nonroot 65532, a CA
// bundle, /tmp 1777, USER 65532), and per command one layer with the binary at /ko-app/<cmd> and
// an empty kodata folder; ENTRYPOINT the binary, PATH + /ko-app, KO_DATA_PATH=/var/run/ko (ko's
// config). The base's CA bundle, nsswitch.conf and tzdata are Debian trixie's, from the runtime base.
import { chmodSync, chownSync, copyFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Buildah } from './buildah.ts';

const NONROOT = 65532;
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** ko's paths: the binary's folder (appended to PATH) and its data folder (KO_DATA_PATH). */
export const KO_APP = '/ko-app';
export const KO_DATA = '/var/run/ko';

/** What determines the static base besides the runtime base's id: its recipe. */
export function knativeBaseInputs(): { recipe: string[] } {
  return { recipe: [buildKnativeBase, place].map(String).concat(String(NONROOT), PATH, CA_BUNDLE) };
}

/** What determines a command's image besides the base's id and the binary: its recipe. */
export function knativeAppInputs(): { recipe: string[] } {
  return { recipe: [knativeAppStep, place].map(String).concat(PATH, KO_APP, KO_DATA) };
}

/** The static base from the runtime base's files (`fromRef`), committed as `ref`; returns its id. */
export async function buildKnativeBase(b: Buildah, ref: string, fromRef: string): Promise<string> {
  return b.withContainer(fromRef, (src) => b.withContainer('scratch', async (c) => {
    const from = await b.mount(src);
    const root = await b.mount(c);
    for (const f of [CA_BUNDLE, '/etc/nsswitch.conf']) place(join(root, f), 0o644, 0, () => copyFileSync(join(from, f), join(root, f)));
    // As distroless static: tzdata, which Knative needs for a PingSource's timezone (Go reads it at run time).
    cpSync(join(from, 'usr/share/zoneinfo'), join(root, 'usr/share/zoneinfo'), { recursive: true, verbatimSymlinks: true });
    place(join(root, 'etc/passwd'), 0o644, 0, (p) => writeFileSync(p, `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`));
    place(join(root, 'etc/group'), 0o644, 0, (p) => writeFileSync(p, `root:x:0:\nnonroot:x:${NONROOT}:\n`));
    place(join(root, 'root'), 0o700, 0, (p) => mkdirSync(p));
    place(join(root, 'home/nonroot'), 0o700, NONROOT, (p) => mkdirSync(p));
    place(join(root, 'tmp'), 0o1777, 0, (p) => mkdirSync(p));
    await b.run(['config', '--os', 'linux', '--arch', 'amd64', '--env', `PATH=${PATH}`, '--env', `SSL_CERT_FILE=${CA_BUNDLE}`,
      '--user', `${NONROOT}:${NONROOT}`, '--workingdir', '/home/nonroot', '--entrypoint', '', '--cmd', '', c]);
    return b.commit(c, ref);
  }));
}

/** One Knative command on the base (`baseRef`), as ko lays it out, committed as `ref`. */
export async function knativeAppStep(b: Buildah, ref: string, baseRef: string, binary: string, app: string): Promise<string> {
  return b.withContainer(baseRef, async (c) => {
    const root = await b.mount(c);
    // Empty: the modules carry no kodata (it is symlinks upstream); Knative only reads HEAD from it, optionally.
    place(join(root, KO_DATA), 0o755, 0, (p) => mkdirSync(p));
    place(join(root, KO_APP, app), 0o755, 0, (p) => copyFileSync(binary, p));
    await b.run(['config', '--entrypoint', JSON.stringify([`${KO_APP}/${app}`]), '--cmd', '',
      '--env', `PATH=${PATH}:${KO_APP}`, '--env', `KO_DATA_PATH=${KO_DATA}`, c]);
    return b.commit(c, ref);
  });
}

/** Creates `path` with `make` (parents 0755 root), then sets its mode and owner. */
function place(path: string, mode: number, owner: number, make: (path: string) => void): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  make(path);
  chmodSync(path, mode);
  chownSync(path, owner, owner);
}
