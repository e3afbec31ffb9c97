// pouchdb-bench.mjs - PouchDB Server (npm pouchdb-server, its default
// LevelDOWN store) on the documents tenfourd served in the same run, beside
// tenfourd's figures (bench/bench_server.c):
//
//   node pouchdb-bench.mjs --docs build/bench/server-docs.jsonl
//        --server build/bench/server.json [--out build/bench/pouchdb.json]
//
// Starts pouchdb-server on 127.0.0.1 (a free port, a temp dir for its
// databases, config and log), then:
//   write  _bulk_docs of the record states, 100 per request, 8 concurrent
//          clients (each its own keep-alive connection), new documents
//   read   a full _changes?include_docs=true from 0, pages of 1,000, each
//          page parsed; best of 3
// and prints docs/s with the ratios tenfourd / PouchDB.  The server is
// killed and its dir removed on every exit path.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';

const here = dirname(fileURLToPath(import.meta.url));
const CLIENTS = 8;
const BATCH = 100;
const PAGE = 1000;
const READ_REPS = 3;
const PHASE_MAX_MS = 300_000; // a phase stops here, whatever is left

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const docsPath = arg('--docs', 'build/bench/server-docs.jsonl');
const serverPath = arg('--server', 'build/bench/server.json');
const outPath = arg('--out', 'build/bench/pouchdb.json');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const agents = [];
function newAgent() {
  const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(a);
  return a;
}

/** One request; resolves {status, body} with the body as text. */
function request(agent, port, method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host: '127.0.0.1', port, method, path, agent,
        headers: data
          ? { 'Content-Type': 'application/json', 'Content-Length': data.length }
          : {},
        timeout: 120_000,
      },
      (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, body: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const lines = readFileSync(docsPath, 'utf8').split('\n').filter((l) => l);
  // the record state as a document: its id as _id, the rest as is
  const docs = lines.map((l) => {
    const r = JSON.parse(l);
    const { id, ...rest } = r;
    return { _id: id, ...rest };
  });
  const tenfour = JSON.parse(readFileSync(serverPath, 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'tf-pouch-'));
  const port = await freePort();
  const bin = join(here, 'node_modules', 'pouchdb-server', 'bin', 'pouchdb-server');
  const child = spawn(process.execPath,
    [bin, '--host', '127.0.0.1', '--port', String(port), '--dir', dir,
      '--config', join(dir, 'config.json'), '--no-stdout-logs'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  let exited = false;
  child.on('exit', () => { exited = true; });
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    }
    for (const a of agents) a.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => { child.kill('SIGKILL'); process.exit(1); });

  try {
    const admin = newAgent();
    const t0 = Date.now();
    for (;;) {
      if (exited) throw new Error('pouchdb-server exited at start');
      try {
        const r = await request(admin, port, 'GET', '/');
        if (r.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() - t0 > 30_000) throw new Error('pouchdb-server: no answer in 30 s');
      await sleep(100);
    }
    let r = await request(admin, port, 'PUT', '/bench');
    if (r.status !== 201) throw new Error(`PUT /bench: ${r.status} ${r.body}`);

    // write: the documents in batches of 100, 8 clients taking the next batch
    let next = 0;
    let written = 0;
    const w0 = performance.now();
    const writer = async () => {
      const agent = newAgent();
      while (next < docs.length && performance.now() - w0 < PHASE_MAX_MS) {
        const batch = docs.slice(next, next + BATCH);
        next += BATCH;
        const res = await request(agent, port, 'POST', '/bench/_bulk_docs',
          JSON.stringify({ docs: batch }));
        if (res.status !== 201) throw new Error(`_bulk_docs: ${res.status} ${res.body.slice(0, 300)}`);
        const out = JSON.parse(res.body);
        for (const o of out) if (!o.ok) throw new Error(`_bulk_docs: ${JSON.stringify(o)}`);
        written += batch.length;
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, writer));
    const wsec = (performance.now() - w0) / 1000;

    // read: full _changes with the documents, pages of 1,000
    const reads = [];
    for (let rep = 0; rep < READ_REPS; rep++) {
      const agent = newAgent();
      let since = 0;
      let n = 0;
      const r0 = performance.now();
      for (let p = 0; p < 1000 && performance.now() - r0 < PHASE_MAX_MS; p++) {
        const res = await request(agent, port, 'GET',
          `/bench/_changes?include_docs=true&limit=${PAGE}&since=${encodeURIComponent(since)}`);
        if (res.status !== 200) throw new Error(`_changes: ${res.status}`);
        const page = JSON.parse(res.body);
        if (page.results.length === 0) break;
        n += page.results.length;
        since = page.last_seq;
      }
      const sec = (performance.now() - r0) / 1000;
      if (n !== written) throw new Error(`_changes returned ${n} docs, ${written} written`);
      reads.push({ docs: n, seconds: sec, per_s: n / sec });
    }
    const best = reads.reduce((a, b) => (b.per_s > a.per_s ? b : a));
    const pouch = {
      version: JSON.parse(readFileSync(join(here, 'node_modules', 'pouchdb-server',
        'package.json'), 'utf8')).version,
      write: { docs: written, seconds: wsec, per_s: written / wsec },
      read: best,
      read_runs: reads.map((x) => Math.round(x.per_s)),
    };
    writeFileSync(outPath, JSON.stringify(pouch, null, 2) + '\n');

    const f = (x) => Math.round(x).toLocaleString('en-US').padStart(12);
    const q = (a, b) => (a / b).toFixed(2).padStart(8);
    const pw = pouch.write.per_s;
    const pr = pouch.read.per_s;
    console.log(`tenfourd vs PouchDB Server ${pouch.version} (leveldb), same run`);
    console.log('                                     tenfourd     PouchDB   ratio');
    const rows = [
      ['push creates/s, --fsync on', tenfour.push_create_fsync_on.per_s, pw],
      ['push sets+appends/s, --fsync on', tenfour.push_update_fsync_on.per_s, pw],
      ['push creates/s, --fsync off', tenfour.push_create_fsync_off.per_s, pw],
      ['push sets+appends/s, --fsync off', tenfour.push_update_fsync_off.per_s, pw],
    ];
    for (const [name, t, p] of rows)
      console.log(`  ${name.padEnd(33)}${f(t)}${f(p)}${q(t, p)}`);
    console.log(`  ${'full pull / _changes docs/s'.padEnd(33)}${f(tenfour.pull.per_s)}${f(pr)}${q(tenfour.pull.per_s, pr)}`);
    console.log('(PouchDB column: _bulk_docs of new docs, 100 per request, 8 clients; '
      + '_changes?include_docs=true pages of 1,000)');
    const s = tenfour.sse;
    const m = tenfour.rss_kb;
    console.log(`  SSE: ${s.held} of ${s.connections} held, ${s.pokes} pokes, `
      + `${s.samples} deliveries (${s.missing} missing): p50 ${s.p50_ms.toFixed(1)} ms, `
      + `p99 ${s.p99_ms.toFixed(1)} ms, max ${s.max_ms.toFixed(1)} ms`);
    console.log(`  RSS: ${(m.fresh / 1024).toFixed(1)} MB fresh, `
      + `${(m.idle / 1024).toFixed(1)} MB with ${m.idle_sessions} idle SSE devices, `
      + `${(m.sse / 1024).toFixed(1)} MB with ${m.sse_sessions}`);
  } finally {
    await stop();
  }
}

main().catch((e) => {
  console.error(`pouchdb-bench: ${e.message}`);
  process.exitCode = 1;
});
