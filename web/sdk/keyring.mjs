// keyring.mjs - the browser keyring, WebCrypto only (ARCHITECTURE.md
// section 4; the same rules as src/store/store.h and the native client).
//
// Keys:
//  - data keys (DEKs): random AES-GCM-256, one per generation; a new
//    generation starts long before one key has sealed 2^32 times
//    (SP 800-38D); older ones stay to open older rows.  Plus a random
//    HMAC key that turns record ids into the opaque keys IndexedDB sees.
//  - the keyring (those raw keys, JSON) is wrapped twice over: inside by
//    an AES-GCM key from PBKDF2-SHA-256 (>= 600,000 iterations, 128-bit
//    salt) of the PIN or passphrase, outside by the device key: a
//    non-extractable AES-GCM CryptoKey made here and kept in IndexedDB
//    (its bytes never leave the browser's key store).  Opening needs both.
//  - meta entries that must be read before the PIN is known (the grant,
//    the clock guard, the failed-unlock count, the enrollment) are sealed
//    by the device key alone.
//  - the device identity: an Ed25519 key pair, private key
//    non-extractable, for the login proof and wipe receipts (API.md).
//
// Unlock follows policy.h through the core's JSON API: the grant is
// decided (expiry, clock rollback) before the PIN is tried; the failure
// count is persisted before the PIN is tried; the grant's wipe_after-th
// failure crypto-erases the store (keys first, then data).  lock() drops
// every reference to the unwrapped keys (a CryptoKey cannot be zeroed;
// raw bytes are zeroed as soon as they are imported).

import { TenfourWebError, b64url, dec, enc, randomBytes, randomHex,
	sha256hex, systemClock, unb64url } from './util.mjs';

export const MIN_PBKDF2_ITER = 600000;
/** Seals per DEK generation before the next one starts. */
export const ROTATE_AFTER = 2 ** 28;
/** Seal counts are reserved in the store this far ahead of use. */
const RESERVE = 4096;

const subtle = () => {
	if (!globalThis.crypto?.subtle)
		throw new TenfourWebError('internal_error', 'WebCrypto is not ' +
			'available (a secure context, https or localhost, is needed)');
	return globalThis.crypto.subtle;
};

/**
 * @typedef {object} Grant   the offline grant as the server signed it
 * @property {string} claims canonical claims JSON text (signed bytes)
 * @property {string} key_id
 * @property {string} sig    base64url Ed25519 signature
 */
/**
 * @typedef {object} Claims
 * @property {string} agency @property {string} device @property {string} user
 * @property {string[]} roles @property {string} key_id
 * @property {number} issued_at @property {number} not_after
 * @property {number} lock_after @property {number} wipe_after
 */

/**
 * Verifies a grant against the server's /v1/keys document with WebCrypto
 * Ed25519, then checks its claims with the core (policy.grant: CJIS
 * ceilings).  Returns the claims.  Throws unauthenticated on any fault.
 * @param {any} core  the loaded core (core.mjs)
 * @param {Grant} grant
 * @param {{keys: Array<{alg: string, key_id: string, public_key: string}>}} keys
 * @returns {Promise<Claims>}
 */
export async function verifyGrant(core, grant, keys) {
	const bad = (/** @type {string} */ m) =>
		new TenfourWebError('unauthenticated', `offline grant: ${m}`,
			{ where: 'grant' });
	if (!grant || typeof grant.claims !== 'string' ||
	    typeof grant.key_id !== 'string' || typeof grant.sig !== 'string')
		throw bad('claims, key_id and sig are required');
	const k = keys?.keys?.find((x) => x.key_id === grant.key_id);
	if (!k) throw bad(`signing key ${grant.key_id.slice(0, 64)} is not ` +
		'in the server\'s /v1/keys');
	if (k.alg !== 'Ed25519') throw bad(`key ${k.key_id} is not Ed25519`);
	const pub = unb64url(k.public_key);
	if (pub.length !== 32) throw bad(`key ${k.key_id} is not 32 bytes`);
	if (/^k-[0-9a-f]{16}$/.test(k.key_id) &&
	    (await sha256hex(pub)).slice(0, 16) !== k.key_id.slice(2))
		throw bad(`key ${k.key_id} does not match its public key`);
	const key = await subtle().importKey('raw', pub, { name: 'Ed25519' },
		false, ['verify']);
	const sig = unb64url(grant.sig);
	const ok = sig.length === 64 && await subtle().verify('Ed25519', key,
		sig, enc.encode(grant.claims));
	if (!ok) throw bad('the signature does not verify');
	/** @type {Claims} */
	let claims;
	try {
		claims = core.call('policy.grant', grant.claims);
	} catch (e) {
		throw new TenfourWebError('unauthenticated', 'offline grant: ' +
			/** @type {Error} */ (e).message, { where: 'grant' });
	}
	if (claims.key_id !== grant.key_id)
		throw bad(`claims name key ${claims.key_id}, signed by ` +
			grant.key_id);
	return claims;
}

