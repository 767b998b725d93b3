// Every tunable of the test control plane in one place.

/** etcd is ready in well under a second; kube-apiserver in 2-4 s (RBAC bootstrap), more on a busy CI box. */
export const ETCD_START_TIMEOUT_MS = 30_000;
export const APISERVER_START_TIMEOUT_MS = 120_000;
/** SIGTERM first (kube-apiserver drains in-flight requests), SIGKILL after this. */
export const STOP_GRACE_MS = 10_000;
/**
 * etcd waits up to 7 s for kube-apiserver's watch streams on SIGTERM. SIGKILL loses nothing it
 * acknowledged (with --unsafe-no-fsync, an ack means written to the page cache, which outlives
 * the process), so stopEtcd() does not wait that long.
 */
export const ETCD_STOP_GRACE_MS = 1_000;
/** A freshly chosen free port can be taken by someone else before the server binds it. */
export const START_ATTEMPTS = 3;

/** What a kind/kubeadm cluster would also use as the in-cluster issuer. */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
/** The admin: a static bearer token (--token-auth-file) in system:masters. */
export const ADMIN_USER = 'admin';
export const ADMIN_GROUP = 'system:masters';

/** Field manager for server-side apply from tests. */
export const FIELD_MANAGER = 'podcount-test';
/** TokenRequest's minimum is 600 s; one hour outlives any test. */
export const TOKEN_EXPIRATION_SECONDS = 3600;

/** Parallel pod creations over keep-alive connections (measured best on 2 cores; see test/README.md). */
export const CREATE_PODS_CONCURRENCY = 16;
/** Page size for the API-truth count. */
export const COUNT_PAGE_SIZE = 500;
export const POD_IMAGE = 'registry.k8s.io/pause:3.10';
