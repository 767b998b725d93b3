// bench/results/scale.png from bench/results/scale.json: count time and peak RSS against the pod
// count, podcount against the anchors; bench/results/fromzero.png from fromzero.json: scale from
// zero, podcount against its floor, split where the time goes. Vega-Lite renders the SVG
// headless; resvg makes the PNG.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { loadResult, RESULTS } from './lib.ts';
import type { ScaleRow } from './scale.ts';

async function render(spec: TopLevelSpec, name: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 1.5 }, font: { loadSystemFonts: true } }).render().asPng();
  const file = join(RESULTS, name);
  writeFileSync(file, png);
  console.log(`chart: ${file}`);
  return file;
}

interface FromZero { results: Array<{ name: string; phases: Record<string, number> }> }

/** Stacked bars: request at zero -> answer, by phase, podcount against the hello-world floor. */
async function fromZeroChart(): Promise<string> {
  const { results } = loadResult<FromZero>('fromzero');
  const labels: Record<string, string> = {
    toScheduled: '1 activator, autoscaler, Deployment, scheduled',
    toSandbox: '2 pod sandbox up',
    toContainer: '3 container started',
    toAnswer: '4 process, readiness, activator -> answer',
  };
  const values = results.flatMap((r) => Object.entries(r.phases).map(([phase, ms]) => ({ service: r.name.startsWith('podcount') ? 'podcount' : 'hello-world node:http (floor)', phase: labels[phase] ?? phase, ms })));
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    config: { font: 'DejaVu Sans', view: { stroke: null } },
    width: 560, height: 120, title: 'Scale from zero: request -> first correct answer (median ms)',
    mark: 'bar',
    encoding: {
      y: { field: 'service', type: 'nominal', title: null, axis: { labelLimit: 300 } },
      x: { field: 'ms', type: 'quantitative', stack: 'zero', title: 'ms' },
      color: { field: 'phase', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2, labelLimit: 400 } },
      order: { field: 'phase', type: 'nominal' },
    },
  }, 'fromzero.png');
}

export async function chart(): Promise<string> {
  await fromZeroChart();
  const { rows } = loadResult<{ rows: ScaleRow[] }>('scale');
  const values = rows.map((r) => ({ ...r, series: `${r.method}${r.filtered ? ' (app=web)' : ''}` }));
  const x = { field: 'pods', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'pods in the cluster', axis: { values: [1000, 10000, 100000], format: '~s' } };
  const color = { field: 'series', type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const, columns: 2, labelLimit: 400 } };
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    config: { font: 'DejaVu Sans', view: { stroke: null } },
    hconcat: [
      { width: 380, height: 280, title: 'Time to count (ms, log scale)', mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms' }, color } },
      { width: 380, height: 280, title: 'Peak RSS of the counting process (MB)', transform: [{ filter: 'datum.peakRssMb != null' }], mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'peakRssMb', type: 'quantitative', scale: { type: 'log' }, title: 'MB' }, color } },
    ],
  };
  return render(spec, 'scale.png');
}

if (import.meta.main) await chart();
