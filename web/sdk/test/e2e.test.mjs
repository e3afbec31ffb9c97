// e2e.test.mjs - the SDK against a real tenfourd on loopback (Node: the
// store on the memory backend, WebCrypto and fetch from Node).  Enroll,
// login with the device proof, first sync, offline work, reload,
// resume, supersede, revocation with its wipe receipt.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Tenfour, memoryBackend } from '../tenfour.mjs';
import { core, SCHEMA } from './helpers.mjs';
import { startServer, haveServer } from './server.mjs';

const PIN = '583920';
/** @type {any} */
let srv;

before(async () => {
	if (haveServer) srv = await startServer();
});
after(async () => {
	await srv?.stop();
});

/**
 * A browser "profile": a backend that survives reloads.
 * @param {string} device @param {object} [o]
 */
async function profile(device, o = {}) {
	const backend = memoryBackend();
	const open = async () => Tenfour.open({ core: await core(), schema: SCHEMA,
		baseUrl: srv.url, backend, autoSync: false, ...o });
	const tf = await open();
	const { publicKey } = await tf.enroll({ agency: 'demo', device });
	srv.admin(['device-enroll', device, '--label', device, '--pubkey', publicKey]);
	return { tf, backend, open };
}

/** @param {any} tf @param {string} user */
async function login(tf, user) {
	const b = await tf.banner();
	return tf.login({ user, password: srv.user(user).password,
		totp: await srv.code(user), bannerRev: b.banner_rev, pin: PIN });
}

test('enroll, login, first sync, local work, push, the other side sees it',
	{ skip: !haveServer && 'build/native/tenfourd not built' }, async () => {
		const a = await profile('web-2a12');
		assert.equal(a.tf.state, 'enrolled');
		const r = await login(a.tf, 'alvarez');
		assert.equal(a.tf.state, 'unlocked');
		assert.equal(r.user.id, 'alvarez');
		const s1 = await a.tf.sync();
		assert.ok(s1.records > 0, 'the first pull brings records');
		const units = await a.tf.records.list({ entity: 'unit' });
		/** @type {any} */
		let mine = null;
		for (const u of units) {
			const v = await a.tf.records.get(u.id);
			if (v.record.f.callsign?.v === '2A12') mine = v;
		}
		assert.ok(mine, 'unit 2A12 is in the store');
		await a.tf.mutate.set(mine.record.id, { status: 'enroute' });
		let st = await a.tf.status();
		assert.equal(st.pending, 1);
		await a.tf.sync();
		st = await a.tf.status();
		assert.equal(st.pending, 0);
		assert.equal((await a.tf.records.get(mine.record.id)).sync, 'synced');

		// Dispatcher Dana, another browser, sees the status.
		const d = await profile('web-console');
		await login(d.tf, 'dana');
		await d.tf.sync();
		const dv = await d.tf.records.get(mine.record.id);
		assert.equal(dv.record.f.status.v, 'enroute');

		// The audit chain went up and verifies locally.
		const v = await a.tf.auditVerify();
		assert.equal(v.fault, 'ok');
		assert.equal(a.tf.auditError, undefined, String(a.tf.auditError));
		assert.ok((await a.tf.audit()).length > 3);

		// Offline: the server is unreachable, work queues; a reload
		// (a new Tenfour over the same store) keeps it; unlock with the
		// PIN offline; back online it syncs.
		const off = await a.open();
		assert.equal(off.state, 'locked');
		await off.unlock(PIN);
		assert.equal((await off.status()).pending, 0);
		const incs = await off.records.list({ entity: 'incident' });
		assert.ok(incs.length > 0, 'records survive a reload');
		const inc = incs[0].id;
		await off.mutate.append(inc, 'notes', { text: 'MARKER-OFFLINE-1' });
		const dead = await Tenfour.open({ core: await core(), schema: SCHEMA,
			baseUrl: 'http://127.0.0.1:1', backend: a.backend, autoSync: false });
		await dead.unlock(PIN);
		// The session resumes after the reload (its token is sealed in
		// the store); the server is unreachable: the work stays queued.
		await assert.rejects(dead.sync(), { code: 'unreachable' });
		assert.equal((await dead.status()).pending, 1);
		assert.equal((await dead.status()).online, false);
		dead.lock();
		await off.unlock(PIN).catch(() => {});
		await off.sync();
		assert.equal((await off.status()).pending, 0);
		await d.tf.sync();
		const seen = (await d.tf.records.get(inc)).record.f.notes.e
			.some((/** @type {any} */ e) => e.v.text === 'MARKER-OFFLINE-1');
		assert.ok(seen, 'the note reached dispatch');

		// Nothing in the store in clear.
		for (const [, m] of a.backend.data)
			for (const [, val] of m) {
				const s = JSON.stringify(val, (_k, x) =>
					x instanceof Uint8Array ? Buffer.from(x).toString('latin1') : x);
				assert.ok(!s.includes('MARKER-OFFLINE'), 'plaintext in the store');
				assert.ok(!s.includes('enroute'), 'plaintext in the store');
			}
		off.close();
		dead.close();
		d.tf.close();
		a.tf.close();
	});

