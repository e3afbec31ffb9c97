// sync.test.mjs - the HTTP client and the loop's pieces without a
// server: error replies to codes, unreachable, the event-stream reader
// (split chunks, CR/LF/CRLF, comments, ids, end events), backoff bounds;
// and the watch loop against a real tenfourd: a poke from another
// client's push brings the change without a manual sync.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Http, backoff } from '../sync.mjs';
import { Tenfour, memoryBackend } from '../tenfour.mjs';
import { core, SCHEMA } from './helpers.mjs';
import { startServer, haveServer } from './server.mjs';

/** @param {number} status @param {string} body @param {object} [h] */
const res = (status, body, h = {}) => new Response(body, { status, headers: h });

test('error replies become codes; a dead server is unreachable', async () => {
	/** @type {any} */
	let next;
	const http = new Http({ fetch: async () => next() });
	next = () => res(403, JSON.stringify({ code: 'device_revoked',
		field: 'device', message: 'revoked', wipe: true }));
	await assert.rejects(http.json('GET', '/v1/sync/pull'), (e) => {
		assert.equal(e.code, 'device_revoked');
		assert.equal(e.status, 403);
		assert.equal(e.wipe, true);
		assert.equal(e.where, 'device');
		return true;
	});
	next = () => res(502, '<html>bad gateway</html>');
	await assert.rejects(http.json('GET', '/x'), { code: 'unreachable', status: 502 });
	assert.equal(http.online, false);
	next = () => { throw new TypeError('fetch failed'); };
	await assert.rejects(http.json('GET', '/x'), { code: 'unreachable' });
	next = () => res(200, '{"ok":true}');
	assert.deepEqual(await http.json('GET', '/x'), { ok: true });
	assert.equal(http.online, true);
	// Headers: bearer token and device.
	/** @type {any} */
	let seen;
	const h2 = new Http({ baseUrl: 'http://h/', fetch: async (u, i) => {
		seen = { u, i };
		return res(200, '{}');
	} });
	h2.session = { token: 'T', device: 'D' };
	await h2.json('POST', '/v1/sync/push', { a: 1 });
	assert.equal(seen.u, 'http://h/v1/sync/push');
	assert.equal(seen.i.headers.Authorization, 'Bearer T');
	assert.equal(seen.i.headers['X-Tenfour-Device'], 'D');
	assert.equal(seen.i.headers['Content-Type'], 'application/json');
});

test('event stream reader: chunks, line ends, comments, ids, end', async () => {
	const chunks = [': ok\n\n', 'id: c1\nevent: po', 'ke\ndata: {"cursor":"c1"}\r',
		'\n\r\n', ': hb\n\n', 'id: c2\revent: poke\rdata: a\rdata: b\r\r',
		'event: end\ndata: {"code":"unauthenticated"}\n\n'];
	const http = new Http({ fetch: async () => new Response(new ReadableStream({
		start(c) {
			for (const x of chunks) c.enqueue(new TextEncoder().encode(x));
			c.close();
		} }), { status: 200 }) });
	/** @type {any[]} */
	const evs = [];
	await http.events('', (e) => evs.push(e), new AbortController().signal);
	assert.deepEqual(evs, [
		{ event: 'poke', id: 'c1', data: '{"cursor":"c1"}' },
		{ event: 'poke', id: 'c2', data: 'a\nb' },
		{ event: 'end', id: 'c2', data: '{"code":"unauthenticated"}' }]);
	// A refused stream: its JSON error.
	const h2 = new Http({ fetch: async () => res(503,
		'{"code":"busy","field":"session","message":"too many"}') });
	await assert.rejects(h2.events('', () => {}, new AbortController().signal),
		{ code: 'busy' });
});

test('backoff: exponential, capped at 60 s, full jitter, floor 250 ms', () => {
	assert.equal(backoff(0, 1000, 60000, () => 1), 1000);
	assert.equal(backoff(3, 1000, 60000, () => 1), 8000);
	assert.equal(backoff(30, 1000, 60000, () => 1), 60000);
	assert.equal(backoff(5, 1000, 60000, () => 0), 250);
	for (let i = 0; i < 100; i++) {
		const b = backoff(i % 10);
		assert.ok(b >= 250 && b <= 60000);
	}
});

