// node:test global setup (--test-global-setup): runs once in the runner process before any test
// file. It builds (or finds) the control-plane binaries, the Knative validator, the test node's
// binaries (Knative's commands among them) and the images (Knative's among them), printing how long the builds took, and hands the control plane's
// folder to the test files through the environment: the runner spawns each file's process after
// this, with this process.env. (The node's binaries and images are found again by their cache keys.)
import { BIN_DIR_ENV, ensureControlPlaneBinaries } from '../controlplane/binaries.ts';
import { MissingToolchainError } from '../controlplane/go-cache.ts';
import { ensureImages } from '../images/images.ts';
import { ensureKnativeCommandImages } from '../knative/images.ts';
import { ensureKnativeValidator } from '../knative/validator.ts';
import { ensureNodeBinaries } from '../node/binaries.ts';

export async function globalSetup(): Promise<void> {
  const log = (line: string) => console.log(line);
  try {
    const b = await ensureControlPlaneBinaries(log);
    process.env[BIN_DIR_ENV] = b.dir;
    await ensureKnativeValidator(log);
    const node = await ensureNodeBinaries(log);
    await ensureImages({ corednsBinary: node.coredns, log });
    await ensureKnativeCommandImages(log);
  } catch (err) {
    // One line, not a stack: say what to install or set.
    if (err instanceof MissingToolchainError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}
