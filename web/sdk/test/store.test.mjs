// store.test.mjs - the sealed store and the public API over the memory
// backend with a stand-in server (login and keys only): no plaintext,
// parts round trip, quota refusal never a silent drop, two tabs sharing
// one store, idle lock and grant checks on data calls, PIN wipe.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBackend } from '../backend.mjs';
import { openKeyring, verifyGrant } from '../keyring.mjs';
import { Store } from '../store.mjs';
import { Tenfour } from '../tenfour.mjs';
import { core, fakeClock, serverKeys, claimsAt, SCHEMA } from './helpers.mjs';

const PIN = '583920';

/** A fetch that answers banner, keys and login like tenfourd. */
async function fakeServer(clock, extra = {}) {
	const srv = await serverKeys();
	/** @type {string[]} */
	const calls = [];
	/** @param {string} url @param {any} init */
	const fetch = async (url, init = {}) => {
		const path = new URL(url, 'http://x').pathname;
		calls.push(`${init.method ?? 'GET'} ${path}`);
		/** @param {number} st @param {any} body */
		const reply = (st, body) => new Response(JSON.stringify(body),
			{ status: st, headers: { 'Content-Type': 'application/json' } });
		if (path === '/v1/keys') return reply(200, srv.keys);
		if (path === '/v1/auth/banner')
			return reply(200, { agency: 'demo', banner: 'AC-8', banner_rev: 1 });
		if (path === '/v1/auth/login') {
			const b = JSON.parse(init.body);
			const grant = await srv.grant(claimsAt(clock.wall(),
				{ user: b.user, device: b.device_id, ...extra }));
			return reply(200, { token: 't'.repeat(43),
				expires_at: clock.wall() + 3600000, grant,
				user: { id: b.user, name: b.user, roles: ['officer'] } });
		}
		throw new TypeError('fetch failed');
	};
	return { fetch, calls };
}

/** @param {object} [o] */
async function tab(o = {}) {
	const clock = /** @type {any} */ (o).clock ?? fakeClock();
	const { fetch } = await fakeServer(clock, /** @type {any} */ (o).claims);
	const tf = await Tenfour.open({ core: await core(), schema: SCHEMA,
		backend: /** @type {any} */ (o).backend ?? memoryBackend(), clock,
		fetch, autoSync: false, ...o });
	return { tf, clock };
}

/** @param {any} tf */
async function login(tf) {
	if (tf.state === 'new') await tf.enroll({ agency: 'demo', device: 'mdt-2a12' });
	await tf.login({ user: 'alvarez', password: 'x', totp: '000000',
		bannerRev: 1, pin: PIN });
}

test('parts round trip; rows are ciphertext under opaque keys', async () => {
	const c = await core();
	const backend = memoryBackend();
	const clock = fakeClock();
	const kr = await openKeyring({ backend, core: c, clock });
	const srv = await serverKeys();
	const g = await srv.grant(claimsAt(clock.wall()));
	const claims = await verifyGrant(c, g, srv.keys);
	await kr.acceptGrant(g, claims, clock.wall());
	await kr.unlockAtLogin(PIN, claims);
	const st = new Store(backend, kr);
	const id = '019ab697-e800-7000-8000-000000000000';
	const rec = `{"entity":"incident","f":{"remarks":{"v":"MARKER-1"}},"id":"${id}","mhlc":"019ab697e8000000","ver":3}`;
	await st.commit({ putRecords: [{ id, json: rec }],
		putPending: [{ seq: 1, json: '{"at":1,"cmd":"MARKER-2"}' }], head: '{"h":1}' },
	{ audit: [{ seq: 1, bytes: '{"MARKER-3":1}', hash: 'ab' }],
		secrets: { session: { token: 'MARKER-4' } } });
	const dump = JSON.stringify([...backend.data].map(([s, m]) => [s, [...m]]),
		(_k, x) => (x instanceof Uint8Array ? Buffer.from(x).toString('latin1') : x));
	for (const m of ['MARKER', id, '019ab697'])
		assert.ok(!dump.includes(m), `${m} in clear`);
	const p = await st.loadParts();
	assert.equal(p.head, '{"h":1}');
	assert.deepEqual(p.records, [rec]);
	assert.equal(p.pending.length, 1);
	assert.equal((await st.secret('session')).token, 'MARKER-4');
	assert.equal((await st.audit())[0].bytes, '{"MARKER-3":1}');
	assert.ok(st.recordBytes() > 0);
	// The version is bound: a record row copied under another key fails.
	const rows = await backend.entries('record');
	await backend.write({ put: [['record', 'other', rows[0][1]]] });
	await assert.rejects(st.loadParts(), { code: 'internal_error' });
	await st.commit({ delRecords: [id] });
	await backend.write({ del: [['record', 'other']] });
	assert.equal((await st.loadParts()).records.length, 0);
	// Over the budget: the core's policy picks synced records only.
	await st.commit({ putRecords: [{ id, json: rec }] });
	st.budget = 1;
	const q = await st.checkQuota(c, () => ({ state: 'pending', in_scope: true }));
	assert.deepEqual(q.evict, []);
	assert.equal(q.met, false);
	const q2 = await st.checkQuota(c, () => ({ state: 'synced', in_scope: true }));
	assert.deepEqual(q2.evict, [id]);
});