test('watch: a poke brings another client\'s change; stop ends it',
	{ skip: !haveServer && 'build/native/tenfourd not built' }, async () => {
		const srv = await startServer();
		try {
			/** @type {string[]} */
			const pushed = [];
			/** @type {typeof fetch} */
			const tap = async (u, i) => {
				if (String(u).endsWith('/v1/sync/push'))
					for (const c of JSON.parse(String(i?.body)).commands)
						pushed.push(c.cmd_id);
				return fetch(u, i);
			};
			const shared = memoryBackend();
			/** @param {string} device @param {string} user @param {boolean} auto */
			const mk = async (device, user, auto) => {
				const tf = await Tenfour.open({ core: await core(), schema: SCHEMA,
					baseUrl: srv.url, backend: device === 'w-2a12' ? shared
						: memoryBackend(), autoSync: auto, name: device, fetch: tap });
				const { publicKey } = await tf.enroll({ agency: 'demo', device });
				srv.admin(['device-enroll', device, '--label', device,
					'--pubkey', publicKey]);
				await tf.login({ user, password: srv.user(user).password,
					totp: await srv.code(user), bannerRev: 1, pin: '583920' });
				return tf;
			};
			const d = await mk('w-console', 'dana', false);
			await d.sync();
			const a = await mk('w-2a12', 'alvarez', true);
			/** @type {any[]} */
			const syncs = [];
			a.on('sync', (s) => syncs.push(s));
			for (let i = 0; i < 100 && !syncs.some((s) => s.phase === 'done'); i++)
				await new Promise((r) => setTimeout(r, 50));
			assert.ok(a.sync_?.leader, 'this tab leads the sync');
			// Dana changes 2A12's unit: a poke, then a pull, unasked.
			/** @type {string|null} */
			let unit = null;
			for (const u of await d.records.list({ entity: 'unit' }))
				if ((await d.records.get(u.id)).record.f.callsign?.v === '2A12')
					unit = u.id;
			await d.mutate.set(/** @type {string} */ (unit), { status_note: 'POKED' });
			await d.sync();
			let got = false;
			for (let i = 0; i < 100 && !got; i++) {
				await new Promise((r) => setTimeout(r, 50));
				const v = await a.records.get(/** @type {string} */ (unit)).catch(() => null);
				got = v?.record.f.status_note?.v === 'POKED';
			}
			assert.ok(got, 'the poke brought the change');

			// A second tab of the same profile: it does not sync, its
			// command goes out through the leading tab, once.
			const a2 = await Tenfour.open({ core: await core(), schema: SCHEMA,
				baseUrl: srv.url, backend: shared, name: 'w-2a12', fetch: tap });
			await a2.unlock('583920');
			await new Promise((r) => setTimeout(r, 100));
			assert.equal(a2.sync_?.leader ?? false, false, 'one tab syncs');
			const m = await a2.mutate.set(/** @type {string} */ (unit),
				{ status_note: 'FROM-TAB-2' });
			let sent = false;
			for (let i = 0; i < 100 && !sent; i++) {
				await new Promise((r) => setTimeout(r, 50));
				sent = (await a.status()).pending === 0 && pushed.includes(m.cmd_id);
			}
			assert.ok(sent, 'the leader pushed the other tab\'s command');
			assert.equal(new Set(pushed).size, pushed.length, 'no command sent twice');
			await d.sync();
			assert.equal((await d.records.get(/** @type {string} */ (unit)))
				.record.f.status_note.v, 'FROM-TAB-2');
			a2.close();
			a.stopSync();
			a.close();
			d.close();
		} finally {
			await srv.stop();
		}
	});

test('a lock while a push is in flight waits for its reply and keeps it: the command is not sent again',
	{ skip: !haveServer && 'build/native/tenfourd not built' }, async () => {
		const srv = await startServer();
		/** @type {any} */
		let tf = null;
		try {
			/** @type {string[]} */
			const sent = [];
			/** @type {string[]} */
			const results = [];
			/** @type {((v?: any) => void)|null} */
			let release = null;
			/** @type {((v?: any) => void)|null} */
			let replied = null;
			let hold = false;
			/** @type {typeof fetch} */
			const tap = async (u, i) => {
				const res = await fetch(u, i);
				if (!String(u).endsWith('/v1/sync/push')) return res;
				for (const c of JSON.parse(String(i?.body)).commands) sent.push(c.cmd_id);
				const text = await res.text();
				for (const r of JSON.parse(text).results ?? []) results.push(r.status);
				if (hold) {
					// The server applied the push; its reply is still on
					// the way when the SDK locks.
					hold = false;
					const gate = new Promise((r) => { release = r; });
					replied?.();
					await gate;
				}
				return new Response(text, { status: res.status, headers: res.headers });
			};
			tf = await Tenfour.open({ core: await core(), schema: SCHEMA,
				baseUrl: srv.url, backend: memoryBackend(), autoSync: false, fetch: tap });
			const { publicKey } = await tf.enroll({ agency: 'demo', device: 'w-lock' });
			srv.admin(['device-enroll', 'w-lock', '--label', 'w-lock', '--pubkey', publicKey]);
			await tf.login({ user: 'alvarez', password: srv.user('alvarez').password,
				totp: await srv.code('alvarez'), bannerRev: 1, pin: '583920' });
			await tf.sync();
			/** @type {any} */
			let unit = null;
			for (const u of await tf.records.list({ entity: 'unit' }))
				if ((await tf.records.get(u.id)).record.f.callsign?.v === '2A12') unit = u;
			const m = await tf.mutate.set(unit.id, { status: 'enroute' });
			hold = true;
			const isReplied = new Promise((r) => { replied = r; });
			const round = tf.sync().then(() => 'done', (/** @type {any} */ e) => e.code);
			await isReplied;
			/** @type {string[]} */
			const states = [];
			tf.on('state', (/** @type {any} */ d) => states.push(d.state));
			const locked = tf.lock();
			// Data calls are refused at once; the keys stay until the
			// reply is persisted.
			await assert.rejects(tf.records.list(), { code: 'locked' });
			assert.equal((await tf.status()).unlocked, false);
			/** @type {any} */ (release)();
			await locked;
			assert.equal(tf.state, 'locked');
			assert.deepEqual(states, ['locked']);
			assert.ok(['done', 'locked'].includes(await round), `round: ${await round}`);
			await tf.unlock('583920');
			await tf.sync();
			assert.equal((await tf.status()).pending, 0);
			assert.equal((await tf.records.get(unit.id)).sync, 'synced');
			assert.deepEqual(sent, [m.cmd_id], 'the command went once');
			assert.deepEqual(results, ['applied'], 'no duplicate at the server');
		} finally {
			await tf?.close();
			await srv.stop();
		}
	});
