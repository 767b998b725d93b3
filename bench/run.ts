// `npm run bench [-- coldstart scale breakdown load podstart fromzero chart report]`: every benchmark by default, each printing
// its table and writing bench/results/<name>.json; the chart and bench/results/summary.md (the
// README's Performance section) are made from those files.
import { breakdown } from './breakdown.ts';
import { chart } from './chart.ts';
import { coldStart } from './coldstart.ts';
import { fromZero } from './fromzero.ts';
import { load } from './load.ts';
import { podStart } from './podstart.ts';
import { report } from './report.ts';
import { scale } from './scale.ts';

const all = { coldstart: coldStart, scale, breakdown, load, podstart: podStart, fromzero: fromZero, chart, report } as const;
const wanted = process.argv.slice(2);
for (const name of wanted) if (!(name in all)) throw new Error(`unknown benchmark ${name}; choose from ${Object.keys(all).join(', ')}`);
for (const [name, run] of Object.entries(all)) {
  if (wanted.length && !wanted.includes(name)) continue;
  const started = performance.now();
  await run();
  console.log(`bench: ${name} took ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
