// kube-apiserver's audit log, for a control plane started with { auditPolicy: true }: who asked
// what, as the server saw it (Metadata level: no bodies).
import { readFileSync } from 'node:fs';
import type { ControlPlane } from './controlplane.ts';
import { waitFor } from './poll.ts';

/** One line of the audit log (audit.k8s.io/v1 Event, Metadata level); the fields tests use. */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code: number };
  [k: string]: unknown;
}

/** The audit log so far. */
export function auditEvents(cp: ControlPlane): AuditEvent[] {
  const log = cp.apiServer.auditLog;
  if (!log) throw new Error('this control plane was started without { auditPolicy: true }');
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AuditEvent);
}

/** Waits for audit events matching `match` (they are written as requests complete). */
export function waitForAuditEvents(cp: ControlPlane, match: (e: AuditEvent) => boolean, opts: { atLeast?: number; timeoutMs?: number } = {}): Promise<AuditEvent[]> {
  const atLeast = opts.atLeast ?? 1;
  let found: AuditEvent[] = [];
  return waitFor(() => {
    found = auditEvents(cp).filter(match);
    return found.length >= atLeast && found;
  }, { timeoutMs: opts.timeoutMs ?? 5000, what: () => `${atLeast} matching audit events (found ${found.length})` });
}
