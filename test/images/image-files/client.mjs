// A curl for tests inside the cluster (`kubectl exec client -- /nodejs/bin/node /client.mjs ...`):
//   client.mjs URL [-H 'Name: value']... [-X METHOD] [-d BODY]
// prints the status on the first line, then the response headers that matter (content-type,
// ce-*, retry-after) as `name: value`, a blank line, then the body. Exit 0 whatever the status;
// 1 only when no answer came (connection error, or 30 s without a complete response); 2 on bad
// usage. -d without -X sends a POST, as curl does. node:http, not fetch: a Host header can be set.
import http from 'node:http';
import https from 'node:https';

const TIMEOUT_MS = 30_000;
const SHOWN = /^(content-type|retry-after|ce-.*)$/;

function usage(message) {
  process.stderr.write(`client: ${message}\nusage: client.mjs URL [-H 'Name: value']... [-X METHOD] [-d BODY]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const headers = {};
let url;
let method;
let body;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
  if (a === '-H') {
    const h = value();
    const colon = h.indexOf(':');
    if (colon < 1) usage(`bad header ${JSON.stringify(h)}`);
    headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
  } else if (a === '-X') method = value();
  else if (a === '-d') body = value();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (url === undefined) url = a;
  else usage(`a second URL ${a}`);
}
if (url === undefined) usage('no URL');
let target;
try {
  target = new URL(url);
} catch {
  usage(`bad URL ${url}`);
}
method ??= body === undefined ? 'GET' : 'POST';
if (body !== undefined && headers['content-length'] === undefined) headers['content-length'] = String(Buffer.byteLength(body));

const fail = (message) => {
  process.stderr.write(`client: ${method} ${url}: ${message}\n`);
  process.exit(1);
};
const timer = setTimeout(() => fail(`no complete answer in ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
const request = (target.protocol === 'https:' ? https : http).request(target, { method, headers }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('error', (err) => fail(err.message));
  res.on('end', () => {
    clearTimeout(timer);
    const lines = [String(res.statusCode)];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i].toLowerCase();
      if (SHOWN.test(name)) lines.push(`${name}: ${res.rawHeaders[i + 1]}`);
    }
    process.stdout.write(`${lines.join('\n')}\n\n`);
    process.stdout.write(Buffer.concat(chunks));
  });
});
request.on('error', (err) => fail(err.message));
request.end(body);