test('supersede: a stale offline status loses to dispatch and is noticed',
	{ skip: !haveServer && 'build/native/tenfourd not built' }, async () => {
		const b = await profile('web-2a14');
		await login(b.tf, 'brooks');
		await b.tf.sync();
		const d = await profile('web-console-2');
		await login(d.tf, 'dana');
		await d.tf.sync();
		/** @type {string|null} */
		let unit = null;
		for (const u of await b.tf.records.list({ entity: 'unit' }))
			if ((await b.tf.records.get(u.id)).record.f.callsign?.v === '2A14')
				unit = u.id;
		assert.ok(unit);
		// Brooks offline sets a status; Dana sets another later online.
		await b.tf.mutate.set(/** @type {string} */ (unit), { status: 'onscene' });
		await new Promise((r) => setTimeout(r, 5));
		await d.tf.mutate.set(/** @type {string} */ (unit), { status: 'busy' });
		await d.tf.sync();
		await b.tf.sync();
		const n = await b.tf.notices();
		assert.equal(n.length, 1);
		assert.equal(n[0].kind, 'superseded');
		assert.equal((await b.tf.records.get(/** @type {string} */ (unit)))
			.record.f.status.v, 'busy');
		await b.tf.acknowledge(n[0].id);
		assert.equal((await b.tf.notices()).length, 0);
		b.tf.close();
		d.tf.close();
	});

test('revoked device: wiped at next contact, signed receipt accepted',
	{ skip: !haveServer && 'build/native/tenfourd not built' }, async () => {
		const p = await profile('web-sup');
		await login(p.tf, 'sgt.reyes');
		await p.tf.sync();
		await p.tf.mutate.create('bolo', { kind: 'vehicle',
			reason_wanted: 'MARKER-REVOKE' }).catch(() => null);
		/** @type {any[]} */
		const evs = [];
		p.tf.on('revoked', (d) => evs.push(d));
		srv.admin(['device-revoke', 'web-sup']);
		await assert.rejects(p.tf.sync(), { code: 'device_revoked' });
		for (let i = 0; i < 50 && !evs.length; i++)
			await new Promise((r) => setTimeout(r, 20));
		assert.equal(p.tf.state, 'wiped');
		assert.deepEqual(evs, [{ receipt: true }]);
		assert.equal((await p.backend.entries('record')).length, 0);
		assert.equal(await p.backend.get('meta', 'keyring'), undefined);
		const list = srv.admin(['device-list']);
		assert.match(list, /web-sup.*wiped/);
		p.tf.close();
	});

test('clock 90 s fast: clock_skew re-stamps and the push goes through; purge on leaving scope',
	{ skip: !haveServer && 'build/native/tenfourd not built' }, async () => {
		const fast = { wall: () => Date.now() + 90000,
			mono: () => Math.floor(performance.now()) };
		/** @type {string[]} */
		const statuses = [];
		/** @type {typeof fetch} */
		const tap = async (u, i) => {
			const r = await fetch(u, i);
			if (String(u).endsWith('/v1/sync/push'))
				for (const x of (await r.clone().json()).results ?? [])
					statuses.push(x.status);
			return r;
		};
		const b = await profile('web-2a14-fast', { clock: fast, fetch: tap });
		await login(b.tf, 'brooks');
		await b.tf.sync();
		const incs = await b.tf.records.list({ entity: 'incident' });
		assert.ok(incs.length > 0, '2A14 sees its incidents');
		const inc = incs[0].id;
		await b.tf.mutate.append(inc, 'notes', { text: 'from a fast clock' });
		await b.tf.sync();
		const st = await b.tf.status();
		assert.equal(st.pending, 0, 'the skewed command was re-stamped and applied');
		assert.deepEqual(statuses, ['clock_skew', 'applied']);
		assert.equal(st.rejected, 0);

		// Dana takes 2A14 off the incident: Brooks's device purges it.
		const d = await profile('web-console-3');
		await login(d.tf, 'dana');
		await d.tf.sync();
		await d.tf.mutate.setRemove(inc, 'assigned_units', '2A14');
		await d.tf.sync();
		await b.tf.sync();
		const after = (await b.tf.records.list({ entity: 'incident' }))
			.map((/** @type {any} */ r) => r.id);
		assert.ok(!after.includes(inc), 'the record left the device');
		const types = (await b.tf.audit()).map((/** @type {any} */ e) => e.entry.type);
		assert.ok(types.includes('purge'));
		b.tf.close();
		d.tf.close();
	});

test('text conflict: concurrent remarks, resolved side by side, audited',
	{ skip: !haveServer && 'build/native/tenfourd not built' }, async () => {
		const a = await profile('web-2a12-c');
		await login(a.tf, 'alvarez');
		await a.tf.sync();
		// The supervisor (dana's TOTP steps are used up by now).
		const d = await profile('web-sup-4');
		await login(d.tf, 'sgt.reyes');
		await d.tf.sync();
		const [inc] = await a.tf.records.list({ entity: 'incident' });
		assert.ok(inc);
		// Both edit the same revision of the remarks.
		await a.tf.mutate.editText(inc.id, 'remarks', 'Officer: DV, suspect left on foot.');
		await d.tf.mutate.editText(inc.id, 'remarks', 'Sgt: assault with a weapon.');
		await d.tf.sync();
		await a.tf.sync();
		const cs = await a.tf.conflicts();
		assert.equal(cs.length, 1);
		assert.equal(cs[0].field, 'remarks');
		assert.equal(cs[0].conflict.proposed, 'Officer: DV, suspect left on foot.');
		assert.equal(cs[0].conflict.head, 'Sgt: assault with a weapon.');
		await assert.rejects(a.tf.resolve(inc.id, 'remarks', 'custom'),
			{ code: 'invalid_argument' });
		const text = 'Sgt: assault with a weapon. Officer: suspect left on foot.';
		await a.tf.resolve(inc.id, 'remarks', 'custom', text);
		await a.tf.sync();
		assert.equal((await a.tf.conflicts()).length, 0);
		await d.tf.sync();
		assert.equal((await d.tf.records.get(inc.id)).record.f.remarks.v, text);
		const types = (await a.tf.audit()).map((/** @type {any} */ e) => e.entry.type);
		assert.ok(types.includes('conflict_resolution'));
		a.tf.close();
		d.tf.close();
	});
