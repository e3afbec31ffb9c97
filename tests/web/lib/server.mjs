// server.mjs - the browser tests' web server: static files of the repo
// (only the folders a page may load) and a reverse proxy of /v1/ and
// /healthz to tenfourd, so that pages and the API share one origin (what a
// vendor does in production, and what lets the service worker and the
// SDK's fetches see one site).
//
//   const web = await startWebServer({root, upstream: 'http://127.0.0.1:PORT'});
//   web.url       // http://127.0.0.1:<random port>
//   web.setUpstream(url) / web.stats / web.pushes / await web.close()
//
// web.pushes is the push log of the current upstream only: each suite has
// its own tenfourd (seqs restart at 1, and suites 20 and 30 both use device
// web-2a12), so a "no command sent twice" check must not see another
// suite's pushes.  setUpstream(url) starts a new, empty log for that
// tenfourd; a push still in flight to the previous one lands in that one's
// log, never in the new one.
//
// `routes` adds more proxied prefixes (the benchmark sends /pouch/ to
// PouchDB Server, prefix stripped), also same-origin.
//
// Loopback only.  Every response of the static part is `no-store`, so a
// page that opens offline was served by the service worker's cache and not
// by Chromium's HTTP cache.  Event streams (text/event-stream) are piped
// through as they come.

import { createServer, request as httpRequest } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.mjs': 'text/javascript; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.json': 'application/json; charset=utf-8',
	'.webmanifest': 'application/manifest+json',
	'.wasm': 'application/wasm',
	'.css': 'text/css; charset=utf-8',
	'.svg': 'image/svg+xml',
	'.png': 'image/png',
	'.ico': 'image/x-icon',
	'.txt': 'text/plain; charset=utf-8',
	'.md': 'text/plain; charset=utf-8',
	'.map': 'application/json; charset=utf-8',
};

/** Folders of the repo a page may load (everything else is 404). */
export const DEFAULT_ALLOW = [
	'web/',
	'build/wasm/',
	'tests/web/pages/',
	'tests/vectors/',
	'bench/web/',
	'bench/js/node_modules/pouchdb-browser/dist/',
	'schemas/',
];

/** Paths proxied to tenfourd. */
const isApi = (/** @type {string} */ p) => p.startsWith('/v1/') || p === '/healthz';

/**
 * Starts the server on 127.0.0.1 (port 0: a free one).
 * @param {{root: string, upstream?: string, allow?: string[], port?: number,
 *          routes?: {prefix: string, upstream: string}[]}} opts
 */
