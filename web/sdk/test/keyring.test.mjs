// keyring.test.mjs - the WebCrypto keyring in Node: wrapping, unlock
// policy (grant first, count before trying, wipe), sealing and its AAD,
// the device identity's signatures, grant verification, idle lock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBackend } from '../backend.mjs';
import { openKeyring, verifyGrant, MIN_PBKDF2_ITER } from '../keyring.mjs';
import { enc, dec, unb64url } from '../util.mjs';
import { core, fakeClock, serverKeys, claimsAt } from './helpers.mjs';

const PIN = '583920';

async function setup(o = {}) {
	const c = await core();
	const clock = fakeClock();
	const backend = o.backend ?? memoryBackend();
	/** @type {Array<[string, boolean, any]>} */
	const audit = [];
	const kr = await openKeyring({ backend, core: c, clock,
		audit: (t, ok, d) => audit.push([t, ok, d]), ...o });
	const srv = await serverKeys();
	return { c, clock, backend, kr, srv, audit };
}

async function loggedIn(o = {}) {
	const s = await setup(o);
	await s.kr.identity();
	const grant = await s.srv.grant(claimsAt(s.clock.wall(), o.claims));
	const claims = await verifyGrant(s.c, grant, s.srv.keys);
	await s.kr.acceptGrant(grant, claims, s.clock.wall());
	await s.kr.unlockAtLogin(PIN, claims);
	return { ...s, grant, claims };
}

test('iterations below 600,000 are refused', async () => {
	const c = await core();
	await assert.rejects(openKeyring({ backend: memoryBackend(), core: c,
		iterations: 1000 }), { code: 'out_of_range' });
	assert.equal(MIN_PBKDF2_ITER, 600000);
});

test('grant: verified with Ed25519 against /v1/keys, claims checked', async () => {
	const { c, srv, clock } = await setup();
	const g = await srv.grant(claimsAt(clock.wall()));
	const claims = await verifyGrant(c, g, srv.keys);
	assert.equal(claims.user, 'alvarez');
	// A flipped byte of the claims, another key, a bad signature.
	const bad = { ...g, claims: g.claims.replace('alvarez', 'alvarex') };
	await assert.rejects(verifyGrant(c, bad, srv.keys),
		{ code: 'unauthenticated', message: /does not verify/ });
	const other = await serverKeys();
	await assert.rejects(verifyGrant(c, g, other.keys),
		{ code: 'unauthenticated', message: /not in the server/ });
	const sig = unb64url(g.sig);
	sig[3] ^= 1;
	const { b64url } = await import('../util.mjs');
	await assert.rejects(verifyGrant(c, { ...g, sig: b64url(sig) }, srv.keys),
		{ code: 'unauthenticated' });
	// Signed but beyond the CJIS ceiling: the core refuses it.
	const long = await srv.grant(claimsAt(clock.wall(),
		{ not_after: clock.wall() + 13 * 3600000 }));
	await assert.rejects(verifyGrant(c, long, srv.keys),
		{ code: 'unauthenticated', message: /12 h/ });
	// A key whose id is not the hash of its public key.
	const k = structuredClone(srv.keys);
	k.keys[0].key_id = 'k-0000000000000000';
	await assert.rejects(verifyGrant(c, { ...g, key_id: k.keys[0].key_id }, k),
		{ message: /does not match/ });
});

test('first login makes the keyring; PIN rules from the core', async () => {
	const s = await setup();
	const grant = await s.srv.grant(claimsAt(s.clock.wall()));
	const claims = await verifyGrant(s.c, grant, s.srv.keys);
	await s.kr.acceptGrant(grant, claims, s.clock.wall());
	await assert.rejects(s.kr.unlockAtLogin('123456', claims),
		{ code: 'validation_failed', message: /ascending/ });
	assert.equal(await s.kr.hasKeys(), false);
	await s.kr.unlockAtLogin(PIN, claims);
	assert.equal(s.kr.unlocked, true);
	// Nothing in the backend holds the PIN or raw key bytes in clear.
	const w = await s.backend.get('meta', 'keyring');
	assert.ok(w.ct instanceof Uint8Array && w.salt.length === 16);
	assert.equal(w.iter, 600000);
	const dk = await s.backend.get('meta', 'device_key');
	assert.equal(dk.extractable, false);
});

