// serve.mjs - a development server for the example: serves the repository
// root (so /web/examples/, /web/sdk/, /build/wasm/ and /schemas/ resolve)
// and proxies /v1/ and /healthz to tenfourd, so the page and the API share
// one origin (the SDK's default, baseUrl '').  Not for production: put
// the app and tenfourd behind your own TLS reverse proxy instead.
//
//   make demo                              # tenfourd on 127.0.0.1:8410
//   node web/examples/serve.mjs            # http://127.0.0.1:8080/web/examples/
//   TENFOURD=http://127.0.0.1:8410 PORT=8080 node web/examples/serve.mjs
import { createServer, request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UP = new URL(process.env.TENFOURD ?? 'http://127.0.0.1:8410');
const PORT = Number(process.env.PORT ?? 8080);
const TYPES = { '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript',
  '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm',
  '.css': 'text/css' };

createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname.startsWith('/v1/') || url.pathname === '/healthz') {
    const up = request({ host: UP.hostname, port: UP.port, method: req.method,
      path: url.pathname + url.search, headers: { ...req.headers, host: UP.host } },
    (r) => { res.writeHead(r.statusCode ?? 502, r.headers); r.pipe(res); });
    up.on('error', () => { res.writeHead(502).end('{"code":"unreachable"}'); });
    req.pipe(up);
    return;
  }
  let p = normalize(decodeURIComponent(url.pathname));
  if (p.endsWith('/')) p += 'index.html';
  if (p.includes('..')) { res.writeHead(400).end(); return; }
  try {
    const body = await readFile(join(ROOT, p));
    res.writeHead(200, { 'Content-Type': TYPES[extname(p)] ?? 'application/octet-stream',
      'Cache-Control': 'no-cache', 'Service-Worker-Allowed': '/' });
    res.end(body);
  } catch {
    res.writeHead(404).end('not found');
  }
}).listen(PORT, '127.0.0.1', () =>
  console.log(`http://127.0.0.1:${PORT}/web/examples/  (API -> ${UP.origin})`));
