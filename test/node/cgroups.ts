// The node's cgroup root. cgroup v1 hierarchies are global to the machine (namespaces do not
// separate them), so the kubelet gets a root of its own in every hierarchy, `podcount-<pid>-<id>`,
// removed once the node's processes are gone. Roots left by a run that was SIGKILLed (its pid is
// dead) are removed by the next run.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';
const PREFIX = 'podcount-';

/**
 * The mounted hierarchies: the v1 ones (cpu, memory, pids, ..., name=systemd) and the near-empty
 * unified one of a hybrid setup, where runc creates each container's cgroup too.
 */
function hierarchies(): string[] {
  if (!existsSync(CGROUP_FS)) return [];
  return readdirSync(CGROUP_FS).filter((h) => existsSync(join(CGROUP_FS, h, 'cgroup.procs')));
}

export function createCgroupRoot(id: string): string {
  removeStaleCgroupRoots();
  const name = `${PREFIX}${process.pid}-${id}`;
  for (const h of hierarchies()) {
    const dir = join(CGROUP_FS, h, name);
    mkdirSync(dir, { recursive: true });
    if (h === 'cpuset') {
      // A new v1 cpuset has no CPUs or memory nodes until given its parent's.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, f), readFileSync(join(CGROUP_FS, h, f)));
    }
  }
  return `/${name}`;
}

/** Removes the tree below `/name` in every hierarchy, deepest first; false if a cgroup was still busy. */
export function removeCgroupRoot(root: string): boolean {
  let clean = true;
  for (const h of hierarchies()) {
    const dir = join(CGROUP_FS, h, root);
    if (existsSync(dir)) clean = removeTree(dir) && clean;
  }
  return clean;
}

/** Every cgroup still below our roots, for the harness's leftover check. */
export function cgroupRootsOf(pid: number): string[] {
  return hierarchies().flatMap((h) => readdirSync(join(CGROUP_FS, h)).filter((d) => d.startsWith(`${PREFIX}${pid}-`)).map((d) => join(CGROUP_FS, h, d)));
}

function removeStaleCgroupRoots(): void {
  for (const h of hierarchies()) {
    for (const entry of readdirSync(join(CGROUP_FS, h))) {
      const pid = Number(/^podcount-(\d+)-/.exec(entry)?.[1]);
      if (pid && !existsSync(`/proc/${pid}`)) removeTree(join(CGROUP_FS, h, entry));
    }
  }
}

function removeTree(dir: string): boolean {
  let clean = true;
  for (const entry of readdirSync(dir)) {
    const child = join(dir, entry);
    // Control files are files; child cgroups are folders.
    if (statSync(child).isDirectory()) clean = removeTree(child) && clean;
  }
  try {
    rmdirSync(dir);
  } catch {
    clean = false;
  }
  return clean;
}