test('seal/open: AAD binds store, kind, key and version', async () => {
	const { kr } = await loggedIn();
	const row = await kr.seal('record', 'k1', 7, enc.encode('MARKER-123'));
	assert.ok(!Buffer.from(row.ct).toString('latin1').includes('MARKER'));
	assert.equal(row.iv.length, 12);
	assert.equal(dec.decode(await kr.open('record', 'k1', row)), 'MARKER-123');
	await assert.rejects(kr.open('record', 'k2', row), { code: 'internal_error' });
	await assert.rejects(kr.open('pending', 'k1', row), { code: 'internal_error' });
	await assert.rejects(kr.open('record', 'k1', { ...row, v: 8 }),
		{ code: 'internal_error' });
	const ct = row.ct.slice();
	ct[0] ^= 1;
	await assert.rejects(kr.open('record', 'k1', { ...row, ct }));
	// Two seals of the same bytes differ (random IVs).
	const row2 = await kr.seal('record', 'k1', 7, enc.encode('MARKER-123'));
	assert.notDeepEqual(row.iv, row2.iv);
	// Opaque keys: stable, not the id.
	const a = await kr.opaque('record', '019a0000-0000-7000-8000-000000000001');
	assert.equal(a, await kr.opaque('record', '019a0000-0000-7000-8000-000000000001'));
	assert.ok(!a.includes('019a'));
});

test('lock drops the keys; unlock with the PIN; wrong PIN counts first', async () => {
	const { kr, backend, audit } = await loggedIn();
	const row = await kr.seal('record', 'k', 1, enc.encode('x'));
	kr.lock();
	assert.equal(kr.unlocked, false);
	await assert.rejects(kr.open('record', 'k', row), { code: 'locked' });
	await assert.rejects(kr.seal('record', 'k', 1, enc.encode('x')),
		{ code: 'locked' });
	await assert.rejects(kr.unlock('000000'), (e) => {
		assert.equal(e.code, 'unauthenticated');
		assert.equal(e.attemptsLeft, 2);
		return true;
	});
	assert.equal(await kr.attemptsLeft(), 2);
	await kr.unlock(PIN);
	assert.equal(dec.decode(await kr.open('record', 'k', row)), 'x');
	assert.equal(await kr.attemptsLeft(), 3);
	assert.deepEqual(audit.map((a) => a[0]),
		['lock', 'unlock_fail', 'unlock_ok']);
	assert.ok(await backend.get('meta', 'keyring'));
});

test('the failure is persisted before the PIN is tried', async () => {
	const { kr, c, backend, clock } = await loggedIn();
	kr.lock();
	// A tab killed during the PBKDF2 of a guess: simulate by making the
	// try throw after the count was written.
	const orig = kr._try.bind(kr);
	kr._try = async () => { throw new Error('tab killed'); };
	await assert.rejects(kr.unlock('000000'), /tab killed/);
	kr._try = orig;
	const again = await openKeyring({ backend, core: c, clock });
	assert.equal(await again.attemptsLeft(), 2);
});

test('wipe_after failed unlocks crypto-erase the store', async () => {
	const { kr, backend, audit } = await loggedIn();
	await backend.write({ put: [['record', 'r', { ct: new Uint8Array(4) }]] });
	kr.lock();
	await assert.rejects(kr.unlock('000000'), { attemptsLeft: 2 });
	await assert.rejects(kr.unlock('000001'), { attemptsLeft: 1 });
	await assert.rejects(kr.unlock('000002'), { code: 'wipe_required' });
	assert.equal(await backend.get('meta', 'keyring'), undefined);
	assert.equal(await backend.get('meta', 'device_key'), undefined);
	assert.equal(await backend.get('meta', 'grant'), undefined);
	assert.equal((await backend.entries('record')).length, 0);
	assert.ok(await backend.get('meta', 'identity'), 'identity kept for the receipt');
	assert.ok(audit.some((a) => a[0] === 'wipe'));
	await assert.rejects(kr.unlock(PIN), { code: 'not_enrolled' });
});

test('expired grant and clock rollback refuse unlock before the PIN', async () => {
	const { kr, clock, audit } = await loggedIn();
	kr.lock();
	clock.advance(8 * 3600000 + 1);
	await assert.rejects(kr.unlock(PIN), { code: 'expired' });
	assert.equal(await kr.attemptsLeft(), 3, 'PIN not tried, not counted');
	const s = await loggedIn();
	s.kr.lock();
	s.clock.advance(60000);
	await s.kr.decide();
	s.clock.w -= 3600000; // wall clock set back an hour
	s.clock.m += 1000;
	await assert.rejects(s.kr.unlock(PIN), { code: 'clock_rollback' });
	assert.ok(s.audit.some((a) => a[0] === 'clock_rollback'));
	// Still refused after the wall clock is put right: an online login
	// is needed.
	s.clock.w += 3600000 * 2;
	await assert.rejects(s.kr.unlock(PIN), { code: 'clock_rollback' });
	void audit;
});