/**
 * @typedef {object} KeyringOpts
 * @property {import('./backend.mjs').Backend} backend
 * @property {any} core                the loaded core (core.mjs)
 * @property {import('./util.mjs').Clock} [clock]
 * @property {number} [iterations]     PBKDF2 iterations (>= 600,000)
 * @property {boolean} [exempt]        AC-11 exempt terminal
 * @property {number} [rotateAfter]    seals per DEK (tests go lower)
 * @property {(type: string, outcome: boolean, detail?: object) => void} [audit]
 *   called for unlock_ok/unlock_fail/lock/wipe/clock_rollback
 */

export class Keyring {
	/** @param {KeyringOpts} o @param {string} storeId */
	constructor(o, storeId) {
		this.backend = o.backend;
		this.core = o.core;
		this.clock = o.clock ?? systemClock;
		this.iterations = o.iterations ?? MIN_PBKDF2_ITER;
		this.exempt = !!o.exempt;
		this.rotateAfter = o.rotateAfter ?? ROTATE_AFTER;
		this.audit = o.audit ?? (() => {});
		/** Random id of this store: part of every AAD. */
		this.storeId = storeId;
		/** @type {CryptoKey|null} */
		this._dev = null;
		/** @type {CryptoKey[]|null} one AES key per generation */
		this._deks = null;
		/** @type {CryptoKey|null} */
		this._idx = null;
		/** @type {CryptoKey|null} the PIN's KEK, kept to rotate */
		this._kek = null;
		/** @type {{gen: number, used: number, reserved: number}|null} */
		this._seal = null;
		this._lastActivity = this.clock.mono();
		/**
		 * The clock guard's anchor (policy.h: kept in memory only).  A
		 * monotonic reading (performance.now()) is comparable only
		 * within one page: each tab has its own time origin.  So only
		 * high_water, offset and tripped are stored and shared by the
		 * tabs; every page anchors itself, at its first check.
		 * @type {{anchor_wall: number, anchor_mono: number}|null}
		 */
		this._anchor = null;
	}

	// ------------------------------------------------------ device key

	/** The device key, made at the first use. @returns {Promise<CryptoKey>} */
	async deviceKey() {
		if (this._dev) return this._dev;
		let k = await this.backend.get('meta', 'device_key');
		if (!k) {
			k = await subtle().generateKey({ name: 'AES-GCM', length: 256 },
				false, ['encrypt', 'decrypt']);
			await this.backend.write({ put: [['meta', 'device_key', k]] });
		}
		this._dev = k;
		return k;
	}

	/**
	 * Seals a meta value (JSON) with the device key alone.
	 * @param {string} name @param {unknown} value
	 */
	async putMeta(name, value) {
		await this.backend.write({ put: [['meta', name,
			await this._sealDev(name, value)]] });
	}

	/** @param {string} name @param {unknown} value */
	async _sealDev(name, value) {
		const iv = randomBytes(12);
		const ct = new Uint8Array(await subtle().encrypt(
			{ name: 'AES-GCM', iv, additionalData: enc.encode(
				`tenfour-meta\n${this.storeId}\n${name}`) },
			await this.deviceKey(), enc.encode(JSON.stringify(value))));
		return { iv, ct };
	}

	/** @param {string} name @returns {Promise<any>} undefined when absent */
	async getMeta(name) {
		const row = await this.backend.get('meta', name);
		if (!row) return undefined;
		try {
			const pt = await subtle().decrypt({ name: 'AES-GCM', iv: row.iv,
				additionalData: enc.encode(
					`tenfour-meta\n${this.storeId}\n${name}`) },
				await this.deviceKey(), row.ct);
			return JSON.parse(dec.decode(new Uint8Array(pt)));
		} catch (e) {
			throw new TenfourWebError('internal_error', `meta ${name} ` +
				'does not open with this device\'s key (altered or ' +
				'copied from another browser)', { cause: e });
		}
	}

