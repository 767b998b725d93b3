// node:test global setup (--test-global-setup): runs once in the runner process before any test
// file. It builds (or finds) the control-plane binaries and the Knative validator, printing how
// long the builds took, and hands the binaries' folder to the test files through the
// environment: the runner spawns each file's process after this, with this process.env.
import { BIN_DIR_ENV, ensureControlPlaneBinaries } from '../controlplane/binaries.ts';
import { MissingToolchainError } from '../controlplane/go-cache.ts';
import { ensureKnativeValidator } from '../knative/validator.ts';

export async function globalSetup(): Promise<void> {
  try {
    const b = await ensureControlPlaneBinaries((line) => console.log(line));
    process.env[BIN_DIR_ENV] = b.dir;
  } catch (err) {
    // One line, not a stack: say what to install or set.
    if (err instanceof MissingToolchainError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  await ensureKnativeValidator((line) => console.log(line));
}