test('quota exceeded: the mutation is refused loudly and not kept', async () => {
	const backend = memoryBackend();
	const { tf } = await tab({ backend });
	await login(tf);
	const r = await tf.mutate.create('incident', { priority: 2, status: 'pending' });
	assert.equal((await tf.status()).pending, 1);
	// Now the browser refuses more bytes.
	const full = memoryBackend({ data: backend.data, quota: 1 });
	tf.backend = full;
	tf.store.backend = full;
	tf.kr.backend = full;
	await assert.rejects(tf.mutate.set(r.record_id, { priority: 1 }),
		{ code: 'quota_exceeded' });
	const st = await tf.status();
	assert.equal(st.pending, 1, 'the refused command is not in memory either');
	assert.equal((await tf.records.get(r.record_id).catch(() => null)), null,
		'reads that must audit are refused too, loudly');
	tf.close();
});

test('two tabs on one store: commands keep contiguous seqs, both converge', async () => {
	const data = memoryBackend().data;
	const a = await tab({ backend: memoryBackend({ data }), name: 't2' });
	await login(a.tf);
	const b = await tab({ backend: memoryBackend({ data }), name: 't2', clock: a.clock });
	assert.equal(b.tf.state, 'locked');
	await b.tf.unlock(PIN);
	const x = await a.tf.mutate.create('incident', { priority: 2, status: 'pending' });
	const seen = new Promise((resolve) => b.tf.on('change', resolve));
	await seen;
	assert.equal((await b.tf.records.get(x.record_id)).sync, 'pending');
	await b.tf.mutate.set(x.record_id, { priority: 1 });
	await a.tf.mutate.set(x.record_id, { priority: 3 });
	// The queue: one create and two sets, seqs 1..3, none twice.
	const host = /** @type {any} */ (a.tf.host);
	await host.fresh();
	const req = a.tf.core.call('replica.push_request', { replica: host.r });
	assert.deepEqual(req.commands.map((/** @type {any} */ c) => c.seq), [1, 2, 3]);
	assert.equal((await a.tf.records.get(x.record_id)).record.f.priority.v, 3);
	await new Promise((r) => setTimeout(r, 50));
	assert.equal((await b.tf.records.get(x.record_id)).record.f.priority.v, 3);
	a.tf.close();
	b.tf.close();
});

test('data calls: idle lock, grant expiry, wrong PINs wipe', async () => {
	const { tf, clock } = await tab({ name: 't3' });
	await login(tf);
	/** @type {string[]} */
	const evs = [];
	tf.on('*', (e) => evs.push(e.type));
	await tf.mutate.create('incident', { priority: 2, status: 'pending' });
	clock.advance(900001);
	await assert.rejects(tf.records.list(), { code: 'locked' });
	assert.equal(tf.state, 'locked');
	assert.ok(evs.includes('locked'));
	await tf.unlock(PIN);
	assert.equal((await tf.records.list()).length, 1, 'work survives the lock');
	clock.advance(8 * 3600000);
	await assert.rejects(tf.records.list(), { code: 'locked' });
	await assert.rejects(tf.unlock(PIN), { code: 'expired' });
	tf.close();

	const t2 = await tab({ name: 't4' });
	await login(t2.tf);
	t2.tf.lock();
	await assert.rejects(t2.tf.unlock('000000'), { attemptsLeft: 2 });
	await assert.rejects(t2.tf.unlock('000001'), { attemptsLeft: 1 });
	await assert.rejects(t2.tf.unlock('000002'), { code: 'wipe_required' });
	assert.equal(t2.tf.state, 'wiped');
	// Audit events of the failures were queued sealed, then erased.
	await login(t2.tf);
	assert.equal(t2.tf.state, 'unlocked');
	assert.equal((await t2.tf.records.list()).length, 0);
	t2.tf.close();
});

test('locked audit events reach the chain at the next unlock', async () => {
	const { tf } = await tab({ name: 't5' });
	await login(tf);
	tf.lock();
	await assert.rejects(tf.unlock('000000'), { code: 'unauthenticated' });
	await tf.unlock(PIN);
	const types = (await tf.audit()).map((e) => e.entry.type);
	for (const t of ['unlock_ok', 'lock', 'unlock_fail'])
		assert.ok(types.includes(t), `${t} in ${types}`);
	const v = await tf.auditVerify();
	assert.equal(v.fault, 'ok');
	tf.close();
});

test('a store of a newer layout is refused at open', async () => {
	const backend = memoryBackend();
	await backend.write({ put: [['meta', 'layout', 99]] });
	await assert.rejects(Tenfour.open({ core: await core(), schema: SCHEMA,
		backend }), { code: 'store_newer' });
});

test('per-record rows when the core checkpoints; whole save otherwise', async () => {
	const backend = memoryBackend();
	const { tf } = await tab({ backend, name: 't6' });
	await login(tf);
	const r = await tf.mutate.create('incident', { priority: 2, status: 'pending' });
	await tf.mutate.set(r.record_id, { priority: 1 });
	const parts = /** @type {any} */ (tf.host).parts;
	if (parts) {
		assert.equal((await backend.entries('pending')).length, 2, 'a row per command');
		assert.equal(await tf.store.head('save'), undefined);
	} else {
		assert.ok(await tf.store.head('save'));
	}
	// A reload reads it back the same.
	tf.lock();
	await tf.unlock(PIN);
	const v = await tf.records.get(r.record_id);
	assert.equal(v.record.f.priority.v, 1);
	assert.equal(v.pending.length, 2);
	tf.close();
});
