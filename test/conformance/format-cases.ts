// The CloudEvents 1.0 JSON-format rules as test cases: valid events podcount must accept and
// invalid ones it must refuse, naming the attribute. Each case carries the id of the matching test
// in cloudevents/conformance format/json (valid-events.json, invalid-events.json): those files are
// in no version of that module the Go module proxy serves here (v0.4.1, pinned in go.mod beside
// this file, predates them), so the rules are written out here, one case per upstream test, from
// the spec (cloudevents/spec v1.0.2: spec.md "Context Attributes", formats/json-format.md).
// When a served version carries format/json, the replay can read them from the module cache
// like fixtures.ts reads the YAML.

/** What podcount answers to an event in one mode. */
export type Outcome =
  | { answer: 'reply' }
  /** A valid CloudEvent whose data is not podcount's (text, a JSON string, ...). */
  | { answer: 'bad_event_data' }
  /** Not a valid CloudEvent: a 400 whose message names each of these. */
  | { answer: 'bad_event'; names: string[] }
  /** A valid CloudEvent whose JSON object data has fields podcount does not know: a 400 naming them. */
  | { answer: 'unknown_parameter'; names: string[] };

export interface FormatCase {
  /** The upstream test id. */
  id: string;
  /** The event as a structured body holds it. */
  event: Record<string, unknown>;
  /** The answer in structured mode (JSON carries every case as written). */
  structured: Outcome;
  /**
   * Binary mode, when it cannot carry the case as written (header values are text, header names
   * are case-insensitive, one body holds the data): why, and the answer to what it does carry.
   */
  binary?: { why: string; outcome: Outcome };
}

const base = { specversion: '1.0', id: 'podcount-case', type: 'io.cloudevents.test', source: 'https://cloudevents.io' };
const without = (name: keyof typeof base) => Object.fromEntries(Object.entries(base).filter(([k]) => k !== name));
const reply: Outcome = { answer: 'reply' };
const refused = (...names: string[]): Outcome => ({ answer: 'bad_event', names });

export const VALID_CASES: FormatCase[] = [
  { id: 'validMinimal', event: base, structured: reply },
  {
    id: 'validMinimalWithNullForOptional', event: { ...base, datacontenttype: null, dataschema: null, subject: null, time: null }, structured: reply,
    binary: { why: 'a header cannot be null: the binary form leaves the optional attributes out', outcome: reply },
  },
  { id: 'validAllCoreAttributes', event: { ...base, datacontenttype: 'text/plain', dataschema: 'https://cloudevents.io/dataschema', subject: 'tests', time: '2018-04-05T17:31:00Z' }, structured: reply },
  { id: 'validMinimalWithTimeUtc', event: { ...base, time: '2018-04-05T17:31:00Z' }, structured: reply },
  { id: 'validMinimalWithTimeToNanosecondsUtc', event: { ...base, time: '2018-04-05T17:31:00.000000000Z' }, structured: reply },
  { id: 'validMinimalWithTimeUsingPositiveOffset', event: { ...base, time: '2018-04-05T18:31:00+01:00' }, structured: reply },
  { id: 'validMinimalWithTimeUsingNegativeOffset', event: { ...base, time: '2018-04-05T16:31:00-01:00' }, structured: reply },
  { id: 'validRelativeSource', event: { ...base, source: '#fragment' }, structured: reply },
  // Valid CloudEvents, but text is not podcount's data: refused, never ignored.
  { id: 'validSimpleTextData', event: { ...base, datacontenttype: 'text/plain', data: 'Simple text' }, structured: { answer: 'bad_event_data' } },
  {
    id: 'validAllExtensionTypes',
    event: { ...base, extinteger: 10, extboolean: true, extstring: 'text', exturi: 'https://cloudevents.io', exturiref: '//authority/path', exttimestamp: '2023-03-31T15:12:00Z', extbinary: 'TWE=' },
    structured: reply,
  },
];

export const INVALID_CASES: FormatCase[] = [
  { id: 'invalidNoSpecVersion', event: without('specversion'), structured: refused('specversion') },
  { id: 'invalidNoId', event: without('id'), structured: refused('id') },
  { id: 'invalidNoType', event: without('type'), structured: refused('type') },
  { id: 'invalidNoSource', event: without('source'), structured: refused('source') },
  ...([
    ['invalidTimeGarbage', 'lunchtime'],
    ['invalidTimeToMinute', '2018-04-05T18:31Z'],
    ['invalidTimeOffsetX', '2018-04-05T18:31:00X'],
    ['invalidTimeOffsetOutOfRange', '2018-04-05T18:31:00+25:00'],
    ['invalidTimeOffsetNonInteger', '2018-04-05T18:31:00+xx:00'],
    ['invalidTimeOffsetHourOnly', '2018-04-05T18:31:00+05'],
  ] as const).map(([id, time]): FormatCase => ({ id, event: { ...base, time }, structured: refused('time') })),
  ...(['id', 'type', 'source', 'specversion'] as const).map((name): FormatCase => ({
    id: `invalidEmpty${name === 'specversion' ? 'SpecVersion' : name[0]!.toUpperCase() + name.slice(1)}`, event: { ...base, [name]: '' }, structured: refused(name),
  })),
  { id: 'invalidUnknownSpecVersion', event: { ...base, specversion: '0.9' }, structured: refused('specversion') },
  { id: 'invalidNonRfc2046DataContentType', event: { ...base, datacontenttype: 'xyz' }, structured: refused('datacontenttype') },
  { id: 'invalidEmptyDataContentType', event: { ...base, datacontenttype: '' }, structured: refused('datacontenttype') },
  { id: 'invalidEmptyDataSchema', event: { ...base, dataschema: '' }, structured: refused('dataschema') },
  { id: 'invalidEmptySubject', event: { ...base, subject: '' }, structured: refused('subject') },
  {
    id: 'invalidNumericId', event: { ...base, id: 25 }, structured: refused('id'),
    binary: { why: 'a header is text: ce-id: 25 is the valid string id "25"', outcome: reply },
  },
  {
    id: 'invalidObjectId', event: { ...base, id: { xyz: 'abc' } }, structured: refused('id'),
    binary: { why: 'a header is text: ce-id: {"xyz":"abc"} is a valid string id', outcome: reply },
  },
  {
    id: 'invalidCapitalizedExtension', event: { ...base, MyExtension: 'bad' }, structured: refused('MyExtension'),
    binary: { why: 'header names are case-insensitive: ce-MyExtension arrives as the valid extension myextension', outcome: reply },
  },
  { id: 'invalidPunctuatedExtension', event: { ...base, 'my.extension': 'bad' }, structured: refused('my.extension') },
  {
    id: 'invalidNonIntegerExtensionValue', event: { ...base, 'my.extension': 1.5 }, structured: refused('my.extension'),
    binary: { why: 'a header is text: only the name is wrong in binary mode, the value is the string "1.5"', outcome: refused('my.extension') },
  },
  {
    id: 'invalidBothDataAndDataBase64', event: { ...base, data: 'text', data_base64: 'eyAieHl6IjogMTIzIH0=' }, structured: refused('data', 'data_base64'),
    binary: { why: 'one body carries the data: the second copy can only come as a header ce-data_base64', outcome: refused('data_base64') },
  },
];
