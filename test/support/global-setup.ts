// node:test global setup: build (or find) the control-plane binaries and the Knative validator
// once, before any test file starts, and print how long the builds took. Test files find them
// again through the same caches.
import { ensureControlPlaneBinaries } from '../controlplane/binaries.ts';
import { ensureKnativeValidator } from '../knative/validator.ts';

export async function globalSetup(): Promise<void> {
  const started = Date.now();
  const b = await ensureControlPlaneBinaries((line) => console.log(line));
  console.log(b.builtSeconds === null
    ? `control plane: binaries ready in ${b.dir} (cached, ${Date.now() - started} ms)`
    : `control plane: build took ${b.builtSeconds} s`);
  await ensureKnativeValidator((line) => console.log(line));
}