	// ------------------------------------------------- device identity

	/**
	 * The device identity (Ed25519, private key non-extractable), made at
	 * the first call.  `publicKey` is base64url of the 32 raw bytes: the
	 * administrator enrolls it (`tenfourd admin device-enroll ID
	 * --pubkey ...`).
	 * @returns {Promise<{publicKey: string}>}
	 */
	async identity() {
		let id = await this.backend.get('meta', 'identity');
		if (!id) {
			const kp = /** @type {CryptoKeyPair} */ (await subtle()
				.generateKey({ name: 'Ed25519' }, false,
					['sign', 'verify']));
			const raw = new Uint8Array(await subtle().exportKey('raw',
				kp.publicKey));
			id = { privateKey: kp.privateKey, publicKey: kp.publicKey,
				pub: b64url(raw) };
			await this.backend.write({ put: [['meta', 'identity', id]] });
		}
		return { publicKey: id.pub };
	}

	/** @param {string} text @returns {Promise<string>} base64url signature */
	async _sign(text) {
		const id = await this.backend.get('meta', 'identity');
		if (!id) throw new TenfourWebError('not_enrolled', 'this browser ' +
			'has no device identity yet (enroll it first)');
		return b64url(new Uint8Array(await subtle().sign('Ed25519',
			id.privateKey, enc.encode(text))));
	}

	/**
	 * The login proof of API.md: signs
	 * "tenfour-login\n<agency>\n<user>\n<device>\n<ts>".
	 * @param {string} agency @param {string} user @param {string} device
	 * @param {number} ts
	 */
	signLogin(agency, user, device, ts) {
		return this._sign(`tenfour-login\n${agency}\n${user}\n${device}\n${ts}`);
	}

	/**
	 * A wipe receipt's signature: "tenfour-wipe\n<agency>\n<device>\n<at>".
	 * @param {string} agency @param {string} device @param {number} wipedAt
	 */
	signWipe(agency, device, wipedAt) {
		return this._sign(`tenfour-wipe\n${agency}\n${device}\n${wipedAt}`);
	}

	// ----------------------------------------------------------- keyring

	/** @returns {Promise<boolean>} whether a keyring exists */
	async hasKeys() {
		return !!(await this.backend.get('meta', 'keyring'));
	}

	get unlocked() {
		return this._deks !== null;
	}

