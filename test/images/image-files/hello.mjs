// The performance floor: the least a Node 24 HTTP function can be. 200 {"hello":"world"} to every
// request on $PORT (default 8080); on SIGTERM (PID 1 has no default handler) it stops accepting,
// lets in-flight requests finish and exits 0.
import { createServer } from 'node:http';

const port = Number(process.env.PORT || 8080);
const body = JSON.stringify({ hello: 'world' });
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(port, () => console.log(`hello: listening on ${port}`));
const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
