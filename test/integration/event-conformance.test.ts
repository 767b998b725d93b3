// CloudEvents conformance of the spawned function, in structured and binary mode alike: every
// valid event is accepted (a reply CloudEvent, or the documented 400 for data podcount cannot use)
// and every invalid one refused with a 400 bad_event that names the attribute, and never a reply.
// The events: the JSON-format rule cases (format-cases.ts) and the HTTP fixtures of the pinned
// cloudevents/conformance module, read from the Go module cache (fixtures.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FormatCase, INVALID_CASES, type Outcome, VALID_CASES } from '../conformance/format-cases.ts';
import { YAML_FIXTURES, yamlFixtureEvents } from '../conformance/fixtures.ts';
import { type ContentMode, type HttpAnswer, type HttpMessage, post, toMode } from '../conformance/http-modes.ts';
import { usePodcount } from '../support/fixture.ts';
import { createPods } from '../support/pods.ts';

const PODS = 3;
const MODES: ContentMode[] = ['structured', 'binary'];

// What podcount answers to each event of the pinned fixtures: none is a reply, since none carries
// podcount's data (no data, or a JSON object of narrowing fields), but every one is a valid
// CloudEvent, so the refusal is about its data, never bad_event.
const FIXTURE_ANSWERS: Record<string, Outcome> = {
  '4321-4321-4321': { answer: 'unknown_parameter', names: ['world'] },
  'conformance-0001': { answer: 'bad_event_data' }, // text/plain
  'conformance-0002': { answer: 'bad_event_data' }, // text/plain, utf-8
  'conformance-0003': { answer: 'bad_event_data' }, // a JSON string
  'conformance-0004': { answer: 'unknown_parameter', names: ['msg'] },
  'conformance-0005': { answer: 'bad_event_data' }, // a JSON array
  'conformance-0006': { answer: 'bad_event_data' }, // application/xml
};

const fixtures = await yamlFixtureEvents();

function summary(o: Outcome): string {
  return o.answer === 'reply' ? 'accepted with a reply' : `400 ${o.answer}${'names' in o ? ` naming ${o.names.join(', ')}` : ''}`;
}

/** The id, source and type the request carried, as the reply's inResponseTo must repeat them. */
function sentAttributes(mode: ContentMode, m: HttpMessage): Record<string, unknown> {
  if (mode === 'binary') return { id: m.headers['ce-id'], source: m.headers['ce-source'], type: m.headers['ce-type'] };
  const e = JSON.parse(m.body.toString('utf8')) as Record<string, unknown>;
  return { id: e['id'], source: e['source'], type: e['type'] };
}

/** `name` as a word of the message (so "id" is not found in "valid"). */
function names(message: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_.])${escaped}([^A-Za-z0-9_.]|$)`).test(message);
}

function assertOutcome(res: HttpAnswer, outcome: Outcome, sent: Record<string, unknown>): void {
  const what = `${res.status} ${JSON.stringify(res.headers)} ${res.text}`;
  if (outcome.answer === 'reply') {
    assert.equal(res.status, 200, what);
    assert.equal(res.headers['ce-specversion'], '1.0', what);
    assert.equal(res.headers['ce-type'], 'dev.podcount.pods.counted', what);
    assert.ok(res.headers['ce-id'], what);
    const data = JSON.parse(res.text) as { count: number; scope: string; inResponseTo: unknown };
    assert.deepEqual(data.inResponseTo, sent, 'the reply answers the event that was sent');
    assert.equal(data.scope, 'cluster');
    assert.equal(data.count, PODS);
    return;
  }
  assert.equal(res.status, 400, what);
  assert.equal(res.headers['ce-id'], undefined, `no reply to a refused event: ${what}`);
  const { error } = JSON.parse(res.text) as { error: { code: string; message: string; hint: string } };
  assert.equal(error.code, outcome.answer, what);
  assert.ok(error.hint.length > 0, what);
  if ('names' in outcome) for (const n of outcome.names) assert.ok(names(error.message, n), `the message names ${n}: ${error.message}`);
}

describe('CloudEvents conformance, structured and binary mode', () => {
  const pc = usePodcount({ env: { K_SERVICE: 'podcount' }, seed: (cp) => createPods(cp, 'podcount', PODS) });

  const cases = (kind: string, list: FormatCase[]) => {
    for (const mode of MODES) {
      for (const c of list) {
        const limited = mode === 'binary' ? c.binary : undefined;
        const outcome = limited?.outcome ?? c.structured;
        test(`${kind} ${c.id}, ${mode}${limited ? ` (${limited.why})` : ''}: ${summary(outcome)}`, async () => {
          const message = toMode(mode, c.event);
          assertOutcome(await post(pc.fn.port, message), outcome, sentAttributes(mode, message));
        });
      }
    }
  };
  cases('JSON format, valid', VALID_CASES);
  cases('JSON format, invalid', INVALID_CASES);

  test(`every event of the pinned fixtures (${YAML_FIXTURES.join(', ')}) has its expected answer here`, () => {
    assert.ok(fixtures.length > 0);
    assert.deepEqual(fixtures.map((f) => String(f.event['id'])).filter((id) => !FIXTURE_ANSWERS[id]), []);
  });

  for (const mode of MODES) {
    for (const f of fixtures) {
      const outcome = FIXTURE_ANSWERS[String(f.event['id'])];
      if (!outcome) continue; // reported by the test above
      test(`fixture ${f.name} (written for ${f.mode} mode), ${mode}: ${summary(outcome)}`, async () => {
        const message = toMode(mode, f.event, f.headers);
        assertOutcome(await post(pc.fn.port, message), outcome, sentAttributes(mode, message));
      });
    }
  }
});