test('a copied store without the device key does not open', async () => {
	const { backend, c, clock } = await loggedIn();
	// Copy every row except the non-extractable device key (which cannot
	// leave the browser's key store): a new key is made, nothing opens.
	const copy = memoryBackend();
	for (const [s, m] of backend.data) for (const [k, v] of m)
		if (!(s === 'meta' && k === 'device_key')) copy.data.get(s)?.set(k, v);
	const kr2 = await openKeyring({ backend: copy, core: c, clock });
	await assert.rejects(kr2.unlock(PIN), { code: 'internal_error' });
	await assert.rejects(kr2._try(PIN), { code: 'unauthenticated',
		message: /device key/ });
});

test('device identity: Ed25519 login proof and wipe receipt', async () => {
	const { kr, backend } = await setup();
	const { publicKey } = await kr.identity();
	assert.equal((await kr.identity()).publicKey, publicKey, 'made once');
	const id = await backend.get('meta', 'identity');
	assert.equal(id.privateKey.extractable, false);
	const pub = await crypto.subtle.importKey('raw', unb64url(publicKey),
		{ name: 'Ed25519' }, false, ['verify']);
	const sig = await kr.signLogin('demo', 'alvarez', 'mdt-2a12', 1764000000000);
	assert.ok(await crypto.subtle.verify('Ed25519', pub, unb64url(sig),
		enc.encode('tenfour-login\ndemo\nalvarez\nmdt-2a12\n1764000000000')));
	const ws = await kr.signWipe('demo', 'mdt-2a12', 5);
	assert.ok(await crypto.subtle.verify('Ed25519', pub, unb64url(ws),
		enc.encode('tenfour-wipe\ndemo\nmdt-2a12\n5')));
});

test('idle lock after the grant\'s lock_after; touch resets it', async () => {
	const { kr, clock } = await loggedIn();
	clock.advance(600000);
	let r = await kr.idle();
	assert.equal(r?.lock, false);
	kr.touch();
	clock.advance(600000);
	assert.equal((await kr.idle())?.lock, false);
	clock.advance(300001);
	r = await kr.idle();
	assert.equal(r?.lock, true);
	assert.equal(kr.unlocked, false);
});

test('key rotation: a new generation before the limit, old rows still open', async () => {
	const { kr } = await loggedIn({ rotateAfter: 3 });
	const rows = [];
	for (let i = 0; i < 7; i++)
		rows.push(await kr.seal('record', `k${i}`, 1, enc.encode(`v${i}`)));
	assert.deepEqual(rows.map((r) => r.g), [0, 0, 0, 1, 1, 1, 2]);
	kr.lock();
	await kr.unlock(PIN);
	for (let i = 0; i < 7; i++)
		assert.equal(dec.decode(await kr.open('record', `k${i}`, rows[i])), `v${i}`);
	// Counts resume from the reservation after an unlock: no reuse.
	assert.ok(/** @type {any} */ (kr.seals).used >= 1);
});

test('clock guard: each tab keeps its own monotonic anchor; only high_water, offset and tripped are stored', async () => {
	// Tab 1 has been open 10 minutes (performance.now() ~ 600,000); tab 2
	// opens now, its page clock starting near 0.  Same profile, same wall
	// clock.
	const t1 = await loggedIn();
	t1.clock.advance(600000);
	assert.equal((await t1.kr.decide())?.status, 'ok', 'tab 1 after 10 minutes');
	const wall = t1.clock;
	const clock2 = { wall: () => wall.w, mono: () => m2 };
	let m2 = 5;
	const kr2 = await openKeyring({ backend: t1.backend, core: t1.c, clock: clock2 });
	assert.equal((await kr2.decide())?.status, 'ok', 'tab 2 at its first check');
	for (let i = 0; i < 5; i++) {
		wall.advance(3000);
		m2 += 3000;
		assert.equal((await t1.kr.decide())?.status, 'ok', `tab 1, check ${i}`);
		assert.equal((await kr2.decide())?.status, 'ok', `tab 2, check ${i}`);
	}
	const stored = await t1.kr.getMeta('guard');
	assert.deepEqual(Object.keys(stored).sort(), ['high_water', 'offset', 'tripped']);
	assert.equal(stored.high_water, wall.w);
	// A store of an older SDK with another page's anchor in it: ignored.
	await t1.kr.putMeta('guard', { ...stored, anchor_mono: 10 ** 9,
		anchor_wall: wall.w });
	assert.equal((await kr2.decide())?.status, 'ok', 'a stored anchor is not used');
	assert.equal((await t1.kr.getMeta('guard')).anchor_mono, undefined);
	// Within one tab the anchor still catches a clock set back.
	wall.w -= 120000;
	m2 += 1000;
	assert.equal((await kr2.decide())?.status, 'clock_rollback');
	// ... and the verdict is shared: tab 1 is refused too.
	wall.w += 120000;
	assert.equal((await t1.kr.getMeta('guard')).tripped, 'clock_rollback');
	await assert.rejects(t1.kr.requireGrant(), { code: 'clock_rollback' });
});
