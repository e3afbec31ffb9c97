// webserver.test.mjs - the browser tests' web server (tests/web/lib/
// server.mjs), here because its push log decides the browser suites' "no
// command sent twice" checks: the log is per tenfourd (each suite has its
// own, with seqs from 1 again), so one suite never sees another's pushes,
// not even one still in flight when the next suite starts.  Two stand-in
// upstreams on loopback.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startWebServer } from '../../../tests/web/lib/server.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A stand-in tenfourd answering every push with {name, results}; a push
 * whose body has hold:true is answered when release() is called.
 * @param {string} name
 */
async function upstream(name) {
	/** @type {(() => void)[]} */
	const held = [];
	const srv = createServer((req, res) => {
		let body = '';
		req.on('data', (d) => { body += d; });
		req.on('end', () => {
			const answer = () => {
				res.writeHead(200, { 'content-type': 'application/json' });
				res.end(JSON.stringify({ name, results: [{ seq: 1, status: 'applied' }] }));
			};
			if (JSON.parse(body || '{}').hold) held.push(answer);
			else answer();
		});
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', () => r(undefined)));
	const port = /** @type {any} */ (srv.address()).port;
	return {
		url: `http://127.0.0.1:${port}`,
		held: () => held.length,
		release: () => { for (const f of held.splice(0)) f(); },
		close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }),
	};
}

test('the push log is per upstream tenfourd: a new suite\'s log starts empty, a late push stays in its own',
	async () => {
		const a = await upstream('a');
		const b = await upstream('b');
		const web = await startWebServer({ root: ROOT, upstream: a.url });
		web.setUpstream(a.url);
		try {
			/** @param {object} body */
			const push = (body) => fetch(`${web.url}/v1/sync/push`, { method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ device_id: 'web-2a12', ...body }) }).then((r) => r.json());
			// Suite 1 (tenfourd a): two pushes, the second still in
			// flight when suite 2 starts.
			assert.equal((await push({ n: 1 })).name, 'a');
			const late = push({ n: 2, hold: true });
			for (let i = 0; i < 200 && a.held() === 0; i++)
				await new Promise((r) => setTimeout(r, 10));
			assert.equal(a.held(), 1, 'the second push reached a');
			assert.deepEqual(web.pushes.map((p) => JSON.parse(p.request).n), [1]);
			// Suite 2 (tenfourd b).
			web.setUpstream(b.url);
			assert.deepEqual(web.pushes, [], 'a new upstream starts an empty log');
			a.release();
			assert.equal((await late).name, 'a');
			assert.equal((await push({ n: 3 })).name, 'b');
			assert.deepEqual(web.pushes.map((p) => [JSON.parse(p.request).n, p.upstream,
				JSON.parse(p.reply).name]), [[3, b.url, 'b']],
			'only b\'s pushes, the late one to a not among them');
			web.setUpstream(null);
			assert.deepEqual(web.pushes, [], 'no upstream: no log');
		} finally {
			await web.close();
			await a.close();
			await b.close();
		}
	});
