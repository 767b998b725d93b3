// The CloudEvents conformance fixtures, read from the module go.mod beside this file pins
// (github.com/cloudevents/conformance), in the Go module cache: `go mod download -json` fetches it
// once and says where it is; after that it needs no network. Nothing of it is copied into this repo.
//
// That module's HTTP fixtures are YAML (yaml/v1.yaml, yaml/v1.0/v1_minimum.yaml): one event per
// document, its context attributes, extensions, extra HTTP headers and data as text, and the mode
// it is sent in (pkg/event/event.go). Here each becomes a JSON-format event (what a structured
// body holds) plus those headers, so it can be sent in either mode by http-modes.ts.
//
// CLI: node test/conformance/fixtures.ts   prints the module folder and every fixture event.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { findGo, MissingToolchainError } from '../controlplane/go-cache.ts';

const MODULE_DIR = import.meta.dirname;
const MODULE = 'github.com/cloudevents/conformance';
/** The fixture files of the pinned version, relative to the module. */
export const YAML_FIXTURES = ['yaml/v1.yaml', 'yaml/v1.0/v1_minimum.yaml'];

export interface FixtureEvent {
  /** file#document and the event id, e.g. "yaml/v1.0/v1_minimum.yaml#3 conformance-0003". */
  name: string;
  /** The mode the fixture is written for (binary when it names none). */
  mode: 'binary' | 'structured';
  /** The event as the JSON event format has it: attributes, extensions and data. */
  event: Record<string, unknown>;
  /** Transport headers the fixture adds (TransportExtensions). */
  headers: Record<string, string>;
}

let moduleDir: Promise<string> | undefined;

/** The pinned module's folder in the Go module cache (downloaded on first use, once per process). */
export function conformanceModuleDir(): Promise<string> {
  moduleDir ??= (async () => {
    let out: string;
    try {
      // -mod=readonly and GOWORK=off: the pin in go.mod and go.sum is what is fetched, nothing else.
      ({ stdout: out } = await promisify(execFile)(findGo('CloudEvents conformance fixtures: Go fetches the pinned module'), ['mod', 'download', '-json', MODULE], {
        cwd: MODULE_DIR, env: { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=readonly' },
      }));
    } catch (err) {
      if (err instanceof MissingToolchainError) throw err;
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`conformance fixtures: go mod download ${MODULE} failed: ${e.stdout?.trim() || e.stderr?.trim() || e.message}`);
    }
    const info = JSON.parse(out) as { Dir?: string; Error?: string };
    if (!info.Dir) throw new Error(`conformance fixtures: ${MODULE}: ${info.Error ?? 'no module folder'}`);
    return info.Dir;
  })();
  return moduleDir;
}

interface YamlDoc {
  Mode?: string;
  ContextAttributes?: Record<string, unknown> & { Extensions?: Record<string, string> };
  TransportExtensions?: Record<string, string>;
  Data?: string;
}

/** Every event of the pinned YAML fixtures. */
export async function yamlFixtureEvents(): Promise<FixtureEvent[]> {
  const dir = await conformanceModuleDir();
  const events: FixtureEvent[] = [];
  for (const file of YAML_FIXTURES) {
    // failsafe: every scalar a string, so `specversion: 1.0` stays "1.0" as the Go loader reads it.
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'), { schema: 'failsafe' });
    docs.forEach((doc, i) => {
      const d = doc.toJS() as YamlDoc | null;
      if (!d?.ContextAttributes) return;
      const { Extensions = {}, ...attributes } = d.ContextAttributes;
      const event: Record<string, unknown> = { ...attributes, ...Extensions };
      if (d.Data !== undefined) event['data'] = dataOf(d.Data, attributes['datacontenttype'] as string | undefined);
      const mode = d.Mode === 'structured' ? 'structured' : 'binary';
      events.push({ name: `${file}#${i + 1} ${String(attributes['id'])}`, mode, event, headers: d.TransportExtensions ?? {} });
    });
  }
  return events;
}

/**
 * The fixture's data text as the JSON format carries it (as the module's own sender does):
 * parsed when it is JSON by its media type (or none), a string otherwise.
 */
function dataOf(text: string, datacontenttype: string | undefined): unknown {
  const type = (datacontenttype ?? 'application/json').split(';')[0]!.trim();
  if (type === 'application/json' || type.endsWith('+json')) return JSON.parse(text) as unknown;
  return text;
}

if (import.meta.main) {
  console.log(`${MODULE}=${await conformanceModuleDir()}`);
  for (const e of await yamlFixtureEvents()) console.log(JSON.stringify(e));
}