	/**
	 * @param {string} pin @param {Uint8Array} salt @param {number} iter
	 * @returns {Promise<CryptoKey>}
	 */
	async _kekOf(pin, salt, iter) {
		const base = await subtle().importKey('raw', enc.encode(pin),
			'PBKDF2', false, ['deriveKey']);
		return subtle().deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt,
			iterations: iter }, base, { name: 'AES-GCM', length: 256 },
		false, ['encrypt', 'decrypt']);
	}

	/**
	 * Wraps the keyring plaintext (inside: KEK; outside: device key).
	 * @param {CryptoKey} kek @param {{salt: Uint8Array, iter: number}} p
	 * @param {Uint8Array} pt
	 */
	async _wrap(kek, p, pt) {
		const iv1 = randomBytes(12);
		const iv2 = randomBytes(12);
		const inner = await subtle().encrypt({ name: 'AES-GCM', iv: iv1,
			additionalData: enc.encode(`tenfour-keyring-pin\n${this.storeId}`) },
		kek, pt);
		const outer = await subtle().encrypt({ name: 'AES-GCM', iv: iv2,
			additionalData: enc.encode(`tenfour-keyring-dev\n${this.storeId}`) },
		await this.deviceKey(), inner);
		return { v: 1, salt: p.salt, iter: p.iter, iv1, iv2,
			ct: new Uint8Array(outer) };
	}

	/**
	 * Imports the keyring plaintext; zeroes the raw bytes.
	 * @param {Uint8Array} pt
	 */
	async _install(pt) {
		const doc = JSON.parse(dec.decode(pt));
		pt.fill(0);
		/** @type {CryptoKey[]} */
		const deks = [];
		for (const g of doc.gens) {
			const raw = unb64url(g);
			deks.push(await subtle().importKey('raw', raw, 'AES-GCM', false,
				['encrypt', 'decrypt']));
			raw.fill(0);
		}
		const iraw = unb64url(doc.idx);
		this._idx = await subtle().importKey('raw', iraw,
			{ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
		iraw.fill(0);
		this._deks = deks;
		const seals = (await this.backend.get('meta', 'seals')) ??
			{ gen: deks.length - 1, reserved: 0 };
		// Start from the reservation: counts used before a crash or a
		// reload are never reused.
		this._seal = { gen: deks.length - 1,
			used: seals.gen === deks.length - 1 ? seals.reserved : 0,
			reserved: seals.gen === deks.length - 1 ? seals.reserved : 0 };
		this._lastActivity = this.clock.mono();
	}

	/**
	 * Makes a new keyring under `pin` (the first login); refuses a PIN or
	 * passphrase the core's rules reject.  Unlocked afterwards.
	 * @param {string} pin
	 */
	async create(pin) {
		if (this.iterations < MIN_PBKDF2_ITER)
			throw new TenfourWebError('out_of_range', 'PBKDF2 iterations ' +
				`must be at least ${MIN_PBKDF2_ITER}`, { where: 'iterations' });
		checkSecret(this.core, pin);
		const p = { salt: randomBytes(16), iter: this.iterations };
		const kek = await this._kekOf(pin, p.salt, p.iter);
		const raw = randomBytes(32);
		const idx = randomBytes(32);
		const pt = enc.encode(JSON.stringify({ gens: [b64url(raw)],
			idx: b64url(idx) }));
		raw.fill(0);
		idx.fill(0);
		const wrapped = await this._wrap(kek, p, pt);
		await this.backend.write({ put: [['meta', 'keyring', wrapped],
			['meta', 'seals', { gen: 0, reserved: 0 }]] });
		await this._install(pt);
		this._kek = kek;
		await this.putMeta('failures', { n: 0 });
	}

	/**
	 * Tries `pin` against the keyring: true when it opens (and installs
	 * the keys), false for a wrong PIN.  No policy: see unlock().
	 * @param {string} pin
	 */
	async _try(pin) {
		const w = await this.backend.get('meta', 'keyring');
		if (!w) throw new TenfourWebError('not_enrolled', 'no keyring on ' +
			'this device: sign in online first');
		let inner;
		try {
			inner = await subtle().decrypt({ name: 'AES-GCM', iv: w.iv2,
				additionalData: enc.encode(
					`tenfour-keyring-dev\n${this.storeId}`) },
			await this.deviceKey(), w.ct);
		} catch (e) {
			throw new TenfourWebError('unauthenticated', 'the keyring does ' +
				'not open with this browser\'s device key (copied store?)',
				{ cause: e });
		}
		const kek = await this._kekOf(pin, w.salt, w.iter);
		let pt;
		try {
			pt = new Uint8Array(await subtle().decrypt({ name: 'AES-GCM',
				iv: w.iv1, additionalData: enc.encode(
					`tenfour-keyring-pin\n${this.storeId}`) }, kek, inner));
		} catch {
			return false;
		}
		await this._install(pt);
		this._kek = kek;
		return true;
	}

	// ------------------------------------------------- grant and clock

	/**
	 * Accepts a grant verified by verifyGrant: stores it sealed and the
	 * clock guard (policy.grant_accept) the core computes from the
	 * server's time.  Also resets the failure count (an online login).
	 * @param {Grant} grant @param {Claims} claims @param {number} serverTime
	 */
	async acceptGrant(grant, claims, serverTime) {
		const guard = this.core.call('policy.grant_accept', { grant: claims,
			server_time: serverTime, now: this.clock.wall(),
			mono: this.clock.mono() });
		const { shared, anchor } = splitGuard(guard);
		await this.backend.write({ put: [
			['meta', 'grant', await this._sealDev('grant', { grant, claims })],
			['meta', 'guard', await this._sealDev('guard', shared)]] });
		this._anchor = anchor;
	}

	/** @returns {Promise<Claims|null>} the stored grant's claims */
	async claims() {
		return (await this.getMeta('grant'))?.claims ?? null;
	}

	/**
	 * The grant decision now (policy.grant_decide), guard persisted.
	 * @returns {Promise<{status: string, remaining_ms: number,
	 *   server_now: number, reason: string}|null>} null without a grant
	 */
	async decide() {
		const g = await this.getMeta('grant');
		if (!g) return null;
		// The stored part (a store of an older SDK may still hold an
		// anchor of another page: never used) and this page's anchor.
		const stored = await this.getMeta('guard');
		const { shared } = splitGuard(stored);
		const guard = stored ? { ...shared, ...(this._anchor ?? {}) } : stored;
		const d = this.core.call('policy.grant_decide', { grant: g.claims,
			guard, now: this.clock.wall(), mono: this.clock.mono() });
		const next = splitGuard(d.guard);
		this._anchor = next.anchor;
		if (JSON.stringify(next.shared) !== JSON.stringify(stored))
			await this.putMeta('guard', next.shared);
		if (d.status === 'clock_rollback' && shared.tripped !== 'clock_rollback')
			this.audit('clock_rollback', false, { reason: d.reason });
		return d;
	}

	/** Throws expired / clock_rollback unless the grant allows use now. */
	async requireGrant() {
		const d = await this.decide();
		if (!d) throw new TenfourWebError('unauthenticated', 'no offline ' +
			'grant on this device: sign in online');
		if (d.status === 'expired')
			throw new TenfourWebError('expired', d.reason, { where: 'grant' });
		if (d.status === 'clock_rollback')
			throw new TenfourWebError('clock_rollback', d.reason,
				{ where: 'clock' });
		return d;
	}

	// ------------------------------------------------------ lock/unlock

	/**
	 * Offline unlock (policy.h): the grant decided first; the failure
	 * count persisted before the PIN is tried; the wipe_after-th failure
	 * wipes (wipe_required).  A wrong PIN throws unauthenticated with
	 * attemptsLeft.
	 * @param {string} pin
	 */
	async unlock(pin) {
		if (!(await this.hasKeys()))
			throw new TenfourWebError('not_enrolled', 'no keyring on this ' +
				'device: sign in online first');
		const claims = await this.claims();
		await this.requireGrant();
		await this._unlockCounted(pin, /** @type {Claims} */ (claims).wipe_after);
	}

	/** @param {string} pin @param {number} wipeAfter */
	async _unlockCounted(pin, wipeAfter) {
		const failures = (await this.getMeta('failures'))?.n ?? 0;
		const b = this.core.call('policy.unlock_begin', { failures,
			wipe_after: wipeAfter });
		if (b.action === 'wipe') {
			await this.wipe('failed unlocks');
			throw new TenfourWebError('wipe_required', 'too many failed ' +
				'unlocks: the offline store was erased');
		}
		await this.putMeta('failures', { n: b.failures });
		const ok = await this._try(pin);
		const e = this.core.call('policy.unlock_end', { failures: b.failures,
			ok, wipe_after: wipeAfter });
		if (e.action === 'unlocked') {
			await this.putMeta('failures', { n: 0 });
			this.audit('unlock_ok', true);
			return;
		}
		this.audit('unlock_fail', false, { attempts_left: e.attempts_left });
		if (e.action === 'wipe') {
			await this.wipe('failed unlocks');
			throw new TenfourWebError('wipe_required', 'too many failed ' +
				'unlocks: the offline store was erased');
		}
		throw new TenfourWebError('unauthenticated', 'wrong PIN; ' +
			`${e.attempts_left} attempt(s) left before this device erases ` +
			'its offline data', { attemptsLeft: e.attempts_left });
	}

	/**
	 * At an online login: a new keyring under the PIN the first time,
	 * else the PIN must open it (counted like an unlock).
	 * @param {string} pin @param {Claims} claims
	 */
	async unlockAtLogin(pin, claims) {
		if (!(await this.hasKeys())) await this.create(pin);
		else if (!this.unlocked)
			await this._unlockCounted(pin, claims.wipe_after);
	}

	/** Failed unlocks left before a wipe (null without a grant). */
	async attemptsLeft() {
		const c = await this.claims();
		if (!c) return null;
		const n = (await this.getMeta('failures'))?.n ?? 0;
		return Math.max(0, c.wipe_after - n);
	}

	/** Drops every reference to unwrapped keys. */
	lock() {
		const was = this.unlocked;
		this._deks = null;
		this._idx = null;
		this._kek = null;
		this._seal = null;
		if (was) this.audit('lock', true);
	}

	/** Counts as user activity (resets the idle timer). */
	touch() {
		this._lastActivity = this.clock.mono();
	}

	/**
	 * The idle decision now (policy.idle); locks when due unless
	 * `o.keep` (the caller locks: tenfour.mjs first lets a sync exchange
	 * in flight persist its reply).
	 * @param {number} [agencyLockMs] @param {{keep?: boolean}} [o]
	 * @returns {Promise<{lock: boolean, left_ms: number, limit_ms: number}|null>}
	 */
	async idle(agencyLockMs, o = {}) {
		if (!this.unlocked) return null;
		const c = await this.claims();
		if (!c) return null;
		/** @type {Record<string, unknown>} */
		const input = { grant: c, last_activity: this._lastActivity,
			mono: this.clock.mono() };
		if (agencyLockMs) input.agency_lock_ms = agencyLockMs;
		if (this.exempt) input.exempt = true;
		const r = this.core.call('policy.idle', input);
		if (r.lock && !o.keep) this.lock();
		return r;
	}

	/**
	 * Crypto-erase: the wrapped keyring, the device key and the grant
	 * first (one write), then every data row.  The device identity and
	 * the enrollment (clear meta: ids only) stay: a wipe receipt is
	 * signed with the identity.
	 * @param {string} why for the audit hook
	 */
	async wipe(why) {
		this.audit('wipe', true, { reason: why });
		this.lock();
		await this.backend.write({ del: [['meta', 'keyring'],
			['meta', 'device_key'], ['meta', 'seals'], ['meta', 'grant'],
			['meta', 'guard'], ['meta', 'failures'], ['meta', 'store_id']] });
		this._dev = null;
		await this.backend.write({ clear: ['record', 'pending', 'head',
			'audit', 'secret'] });
		// A new store id: nothing sealed before the wipe opens after it.
		this.storeId = randomHex(16);
		await this.backend.write({ put: [['meta', 'wiped_at',
			this.clock.wall()], ['meta', 'store_id', this.storeId]] });
		this._anchor = null;
	}

	// --------------------------------------------------------- sealing

	_need() {
		if (!this._deks || !this._seal || !this._idx)
			throw new TenfourWebError('locked', 'the store is locked: ' +
				'unlock with the PIN');
	}

	/**
	 * The opaque key IndexedDB sees for (kind, id): HMAC-SHA-256 under a
	 * keyring key, base64url.  Random-looking, stable while the keyring
	 * lives.
	 * @param {string} kind @param {string} id
	 */
	async opaque(kind, id) {
		this._need();
		const mac = await subtle().sign('HMAC', /** @type {CryptoKey} */
			(this._idx), enc.encode(`${kind}\n${id}`));
		return b64url(new Uint8Array(mac).subarray(0, 24));
	}

	/** @param {string} kind @param {string} key @param {number|string} version */
	_aad(kind, key, version) {
		return enc.encode(`tenfour\n${this.storeId}\n${kind}\n${key}\n${version}`);
	}

	/** Reserves a seal count (persisted ahead of use); rotates when due. */
	async _count() {
		if (/** @type {any} */ (this._seal).used >= this.rotateAfter)
			await this._rotate();
		const s = /** @type {{gen: number, used: number, reserved: number}} */
			(this._seal);
		if (s.used >= s.reserved) {
			s.reserved = s.used + RESERVE;
			await this.backend.write({ put: [['meta', 'seals',
				{ gen: s.gen, reserved: s.reserved }]] });
		}
		s.used++;
		return s.gen;
	}

	/** A new DEK generation; the keyring re-wrapped under the PIN's KEK. */
	async _rotate() {
		const w = await this.backend.get('meta', 'keyring');
		const kek = /** @type {CryptoKey} */ (this._kek);
		const inner = await subtle().decrypt({ name: 'AES-GCM', iv: w.iv2,
			additionalData: enc.encode(`tenfour-keyring-dev\n${this.storeId}`) },
		await this.deviceKey(), w.ct);
		const pt = new Uint8Array(await subtle().decrypt({ name: 'AES-GCM',
			iv: w.iv1, additionalData: enc.encode(
				`tenfour-keyring-pin\n${this.storeId}`) }, kek, inner));
		const doc = JSON.parse(dec.decode(pt));
		pt.fill(0);
		const raw = randomBytes(32);
		doc.gens.push(b64url(raw));
		raw.fill(0);
		const npt = enc.encode(JSON.stringify(doc));
		const wrapped = await this._wrap(kek, w, npt);
		await this.backend.write({ put: [['meta', 'keyring', wrapped],
			['meta', 'seals', { gen: doc.gens.length - 1, reserved: 0 }]] });
		await this._install(npt);
	}

	/** Seals made with the current generation (tests, benchmarks). */
	get seals() {
		return this._seal ? { gen: this._seal.gen, used: this._seal.used } : null;
	}

	/**
	 * Seals bytes: AES-GCM, 96-bit random IV, AAD binding store id, kind,
	 * key and version.
	 * @param {string} kind @param {string} key @param {number|string} version
	 * @param {Uint8Array} pt
	 * @returns {Promise<{g: number, iv: Uint8Array, ct: Uint8Array, v: number|string}>}
	 */
	async seal(kind, key, version, pt) {
		this._need();
		const g = await this._count();
		const iv = randomBytes(12);
		const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv,
			additionalData: this._aad(kind, key, version) },
		/** @type {CryptoKey[]} */ (this._deks)[g], pt));
		return { g, iv, ct, v: version };
	}

	/**
	 * Opens what seal() made under the same kind and key.
	 * @param {string} kind @param {string} key
	 * @param {{g: number, iv: Uint8Array, ct: Uint8Array, v: number|string}} row
	 * @returns {Promise<Uint8Array>}
	 */
	async open(kind, key, row) {
		this._need();
		const k = /** @type {CryptoKey[]} */ (this._deks)[row?.g];
		if (!k) throw new TenfourWebError('internal_error', `${kind} row ` +
			'names an unknown key generation (altered store)', { where: kind });
		try {
			return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM',
				iv: row.iv, additionalData: this._aad(kind, key, row.v) },
			k, row.ct));
		} catch (e) {
			throw new TenfourWebError('internal_error', `a ${kind} row does ` +
				'not open: it was altered, moved or copied from another ' +
				'store', { where: kind, cause: e });
		}
	}
}

