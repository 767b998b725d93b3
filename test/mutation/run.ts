// `npm run mutate`: StrykerJS over function/ in two phases, then one score per file.
// - unit (stryker.config.json): every file of function/ (new ones included) except those below,
//   against test/unit with per-test-file coverage: each mutant runs only the files that reach it.
// - integration (stryker.integration.config.json): the files only the spawned function reaches
//   (its `mutate` list), against the unit files and the integration files named there, with
//   dist/ built from the instrumented sources.
// `npm run mutate -- --mutate function/request.ts[,function/kubeapi.ts]` mutates those files only,
// each in its phase. Both phases are incremental (reports/mutation/*.incremental.json): a re-run
// tests only mutants whose code or tests changed; `--force` re-tests everything. `--report-only`
// runs nothing: it merges the last report of each phase and prints the table.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..', '..');
const STRYKER = join(ROOT, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js');
const REPORTS = join(ROOT, 'reports', 'mutation');

interface Phase {
  name: 'unit' | 'integration';
  config: string;
  report: string;
}
const UNIT: Phase = { name: 'unit', config: 'stryker.config.json', report: join(REPORTS, 'unit.json') };
const INTEGRATION: Phase = { name: 'integration', config: 'stryker.integration.config.json', report: join(REPORTS, 'integration.json') };

const { values } = parseArgs({ options: { mutate: { type: 'string' }, phase: { type: 'string' }, force: { type: 'boolean' }, 'report-only': { type: 'boolean' } } });
const integrationOnly = (JSON.parse(readFileSync(join(ROOT, INTEGRATION.config), 'utf8')) as { mutate: string[] }).mutate;

/** What each phase mutates: everything by default; with --mutate, the files given, each in its phase. */
function plan(): Array<[Phase, string[]]> {
  const unitAll = ['function/**/*.ts', ...integrationOnly.map((f) => `!${f}`)];
  const phases: Array<[Phase, string[]]> = [];
  if (!values.mutate) {
    phases.push([UNIT, unitAll], [INTEGRATION, integrationOnly]);
  } else {
    const files = values.mutate.split(',').map((f) => f.trim()).filter(Boolean);
    const missing = files.filter((f) => !existsSync(join(ROOT, f.replace(/:.*$/, ''))));
    if (missing.length) throw new Error(`no such file: ${missing.join(', ')}`);
    const inIntegration = (f: string) => integrationOnly.includes(f.replace(/:.*$/, ''));
    const unit = files.filter((f) => !inIntegration(f));
    const integration = files.filter(inIntegration);
    if (unit.length) phases.push([UNIT, unit]);
    if (integration.length) phases.push([INTEGRATION, integration]);
  }
  return phases.filter(([p]) => !values.phase || p.name === values.phase);
}

interface FileResult {
  mutants: Array<{ status: string }>;
}
interface Report {
  files: Record<string, FileResult>;
  [k: string]: unknown;
}

const started = Date.now();
const ran: Array<[Phase, number]> = [];
if (values['report-only']) ran.push(...[UNIT, INTEGRATION].filter((p) => existsSync(p.report)).map((p): [Phase, number] => [p, 0]));
else for (const [phase, mutate] of plan()) {
  const t0 = Date.now();
  console.log(`\n== ${phase.name} phase (${phase.config}): ${mutate.join(' ')}`);
  const args = [STRYKER, 'run', phase.config, '--mutate', mutate.join(','), ...(values.force ? ['--force'] : [])];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`stryker (${phase.name} phase) exited with ${r.status ?? r.signal}`);
    process.exit(r.status ?? 1);
  }
  ran.push([phase, Date.now() - t0]);
}

// One report and one table for the files this run mutated (a full run: all of function/).
const merged: Report = { schemaVersion: '2', thresholds: { high: 90, low: 80 }, files: {} };
for (const [phase] of ran) {
  const report = JSON.parse(readFileSync(phase.report, 'utf8')) as Report;
  for (const [file, result] of Object.entries(report.files)) {
    if (result.mutants.length > 0) merged.files[file] = result;
  }
}
writeFileSync(join(REPORTS, 'mutation.json'), JSON.stringify(merged));

const DETECTED = ['Killed', 'Timeout'];
const UNDETECTED = ['Survived', 'NoCoverage'];
const tally = (mutants: Array<{ status: string }>) => {
  const n = (s: string[]) => mutants.filter((m) => s.includes(m.status)).length;
  const detected = n(DETECTED);
  const valid = detected + n(UNDETECTED);
  return { killed: n(['Killed']), timeout: n(['Timeout']), survived: n(['Survived']), noCoverage: n(['NoCoverage']), errors: n(['CompileError', 'RuntimeError']), ignored: n(['Ignored']), score: valid ? (100 * detected) / valid : 100 };
};
const row = (name: string, t: ReturnType<typeof tally>, phase: string) =>
  `| ${name} | ${phase} | ${t.score.toFixed(2)} | ${t.killed} | ${t.timeout} | ${t.survived} | ${t.noCoverage} | ${t.errors} |`;
const lines = ['| file | phase | score % | killed | timeout | survived | no coverage | errors |', '|---|---|---|---|---|---|---|---|'];
const all: Array<{ status: string }> = [];
for (const file of Object.keys(merged.files).sort()) {
  const mutants = merged.files[file]!.mutants;
  all.push(...mutants);
  lines.push(row(file.replace(/^.*function\//, ''), tally(mutants), integrationOnly.some((f) => file.endsWith(f)) ? 'integration' : 'unit'));
}
lines.push(row('**all files**', tally(all), ''));
console.log(`\n${lines.join('\n')}\n`);

// Every mutant no test detected, and whether test/README.md explains it (its equivalents list
// names each as `file.ts:LINE`): a survivor it does not name wants a test or a reason.
const explained = readFileSync(join(ROOT, 'test', 'README.md'), 'utf8').split('### Surviving mutants that are equivalent')[1] ?? '';
let unexplained = 0;
for (const file of Object.keys(merged.files).sort()) {
  const name = file.replace(/^.*function\//, '');
  for (const m of merged.files[file]!.mutants as Array<{ status: string; mutatorName: string; replacement?: string; location: { start: { line: number } } }>) {
    if (!UNDETECTED.includes(m.status)) continue;
    const listed = explained.includes(`\`${name}:${m.location.start.line}\``);
    if (!listed) unexplained += 1;
    console.log(`${listed ? 'equivalent ' : 'UNEXPLAINED'} ${name}:${m.location.start.line} ${m.status} ${m.mutatorName} → ${JSON.stringify(m.replacement ?? '')}`);
  }
}
console.log(`${unexplained} surviving mutant(s) not in test/README.md's equivalents list`);
if (!values['report-only']) for (const [phase, ms] of ran) console.log(`${phase.name} phase: ${(ms / 1000).toFixed(0)} s`);
console.log(`total: ${((Date.now() - started) / 1000).toFixed(0)} s; reports in reports/mutation/ (unit.html, integration.html, mutation.json)`);
