// Where the API server is and how podcount proves who it is, resolved once at cold start:
// 1. in-cluster: KUBERNETES_SERVICE_HOST/PORT plus the mounted ServiceAccount token (the product);
// 2. a kubeconfig (KUBECONFIG or ~/.kube/config), through @kubernetes/client-node, loaded lazily
//    because importing it costs ~150 ms that an in-cluster cold start must not pay;
// 3. nothing: podcount still starts, answers 503 no_cluster_config and explains on /diagnostics.
// Unlike client-node's loadFromCluster (server "https://undefined:undefined") and loadFromDefault
// (a silent fallback to http://localhost:8080), every gap is detected and said.
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Config } from './config.ts';
import { FileToken, readClaims } from './token.ts';

/** Who podcount is to the API server, to name the right account in hints. */
export interface Identity {
  /** Where credentials come from: the mounted ServiceAccount, a kubeconfig, or nothing. */
  source: 'in-cluster' | 'kubeconfig' | 'none';
  /** system:serviceaccount:NS:NAME when known (from the token's claims or the 403 message). */
  username?: string;
  tokenPath?: string;
  kubeconfig?: string;
}

export interface Credentials {
  /** The Authorization header value for the next request. */
  authorization(): Promise<string | undefined>;
  /** Re-reads the credentials after a 401; true when they changed, so a retry can succeed. */
  refresh(): Promise<boolean>;
  /** The bearer token, for reading its claims on /diagnostics; never logged or returned. */
  currentToken(): string | undefined;
  /** Why the last re-read failed while an older token stays in use; undefined when it did not. */
  readError(): string | undefined;
}

export interface TlsMaterial {
  ca?: string | Buffer | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  rejectUnauthorized: boolean;
}

export interface ClusterTarget {
  source: 'in-cluster' | 'kubeconfig';
  server: string;
  /** The namespace this pod runs in (or the kubeconfig context's). */
  ownNamespace: string | undefined;
  tls: TlsMaterial;
  caPath: string | undefined;
  credentials: Credentials;
  identity: Identity;
  /** What was looked at and what was odd, for /diagnostics. */
  notes: string[];
}

export type Resolution =
  | { ok: true; target: ClusterTarget }
  | { ok: false; why: string; notes: string[] };

type Env = Record<string, string | undefined>;

/** `home` finds the user's home when HOME is unset (tests pass their own). */
export async function resolveCluster(config: Config, env: Env = process.env, home: () => string | undefined = homeOfUser): Promise<Resolution> {
  const notes: string[] = [];
  const inCluster = fromServiceAccount(config.serviceAccountDir, env, notes);
  if (inCluster) return { ok: true, target: inCluster };
  const kubeconfig = kubeconfigPath(env, home, notes);
  if (kubeconfig) {
    try {
      return { ok: true, target: await fromKubeconfig(kubeconfig, notes) };
    } catch (err) {
      const why = `kubeconfig ${kubeconfig} is unusable: ${err instanceof Error ? err.message : String(err)}`;
      return { ok: false, why, notes: [...notes, why] };
    }
  }
  return { ok: false, why: 'not in a pod with a ServiceAccount token, and no kubeconfig found', notes };
}

function fromServiceAccount(dir: string, env: Env, notes: string[]): ClusterTarget | undefined {
  const host = env['KUBERNETES_SERVICE_HOST']?.trim();
  const port = env['KUBERNETES_SERVICE_PORT']?.trim();
  const tokenPath = join(dir, 'token');
  if (!host || !port) {
    notes.push('KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: not running in a pod');
    return undefined;
  }
  if (!existsSync(tokenPath)) {
    notes.push(`KUBERNETES_SERVICE_HOST is set but there is no token at ${tokenPath}: is automountServiceAccountToken false for this pod or its ServiceAccount?`);
    return undefined;
  }
  const caPath = join(dir, 'ca.crt');
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(caPath);
  } catch {
    notes.push(`no CA at ${caPath}: the API server is verified against the system roots only`);
  }
  const ownNamespace = readTrimmed(join(dir, 'namespace'));
  if (ownNamespace === undefined) notes.push(`no namespace file in ${dir}`);
  const token = new FileToken(tokenPath);
  const claims = readClaims(token.get());
  const sa = claims?.serviceAccount;
  const identity: Identity = { source: 'in-cluster', tokenPath };
  if (sa) identity.username = `system:serviceaccount:${sa.namespace}:${sa.name}`;
  // client-go always speaks https in-cluster and brackets IPv6 hosts.
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  notes.push(`in-cluster: ${server}, ServiceAccount folder ${dir}`);
  return {
    source: 'in-cluster',
    server,
    ownNamespace,
    tls: { ca, rejectUnauthorized: true },
    caPath: ca ? caPath : undefined,
    credentials: {
      authorization: async () => {
        const t = token.get();
        return t ? `Bearer ${t}` : undefined;
      },
      refresh: async () => token.refresh(),
      currentToken: () => token.get(),
      readError: () => token.lastError,
    },
    identity,
    notes,
  };
}

function kubeconfigPath(env: Env, homeOf: () => string | undefined, notes: string[]): string | undefined {
  const fromEnv = env['KUBECONFIG']?.trim();
  if (fromEnv) return fromEnv;
  const home = env['HOME']?.trim() || homeOf();
  if (!home) {
    notes.push('KUBECONFIG is not set and there is no home folder to look for ~/.kube/config in');
    return undefined;
  }
  const path = join(home, '.kube', 'config');
  if (existsSync(path)) return path;
  notes.push(`KUBECONFIG is not set and ${path} does not exist`);
  return undefined;
}

async function fromKubeconfig(path: string, notes: string[]): Promise<ClusterTarget> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  // loadFromDefault merges every file in a KUBECONFIG list, as kubectl does.
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new Error(`its current context ${JSON.stringify(kc.getCurrentContext())} names no cluster server`);
  const context = kc.getContextObject(kc.getCurrentContext());
  const tlsOptions: Record<string, unknown> & { headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(tlsOptions);
  notes.push(`kubeconfig ${path}: context ${kc.getCurrentContext()}, server ${cluster.server}`);
  const username = kc.getCurrentUser()?.name;
  const identity: Identity = { source: 'kubeconfig', kubeconfig: path };
  if (username) identity.username = username;
  let authorization = tlsOptions.headers?.['Authorization'];
  return {
    source: 'kubeconfig',
    server: cluster.server.replace(/\/+$/, ''),
    ownNamespace: context?.namespace ?? 'default',
    tls: {
      ca: tlsOptions['ca'] as Buffer | undefined,
      cert: tlsOptions['cert'] as Buffer | undefined,
      key: tlsOptions['key'] as Buffer | undefined,
      rejectUnauthorized: !cluster.skipTLSVerify,
    },
    caPath: cluster.caFile,
    credentials: {
      authorization: async () => authorization,
      refresh: async () => {
        // Exec plugins and token files may have new credentials now.
        const fresh: { headers?: Record<string, string> } = {};
        await kc.applyToHTTPSOptions(fresh);
        const changed = fresh.headers?.['Authorization'] !== authorization;
        authorization = fresh.headers?.['Authorization'];
        return changed && authorization !== undefined;
      },
      currentToken: () => authorization?.replace(/^Bearer /, ''),
      readError: () => undefined,
    },
    identity,
    notes,
  };
}

/** The user's home, or undefined: a uid without a passwd entry (common in containers) has none. */
function homeOfUser(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

function readTrimmed(path: string): string | undefined {
  try {
    const value = readFileSync(path, 'utf8').trim();
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}