/**
 * Splits the core's clock guard into what is stored and shared by every
 * tab of the profile (high_water, offset, tripped) and this page's
 * monotonic anchor (null when the guard has none).
 * @param {any} guard
 * @returns {{shared: {high_water?: number, offset?: number, tripped?: string},
 *   anchor: {anchor_wall: number, anchor_mono: number}|null}}
 */
function splitGuard(guard) {
	if (!guard) return { shared: {}, anchor: null };
	const { anchor_wall: aw, anchor_mono: am, ...shared } = guard;
	return { shared, anchor: typeof aw === 'number' && typeof am === 'number'
		? { anchor_wall: aw, anchor_mono: am } : null };
}

/**
 * PIN (all digits) or passphrase rules of policy.h, through the core.
 * @param {any} core @param {string} secret
 */
export function checkSecret(core, secret) {
	if (typeof secret !== 'string' || secret.length === 0)
		throw new TenfourWebError('validation_failed', 'a PIN or ' +
			'passphrase is required', { where: 'pin' });
	try {
		if (/^[0-9]+$/.test(secret)) core.call('policy.pin_check', { pin: secret });
		else core.call('policy.passphrase_check', { passphrase: secret });
	} catch (e) {
		throw new TenfourWebError('validation_failed',
			/** @type {Error} */ (e).message.replace(/^policy\.[a-z_]+: /, ''),
			{ where: 'pin' });
	}
}

/**
 * Opens the keyring of a backend: makes the store's random id at the
 * first use (it survives until a wipe).
 * @param {KeyringOpts} o
 */
export async function openKeyring(o) {
	if ((o.iterations ?? MIN_PBKDF2_ITER) < MIN_PBKDF2_ITER)
		throw new TenfourWebError('out_of_range', 'PBKDF2 iterations must ' +
			`be at least ${MIN_PBKDF2_ITER}`, { where: 'iterations' });
	let id = await o.backend.get('meta', 'store_id');
	if (!id) {
		id = randomHex(16);
		await o.backend.write({ put: [['meta', 'store_id', id]] });
	}
	return new Keyring(o, id);
}