export async function startWebServer(opts) {
	const root = normalize(opts.root).replace(/\/+$/, '');
	const allow = opts.allow ?? DEFAULT_ALLOW;
	let upstream = opts.upstream ? new URL(opts.upstream) : null;
	const stats = { api: 0, static: 0, notFound: 0, apiErrors: 0 };
	/**
	 * @typedef {{path: string, upstream: string, status: number,
	 *   request: string, reply: string}} Push
	 * Every POST /v1/sync/push that went through, with both bodies (the
	 * tests' view of what reached the server's ledger), per upstream
	 * (origin): one tenfourd's ledger each.
	 * @type {Map<string, Push[]>}
	 */
	const pushLogs = new Map();
	/** @param {string} origin @returns {Push[]} */
	const pushLog = (origin) => {
		let l = pushLogs.get(origin);
		if (!l) pushLogs.set(origin, (l = []));
		return l;
	};
	/** @type {Set<import('node:http').ClientRequest>} */
	const pending = new Set();

	const routes = (opts.routes ?? []).map((r) => ({ prefix: r.prefix, to: new URL(r.upstream) }));

	/**
	 * Passes a request on to `to` (path as given) and its answer back.
	 * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res
	 * @param {URL|null} to @param {string} path
	 */
	const proxy = (req, res, to, path) => {
		stats.api++;
		if (!to) {
			res.writeHead(502, { 'content-type': 'application/json' });
			res.end('{"code":"unavailable","field":"upstream","message":"no tenfourd behind this test server"}');
			return;
		}
		const tapped = req.method === 'POST' && path.startsWith('/v1/sync/push');
		/** @type {Buffer[]} */
		const reqBody = [];
		if (tapped) req.on('data', (d) => reqBody.push(d));
		const headers = { ...req.headers, host: to.host };
		delete headers.connection;
		const up = httpRequest({
			host: to.hostname,
			port: to.port,
			method: req.method,
			path,
			headers,
		}, (ur) => {
			if (tapped) {
				/** @type {Buffer[]} */
				const out = [];
				ur.on('data', (d) => out.push(d));
				ur.on('end', () => pushLog(to.origin).push({ path,
					upstream: to.origin, status: ur.statusCode ?? 0,
					request: Buffer.concat(reqBody).toString(),
					reply: Buffer.concat(out).toString() }));
			}
			const h = { ...ur.headers };
			delete h.connection;
			delete h['keep-alive'];
			res.writeHead(ur.statusCode ?? 502, h);
			if (String(ur.headers['content-type'] ?? '').startsWith('text/event-stream'))
				res.flushHeaders();
			ur.pipe(res);
			ur.on('error', () => res.destroy());
		});
		pending.add(up);
		up.on('close', () => pending.delete(up));
		up.on('error', (e) => {
			stats.apiErrors++;
			if (!res.headersSent) {
				res.writeHead(502, { 'content-type': 'application/json' });
				res.end(JSON.stringify({ code: 'unavailable', field: 'upstream',
					message: `test proxy: ${e.message}` }));
			} else {
				res.destroy();
			}
		});
		// A page that goes away (reload, offline, closed tab) ends the
		// upstream request too, so tenfourd sees event streams close.
		res.on('close', () => {
			if (!res.writableFinished) up.destroy();
		});
		req.pipe(up);
	};

	/** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
	const serveStatic = async (req, res) => {
		const notFound = () => {
			stats.notFound++;
			res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
			res.end('not found\n');
		};
		if (req.method !== 'GET' && req.method !== 'HEAD') {
			res.writeHead(405, { allow: 'GET, HEAD' });
			res.end();
			return;
		}
		let path;
		try {
			path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
		} catch {
			return notFound();
		}
		if (path.includes('\0') || path.split('/').includes('..')) return notFound();
		let rel = path.replace(/^\/+/, '');
		if (rel === '' || rel.endsWith('/')) rel += 'index.html';
		if (!allow.some((a) => rel.startsWith(a))) return notFound();
		const file = join(root, rel);
		if (!file.startsWith(root + sep)) return notFound();
		let st;
		try {
			st = await stat(file);
		} catch {
			return notFound();
		}
		if (!st.isFile()) return notFound();
		stats.static++;
		res.writeHead(200, {
			'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
			'content-length': st.size,
			'cache-control': 'no-store',
			// Lets a page register a service worker kept in another
			// folder (web/sdk) with the page's folder as its scope.
			'service-worker-allowed': '/',
		});
		if (req.method === 'HEAD') return res.end();
		createReadStream(file).on('error', () => res.destroy()).pipe(res);
	};

	const server = createServer((req, res) => {
		const url = req.url ?? '/';
		const path = url.split('?')[0];
		const route = routes.find((r) => path.startsWith(r.prefix));
		if (route) proxy(req, res, route.to, '/' + url.slice(route.prefix.length));
		else if (isApi(path)) proxy(req, res, upstream, url);
		else serveStatic(req, res).catch(() => res.destroy());
	});
	server.keepAliveTimeout = 2000;
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(opts.port ?? 0, '127.0.0.1', () => resolve(undefined));
	});
	const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
	const url = `http://127.0.0.1:${addr.port}`;

	return {
		url,
		port: addr.port,
		stats,
		/**
		 * The pushes that went to the current upstream (its tenfourd's
		 * ledger); empty without one.
		 * @returns {Push[]}
		 */
		get pushes() {
			return upstream ? pushLog(upstream.origin) : [];
		},
		/**
		 * Sends /v1 to another tenfourd (null: none), with a new, empty
		 * push log.
		 * @param {string|null} u
		 */
		setUpstream(u) {
			upstream = u ? new URL(u) : null;
			if (upstream) pushLogs.delete(upstream.origin);
		},
		async close() {
			for (const up of pending) up.destroy();
			server.closeAllConnections();
			await new Promise((resolve) => server.close(() => resolve(undefined)));
		},
	};
}
