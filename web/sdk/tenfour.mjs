// tenfour.mjs - the public API of the tenfour web SDK.  The same in
// spirit as the native client (include/tenfour/client.h): open, enroll,
// banner, login, unlock, lock, logout, wipe; records get/list/subscribe;
// mutate (create, set, append, setAdd, setRemove, editText); status (the
// "did it save?" summary), notices, acknowledge, conflicts, resolve;
// lookups; audit; sync.  Typed events (on(type, fn)).
//
//   import { Tenfour } from './tenfour.mjs';
//   const tf = await Tenfour.open({ wasm: '/tenfour.wasm',
//                                   schema: '/cad.json' });
//   tf.on('change', () => render());
//   if (tf.state === 'new') { await tf.enroll(...); }      // once
//   await tf.login({ user, password, totp, bannerRev, pin });
//   await tf.mutate.set('unit', unitId, { status: 'enroute' });
//
// States (tf.state): "new" (no device identity enrolled here),
// "enrolled" (no keyring yet: log in online), "locked", "unlocked",
// "wiped" (erased: log in online again).  Data calls need "unlocked"
// (error code "locked" otherwise); each one checks the idle lock and the
// offline grant first.
//
// Errors: TenfourWebError (util.mjs) with a wire code; the core's own
// TenfourError (core.mjs) for bad input (validation_failed, ...).

import { loadCore } from './core.mjs';
import { STORE_SCHEMA, idbBackend, memoryBackend } from './backend.mjs';
import { openKeyring, verifyGrant } from './keyring.mjs';
import { Store } from './store.mjs';
import { ReplicaHost } from './replica.mjs';
import { Http, SyncEngine } from './sync.mjs';
import { Emitter, TenfourWebError, systemClock, withLock } from './util.mjs';

export { TenfourWebError } from './util.mjs';
export { TenfourError } from './core.mjs';
export { memoryBackend } from './backend.mjs';

/** The SDK's version; the service worker keys its cache by it. */
export const VERSION = '0.2.0';

/**
 * @typedef {object} OpenOptions
 * @property {string|URL|ArrayBuffer|Uint8Array|WebAssembly.Module} wasm
 *   tenfour.wasm (a URL, bytes or a compiled module)
 * @property {object|string|URL} schema  the agency's schema (the server's
 *   schemas/cad.json): the document, its text or a URL to fetch
 * @property {string} [name]      IndexedDB database name ("tenfour")
 * @property {string} [baseUrl]   tenfourd's URL; '' (default) = this
 *   page's origin, which proxies /v1 to tenfourd
 * @property {import('./backend.mjs').Backend} [backend]  memoryBackend()
 *   for tests; default IndexedDB
 * @property {import('./util.mjs').Clock} [clock]
 * @property {number} [iterations]  PBKDF2 (>= 600,000)
 * @property {boolean} [exempt]     AC-11 exempt terminal (agency decision)
 * @property {number} [budget]      bytes of records kept (256 MiB)
 * @property {typeof fetch} [fetch]
 * @property {number} [timeoutMs]   per HTTP exchange (30 s)
 * @property {boolean} [autoSync]   start the sync loop when unlocked (true)
 * @property {any} [core]           an already loaded core (tests)
 */

/**
 * Events (tf.on(type, fn); '*' gets {type, detail} for all):
 *  state    {state}                 new/enrolled/locked/unlocked/wiped
 *  change   {ids?: string[]}        records changed (local, sync, tab)
 *  sync     {phase, pushed?, records?}
 *  progress {pushed, toPush, records, remaining}
 *  network  {online}
 *  leader   {leader}                this tab runs the sync loop
 *  notice   {notices}               open supersede/rejection notices
 *  locked   {reason}                idle, grant expired, clock rollback
 *  wiped    {reason}                failed unlocks, revoked, user
 *  revoked  {receipt: boolean}      the server revoked this device
 *  session  {code}                  the online session ended (log in)
 *  storage  {usage, quota, persisted, evicted, met}
 *  retry    {in_ms, attempt, error}
 *  reset    {}                      the server reset this replica
 *  error    TenfourWebError         a sync error the loop stopped for
 */
export class Tenfour {
	/** @param {OpenOptions} o @param {any} core @param {any} backend @param {any} kr */
	constructor(o, core, backend, kr) {
		this.o = o;
		this.core = core;
		this.backend = backend;
		this.kr = kr;
		this.clock = o.clock ?? systemClock;
		this.name = o.name ?? 'tenfour';
		this.ev = new Emitter();
		this.http = new Http({ baseUrl: o.baseUrl, fetch: o.fetch,
			timeoutMs: o.timeoutMs });
		/** @type {Store} */
		this.store = new Store(backend, kr, { budget: o.budget });
		/** @type {ReplicaHost|null} */
		this.host = null;
		/** @type {SyncEngine|null} */
		this.sync_ = null;
		/** @type {string} */
		this.state = 'new';
		/** @type {{agency: string, device: string}|null} */
		this.enrollment = null;
		/** @type {any} */
		this.claims = null;
		this.persisted = false;
		/** @type {Map<string|null, Set<Function>>} */
		this.subs = new Map();
		/** @type {Map<string, string>} last view JSON per subscribed id */
		this.subViews = new Map();
		this._idleTimer = null;
		this._lastDecide = 0;
		/** @type {Promise<void>|null} a lock waiting for a sync exchange */
		this._locking = null;
		/** @type {BroadcastChannel|null} */
		this.bc = typeof BroadcastChannel !== 'undefined'
			? new BroadcastChannel(`tenfour:${this.name}`) : null;
		if (this.bc) this.bc.onmessage = (m) => this._onTab(m.data);
		kr.audit = (/** @type {string} */ t, /** @type {boolean} */ ok,
			/** @type {any} */ d) => this._auditLater(t, ok, d);
		backend.onLost((/** @type {TenfourWebError} */ e) => {
			this._drop();
			this.ev.emit('error', e);
		});
	}

	/**
	 * Opens the SDK: loads the core and the schema, opens the store
	 * (refusing one written by a newer version: store_newer), requests
	 * persistent storage.  The state is "new", "enrolled" or "locked".
	 * @param {OpenOptions} o
	 */
	static async open(o) {
		const core = o.core ?? await loadCore(o.wasm, {});
		const schema = await schemaText(o.schema);
		try {
			core.call('schema.load', schema);
		} catch (e) {
			throw new TenfourWebError('invalid_schema', 'the schema does ' +
				'not load: ' + /** @type {Error} */ (e).message, { cause: e });
		}
		const name = o.name ?? 'tenfour';
		const backend = o.backend ?? (typeof indexedDB !== 'undefined'
			? await idbBackend(name) : memoryBackend());
		const layout = await backend.get('meta', 'layout');
		if (layout !== undefined && layout > STORE_SCHEMA)
			throw new TenfourWebError('store_newer', `the offline store has ` +
				`layout ${layout}; this code knows ${STORE_SCHEMA}: reload ` +
				'to get the newer app');
		if (layout === undefined)
			await backend.write({ put: [['meta', 'layout', STORE_SCHEMA]] });
		const kr = await openKeyring({ backend, core, clock: o.clock,
			iterations: o.iterations, exempt: o.exempt });
		const tf = new Tenfour(o, core, backend, kr);
		tf.enrollment = (await backend.get('meta', 'enroll')) ?? null;
		tf.persisted = await tf.store.requestPersist();
		await tf._settle();
		// A wipe receipt the server has not confirmed yet goes again.
		if (await backend.get('meta', 'wipe_receipt'))
			tf.sendWipeReceipt().then((ok) => {
				if (ok) tf.ev.emit('revoked', { receipt: true });
			});
		return tf;
	}

	/** The state from what the store holds. */
	async _settle() {
		const wiped = await this.backend.get('meta', 'wiped_at');
		const has = await this.kr.hasKeys();
		const s = !this.enrollment ? 'new' : this.kr.unlocked ? 'unlocked'
			: has ? 'locked' : wiped ? 'wiped' : 'enrolled';
		this._setState(s);
		if (has) this.claims = await this.kr.claims();
	}

	/** @param {string} s */
	_setState(s) {
		if (this.state === s) return;
		this.state = s;
		this.ev.emit('state', { state: s });
	}

	/**
	 * Subscribes to an event; returns the unsubscribe function.
	 * @param {string} type @param {(detail: any) => void} fn
	 */
	on(type, fn) {
		return this.ev.on(type, fn);
	}

	// -------------------------------------------------------- enrollment

	/**
	 * Makes this browser's device identity (Ed25519, private key
	 * non-extractable) and records agency and device id.  The returned
	 * publicKey is what the administrator enrolls:
	 *   tenfourd admin --agency AGENCY device-enroll DEVICE --label L
	 *     --pubkey PUBLICKEY
	 * @param {{agency: string, device: string}} e
	 * @returns {Promise<{publicKey: string}>}
	 */
	async enroll(e) {
		for (const k of /** @type {const} */ (['agency', 'device']))
			if (typeof e?.[k] !== 'string' || !/^[A-Za-z0-9._@-]{1,64}$/.test(e[k]))
				throw new TenfourWebError('invalid_argument', `${k}: an id ` +
					'[A-Za-z0-9._@-]{1,64} is required', { where: k });
		if (this.enrollment && (this.enrollment.agency !== e.agency ||
		    this.enrollment.device !== e.device))
			throw new TenfourWebError('already_exists', 'this browser is ' +
				`enrolled as ${this.enrollment.device} of ` +
				`${this.enrollment.agency}`);
		const id = await this.kr.identity();
		const en = { agency: e.agency, device: e.device };
		await this.backend.write({ put: [['meta', 'enroll', en]] });
		this.enrollment = en;
		await this._settle();
		return id;
	}

	/** The device's public key (base64url), after enroll(). */
	async publicKey() {
		return (await this.kr.identity()).publicKey;
	}

	_enrolled() {
		if (!this.enrollment)
			throw new TenfourWebError('not_enrolled', 'this browser is not ' +
				'enrolled: call enroll() and have the administrator ' +
				'register its public key');
		return this.enrollment;
	}

	/**
	 * The agency's AC-8 banner (shown and acknowledged before login).
	 * @returns {Promise<{agency: string, banner: string, banner_rev: number}>}
	 */
	banner() {
		const en = this._enrolled();
		return this.http.json('GET',
			`/v1/auth/banner?agency=${encodeURIComponent(en.agency)}`);
	}

	// ------------------------------------------------------ login/unlock

	/**
	 * Online login: device proof, password, TOTP, banner revision.  The
	 * offline grant is verified against /v1/keys with WebCrypto, stored
	 * with the clock guard; at the first login the keyring is made under
	 * the PIN (policy rules), later the PIN must open it (a wrong one
	 * counts as a failed unlock).  Unlocked afterwards; sync starts
	 * (autoSync).
	 * @param {{user: string, password: string, totp: string,
	 *   bannerRev: number, pin: string}} r
	 */
	async login(r) {
		const en = this._enrolled();
		if (this._locking) await this._locking;
		const owner = await this.backend.get('meta', 'owner');
		if (owner && owner !== r.user && await this.kr.hasKeys())
			throw new TenfourWebError('permission_denied', 'this device\'s ' +
				`offline store belongs to ${owner}: log out and wipe it ` +
				'before another officer signs in', { where: 'user' });
		const ts = this.clock.wall();
		const sig = await this.kr.signLogin(en.agency, r.user, en.device, ts);
		this.http.session = null;
		let reply;
		try {
			reply = await this.http.json('POST', '/v1/auth/login', {
				agency: en.agency, user: r.user, password: r.password,
				totp: r.totp, device_id: en.device, banner_rev: r.bannerRev,
				proof: { ts, sig } });
		} catch (e) {
			if (/** @type {any} */ (e).code === 'device_revoked') {
				await this._revoked();
			}
			throw e;
		}
		const keys = await this.http.json('GET', '/v1/keys');
		const claims = await verifyGrant(this.core, reply.grant, keys);
		if (claims.device !== en.device || claims.agency !== en.agency ||
		    claims.user !== reply.user?.id)
			throw new TenfourWebError('unauthenticated', 'the offline grant ' +
				'names another device, agency or user', { where: 'grant' });
		await this.kr.acceptGrant(reply.grant, claims, claims.issued_at);
		try {
			await this.kr.unlockAtLogin(r.pin, claims);
		} catch (e) {
			await this._settle();
			throw e;
		}
		await this.backend.write({ put: [['meta', 'owner', claims.user]],
			del: [['meta', 'wiped_at']] });
		this.claims = claims;
		await this._afterUnlock({ token: reply.token,
			expires_at: reply.expires_at, user: reply.user });
		return { user: reply.user, expiresAt: reply.expires_at,
			grantNotAfter: claims.not_after };
	}

	/**
	 * Offline unlock with the PIN.  Refused past the grant (expired) or
	 * after a clock rollback (clock_rollback) before the PIN is tried;
	 * the failure counted before the PIN is tried; the grant's
	 * wipe_after-th failure erases the store (wipe_required).  A wrong
	 * PIN: unauthenticated with err.attemptsLeft.
	 * @param {string} pin
	 */
	async unlock(pin) {
		this._enrolled();
		if (this._locking) await this._locking;
		try {
			await this.kr.unlock(pin);
		} catch (e) {
			if (/** @type {any} */ (e).code === 'wipe_required') this._wiped('failed unlocks');
			throw e;
		}
		this.claims = await this.kr.claims();
		await this._afterUnlock(null);
	}

	/** @param {any} session the login reply's session, or null (reload) */
	async _afterUnlock(session) {
		const en = this._enrolled();
		// A login while unlocked: the old loop goes first (its exchange
		// in flight persisted), then the old replica.
		const wait = this._drainSync();
		if (wait) await wait;
		this.host?.free();
		this.host = new ReplicaHost({ core: this.core, store: this.store,
			clock: this.clock, device: en.device, user: this.claims.user,
			agency: en.agency, role: this.claims.roles?.[0],
			lockName: `tenfour-write:${this.name}`,
			broadcast: (m) => this.bc?.postMessage(m) });
		try {
			await this.host.load();
			const queued = (await this.kr.getMeta('audit_queue')) ?? [];
			await this.host.write(async ({ audit }) => {
				for (const q of queued) await audit(q);
			}, {});
			if (queued.length) await this.kr.putMeta('audit_queue', []);
			if (session)
				await this.store.commit({}, { secrets: { session } });
		} catch (e) {
			this.kr.lock();
			this.host.free();
			this.host = null;
			throw e;
		}
		const s = session ?? await this.store.secret('session');
		this.http.session = s && s.expires_at > this.clock.wall()
			? { token: s.token, device: en.device } : null;
		this._setState('unlocked');
		this._armIdle();
		this.ev.emit('change', {});
		this._notify();
		if (this.o.autoSync !== false && this.http.session) this.startSync();
	}

	/**
	 * Locks: data calls are refused at once; the sync loop stops; a sync
	 * exchange in flight finishes and its reply is persisted (bounded by
	 * the request timeout), then the keys and decrypted state go and the
	 * state is "locked".  Resolves then (at once when no round runs).
	 * @param {string} [reason]
	 * @returns {Promise<void>}
	 */
	lock(reason = 'user') {
		if (this._locking) return this._locking;
		const wait = this._drainSync();
		if (!wait) {
			this._lockNow(reason);
			return Promise.resolve();
		}
		const p = wait.then(() => {
			this._locking = null;
			this._lockNow(reason);
		});
		this._locking = p;
		return p;
	}

	/** @param {string} reason */
	_lockNow(reason) {
		this._drop();
		if (this.state === 'unlocked') {
			this._setState('locked');
			this.ev.emit('locked', { reason });
		}
	}

	/**
	 * Stops the sync loop; a promise when a round is in flight that
	 * settles once its exchange's reply is persisted (or after the
	 * request timeout and 5 s more), else null.
	 * @returns {Promise<void>|null}
	 */
	_drainSync() {
		const e = this.sync_;
		this.sync_ = null;
		return e ? e.drain(this.http.timeoutMs + 5000) : null;
	}

	_drop() {
		if (this._idleTimer) clearTimeout(this._idleTimer);
		this._idleTimer = null;
		this.host?.free();
		this.host = null;
		this.http.session = null;
		this.subViews.clear();
		this.kr.lock();
	}

	/**
	 * Logout: ends the session on the server when reachable, erases the
	 * token, locks.  Queued work and the store stay.
	 */
	async logout() {
		if (this.http.session) {
			try {
				await this.http.json('POST', '/v1/auth/logout');
			} catch { /* offline: the token is erased here anyway */ }
		}
		if (this.host) {
			try {
				await this.store.commit({}, { secrets: { session: null } });
			} catch { /* the lock below drops it from memory anyway */ }
		}
		await this.lock('logout');
	}

	/** Crypto-erases the store now (the user asked). */
	async wipe() {
		this.stopSync();
		await this.kr.wipe('user request');
		this._wiped('user request');
	}

	/** @param {string} reason */
	_wiped(reason) {
		this._drop();
		this.claims = null;
		this._setState('wiped');
		this.ev.emit('wiped', { reason });
		this.bc?.postMessage({ type: 'wiped', reason });
	}

	/** device_revoked: wipe, then the signed receipt (retried later). */
	async _revoked() {
		const en = this._enrolled();
		this.stopSync();
		await this.kr.wipe('device revoked');
		const at = this.clock.wall();
		const sig = await this.kr.signWipe(en.agency, en.device, at);
		const receipt = { agency: en.agency, device_id: en.device,
			wiped_at: at, sig };
		await this.backend.write({ put: [['meta', 'wipe_receipt', receipt]] });
		this._wiped('device revoked');
		const sent = await this.sendWipeReceipt();
		this.ev.emit('revoked', { receipt: sent });
	}

	/** Sends a stored wipe receipt; true when the server has it. */
	async sendWipeReceipt() {
		const r = await this.backend.get('meta', 'wipe_receipt');
		if (!r) return false;
		try {
			const h = this.http.session;
			this.http.session = null;
			await this.http.json('POST', '/v1/devices/wipe-receipt', r);
			this.http.session = h;
			await this.backend.write({ del: [['meta', 'wipe_receipt']] });
			return true;
		} catch {
			return false;
		}
	}

	/**
	 * Audit events of the keyring: into the chain when unlocked, else
	 * queued (sealed by the device key) until the next unlock.
	 * @param {string} type @param {boolean} ok @param {any} detail
	 */
	_auditLater(type, ok, detail) {
		const ev = { type, ok, detail, ts: this.clock.wall(), where: 'web/keyring' };
		if (type === 'wipe') return; // the chain goes with the data
		if (this.host && this.kr.unlocked) {
			this.host.write(async ({ audit }) => audit(ev)).catch((e) =>
				this.ev.emit('error', e));
			return;
		}
		this.kr.getMeta('audit_queue').then((q) => this.kr.putMeta(
			'audit_queue', [...(q ?? []), ev].slice(-1000))).catch(() => {});
	}

	// -------------------------------------------------------------- gate

	/** Every data call: unlocked, not idle, grant still valid. */
	async _gate() {
		if (this._locking || !this.host || !this.kr.unlocked)
			throw new TenfourWebError('locked', 'locked: unlock with the PIN');
		const idle = await this.kr.idle(undefined, { keep: true });
		if (idle?.lock) {
			this.lock('idle');
			throw new TenfourWebError('locked', 'locked after inactivity ' +
				'(CJIS AC-11): unlock with the PIN');
		}
		const now = this.clock.mono();
		if (now - this._lastDecide > 5000 || now < this._lastDecide) {
			try {
				await this.kr.requireGrant();
			} catch (e) {
				this.lock(/** @type {any} */ (e).code);
				throw e;
			}
			this._lastDecide = now;
		}
		this.kr.touch();
		this._armIdle();
		return /** @type {ReplicaHost} */ (this.host);
	}

	_armIdle() {
		if (this._idleTimer) clearTimeout(this._idleTimer);
		const lim = this.claims?.lock_after ?? 1800000;
		if (this.o.exempt) return;
		this._idleTimer = setTimeout(async () => {
			const r = await this.kr.idle(undefined, { keep: true })
				.catch(() => null);
			if (r?.lock) this.lock('idle');
			else if (r) this._armIdle();
		}, lim + 50);
		/** @type {any} */ (this._idleTimer).unref?.();
	}

	/** User activity that is not a data call (keeps the session awake). */
	touch() {
		if (this.kr.unlocked) {
			this.kr.touch();
			this._armIdle();
		}
	}

	// ----------------------------------------------------------- records

	get records() {
		const tf = this;
		return {
			/**
			 * A record's view {record, sync, pending, notices, stale?}.
			 * Audited as an access.
			 * @param {string} id
			 */
			async get(id) {
				const h = await tf._gate();
				const v = tf._view(h, id);
				tf.store.touch(id);
				await h.write(async ({ audit }) => audit({ type: 'access',
					entity: v.record?.entity, record_id: id }));
				return v;
			},
			/**
			 * [{id, entity, sync}] sorted by id.
			 * @param {{entity?: string}} [q]
			 */
			async list(q = {}) {
				const h = await tf._gate();
				return h.list(q.entity).map((id) => {
					const v = h.view(id);
					return { id, entity: v.record?.entity, sync: v.sync };
				});
			},
			/**
			 * Calls fn(view) now and whenever the record's view changes
			 * (null id: fn() on any change).  Returns unsubscribe.
			 * @param {string|null} id @param {(v: any) => void} fn
			 */
			subscribe(id, fn) {
				let s = tf.subs.get(id);
				if (!s) tf.subs.set(id, (s = new Set()));
				s.add(fn);
				queueMicrotask(() => tf._notifyOne(id, fn, true));
				return () => { s?.delete(fn); };
			},
		};
	}

	/** @param {ReplicaHost} h @param {string} id */
	_view(h, id) {
		const v = h.view(id);
		const stale = [];
		for (const [f, st] of Object.entries(v.record?.f ?? {})) {
			const s = /** @type {any} */ (st);
			if (s && typeof s === 'object' && 'fetched_at' in s && 'ttl' in s &&
			    this.clock.wall() > s.fetched_at + s.ttl)
				stale.push(f);
		}
		if (stale.length) v.stale = stale;
		return v;
	}

	/** @param {string|null} id @param {Function} fn @param {boolean} first */
	_notifyOne(id, fn, first) {
		if (!this.host) return;
		if (id === null) {
			fn();
			return;
		}
		let v = null;
		try {
			v = this._view(this.host, id);
		} catch { /* not (or no longer) here */ }
		const j = JSON.stringify(v);
		if (!first && this.subViews.get(id) === j) return;
		this.subViews.set(id, j);
		fn(v);
	}

	_notify() {
		if (!this.host) return;
		for (const [id, fns] of this.subs) {
			if (id === null) {
				for (const fn of fns) this._notifyOne(null, fn, false);
				continue;
			}
			let v = null;
			try {
				v = this._view(this.host, id);
			} catch { /* gone */ }
			const j = JSON.stringify(v);
			if (this.subViews.get(id) === j) continue;
			this.subViews.set(id, j);
			for (const fn of fns) fn(v);
		}
		try {
			const n = this.host.notices();
			this.ev.emit('notice', { notices: n });
		} catch { /* locked meanwhile */ }
	}

	/** @param {any} m a message from another tab */
	async _onTab(m) {
		if (m?.type === 'wiped') {
			this._drop();
			this._setState('wiped');
			this.ev.emit('wiped', { reason: m.reason });
			return;
		}
		if (m?.type === 'changed' && this.host) {
			try {
				await withLock(`tenfour-write:${this.name}`,
					async () => this.host?.fresh());
				this.ev.emit('change', {});
				this._notify();
				// The syncing tab sends another tab's new commands now.
				if (this.sync_?.leader) this.sync_.wake();
			} catch (e) {
				this.ev.emit('error', e);
			}
		}
	}

	// ------------------------------------------------------------ mutate

	/**
	 * @param {{entity: string, op: string, args: object, record_id?: string}} m
	 * @param {{online?: boolean}} [o]
	 */
	async _mutate(m, o = {}) {
		const h = await this._gate();
		const r = await h.mutate({ ...m, online: o.online ?? this.http.online });
		this.ev.emit('change', { ids: [r.record_id] });
		this._notify();
		this.sync_?.wake();
		return r;
	}

	get mutate() {
		const tf = this;
		/** @param {string} id */
		const entityOf = async (id) => {
			const h = await tf._gate();
			const v = h.view(id);
			return { h, v, entity: v.record.entity };
		};
		return {
			/**
			 * Creates a record; {cmd_id, record_id}.
			 * @param {string} entity @param {object} fields
			 * @param {{online?: boolean}} [o]
			 */
			create: (entity, fields, o) =>
				tf._mutate({ entity, op: 'create', args: { fields } }, o),
			/** @param {string} id @param {object} fields @param {{online?: boolean}} [o] */
			set: async (id, fields, o) => tf._mutate({ entity:
				(await entityOf(id)).entity, record_id: id, op: 'set',
			args: { fields } }, o),
			/**
			 * Appends a log entry (`corrects`: the id of the entry it corrects).
			 * @param {string} id @param {string} field @param {object} body
			 * @param {{corrects?: string, online?: boolean}} [o]
			 */
			append: async (id, field, body, o = {}) => tf._mutate({ entity:
				(await entityOf(id)).entity, record_id: id, op: 'append',
			args: o.corrects ? { field, body, corrects: o.corrects }
				: { field, body } }, o),
			/** @param {string} id @param {string} field @param {unknown} value @param {{online?: boolean}} [o] */
			setAdd: async (id, field, value, o) => tf._mutate({ entity:
				(await entityOf(id)).entity, record_id: id, op: 'set_add',
			args: { field, value } }, o),
			/**
			 * Removes a set element: the tags this view saw of it.
			 * @param {string} id @param {string} field @param {unknown} value
			 * @param {{online?: boolean}} [o]
			 */
			setRemove: async (id, field, value, o) => {
				const { v, entity } = await entityOf(id);
				/** @param {unknown} x canonical bytes of a value */
				const canon = (x) => new TextDecoder().decode(tf.core.callBytes(
					'json.canonicalize', JSON.stringify(x ?? null)).bytes);
				const want = canon(value);
				const el = (v.record.f?.[field]?.s ?? []).find(
					(/** @type {any} */ e) => canon(e.v) === want);
				if (!el) throw new TenfourWebError('not_found', `${field}: ` +
					'no such element in this record', { where: field });
				return tf._mutate({ entity, record_id: id, op: 'set_remove',
					args: { field, value, tags: el.tags } }, o);
			},
			/**
			 * Replaces a text field's text, based on the revision this
			 * view holds (a concurrent edit becomes a conflict).
			 * @param {string} id @param {string} field @param {string} text
			 * @param {{online?: boolean}} [o]
			 */
			editText: async (id, field, text, o) => {
				const { v, entity } = await entityOf(id);
				const cur = v.record.f?.[field];
				return tf._mutate({ entity, record_id: id, op: 'edit_text',
					args: { field, base_rev: cur?.rev ?? 0, base: cur?.v ?? '',
						text } }, o);
			},
		};
	}

	// ------------------------------------------ notices and conflicts

	/** Open notices (supersede, rejection). */
	async notices() {
		return (await this._gate()).notices();
	}

	/**
	 * Acknowledges a notice (audited supersede_ack / reject_ack).
	 * @param {string} noticeId
	 */
	async acknowledge(noticeId) {
		const h = await this._gate();
		const n = h.notices().find((/** @type {any} */ x) => x.id === noticeId);
		if (!n) throw new TenfourWebError('not_found', 'no open notice ' +
			`${String(noticeId).slice(0, 80)}`, { where: 'notice' });
		await h.ack(noticeId, n.kind);
		this.ev.emit('change', { ids: [n.record_id] });
		this._notify();
	}

	/**
	 * Open text conflicts: [{record_id, entity, field, conflict}] with
	 * base, head, proposed and (when clean) merged.
	 */
	async conflicts() {
		const h = await this._gate();
		const out = [];
		for (const id of h.list()) {
			const v = h.view(id);
			if (v.sync !== 'conflict') continue;
			for (const [f, st] of Object.entries(v.record?.f ?? {}))
				for (const c of /** @type {any} */ (st)?.conflicts ?? [])
					out.push({ record_id: id, entity: v.record.entity, field: f,
						conflict: c });
		}
		return out;
	}

	/**
	 * Resolves a text conflict: choice "mine" (the proposed text),
	 * "theirs" (the head), "merged" (the clean diff3) or "custom" (text).
	 * Queued as a resolve command; audited with what was discarded.
	 * @param {string} recordId @param {string} field
	 * @param {'mine'|'theirs'|'merged'|'custom'} choice @param {string} [text]
	 * @param {{conflict?: string}} [o] which conflict (default the oldest)
	 */
	async resolve(recordId, field, choice, text, o = {}) {
		const h = await this._gate();
		const v = h.view(recordId);
		const cs = v.record?.f?.[field]?.conflicts ?? [];
		const c = o.conflict ? cs.find((/** @type {any} */ x) => x.id === o.conflict)
			: cs[0];
		if (!c) throw new TenfourWebError('not_found', `${field}: no open ` +
			'conflict', { where: field });
		const t = choice === 'mine' ? c.proposed : choice === 'theirs' ? c.head
			: choice === 'merged' ? c.merged : text;
		if (typeof t !== 'string')
			throw new TenfourWebError('invalid_argument', choice === 'merged'
				? 'this conflict has no clean merge: choose or edit'
				: 'custom needs the text', { where: 'choice' });
		return this._mutate({ entity: v.record.entity, record_id: recordId,
			op: 'resolve', args: { field, conflict: c.id, head_rev: c.head_rev,
				text: t, choice } });
	}

	// ------------------------------------------------------------ lookups

	get lookups() {
		const tf = this;
		return {
			/**
			 * A cached lookup or BOLO: the view with, per ref field,
			 * fetched_at, ttl and stale now.  Audited (query).
			 * @param {string} id
			 */
			async get(id) {
				const h = await tf._gate();
				const v = tf._view(h, id);
				/** @type {Record<string, any>} */
				const refs = {};
				for (const [f, st] of Object.entries(v.record?.f ?? {})) {
					const s = /** @type {any} */ (st);
					if (s && typeof s === 'object' && 'fetched_at' in s)
						refs[f] = { value: s.v, fetched_at: s.fetched_at,
							ttl: s.ttl,
							stale: tf.clock.wall() > s.fetched_at + s.ttl };
				}
				await h.write(async ({ audit }) => audit({ type: 'query',
					entity: v.record?.entity, record_id: id }));
				return { ...v, refs };
			},
		};
	}

	// -------------------------------------------------------------- audit

	/**
	 * The local audit log, oldest first: [{seq, entry, hash}].  Reading
	 * it is audited (audit_read).
	 * @param {{from?: number}} [q]
	 */
	async audit(q = {}) {
		const h = await this._gate();
		await h.write(async ({ audit }) => audit({ type: 'audit_read' }));
		return (await this.store.audit(q.from ?? 1)).map((e) => ({
			seq: e.seq, entry: JSON.parse(e.bytes), hash: e.hash }));
	}

	/** Re-verifies the local chain with the core (audit.verify). */
	async auditVerify() {
		await this._gate();
		const all = await this.store.audit(1);
		return this.core.call('audit.verify', { entries: all.map((e) =>
			({ bytes: e.bytes, hash: e.hash })) });
	}

	// --------------------------------------------------------------- sync

	_engine() {
		if (this.sync_) return this.sync_;
		const h = /** @type {ReplicaHost} */ (this.host);
		this.sync_ = new SyncEngine(h, this.http, {
			onRevoked: () => this._revoked(),
			onSessionEnded: (e) => {
				this.http.session = null;
				this.ev.emit('session', { code: e.code });
			},
			onProgress: (p) => this.ev.emit('progress', p),
			emit: (t, d) => {
				this.ev.emit(t, d);
				if (t === 'sync' && d?.phase === 'done') {
					this.ev.emit('change', {});
					this._notify();
				}
			},
			afterRound: () => this._afterRound(),
		}, { syncLock: `tenfour-sync:${this.name}` });
		return this.sync_;
	}

	/**
	 * One sync round now (push, pull, audit upload, eviction); resolves
	 * {pushed, records}.  Errors: unreachable (work stays queued),
	 * device_revoked (wiped), unauthenticated (log in online).
	 */
	async sync() {
		await this._gate();
		if (!this.http.session)
			throw new TenfourWebError('unauthenticated', 'no online session: ' +
				'log in to sync');
		return this._engine().round();
	}

	/** Starts the background loop (one tab at a time syncs). */
	startSync() {
		if (this._locking || !this.host || !this.http.session) return;
		const e = this._engine();
		e.watch().catch((err) => this.ev.emit('error', err));
	}

	stopSync() {
		this.sync_?.stop();
		this.sync_ = null;
	}

	async _afterRound() {
		const h = this.host;
		if (!h) return;
		// The local audit log goes up (1,000 entries a request).
		try {
			for (let i = 0; i < 1000; i++) {
				const ents = (await this.store.audit(h.auditSent + 1)).slice(0, 1000);
				if (!ents.length) break;
				const r = await this.http.json('POST', '/v1/audit/device', {
					device_id: h.device, entries: ents.map((e) => e.bytes) });
				await h.write(async () => {
					h.auditSent = Math.max(h.auditSent, r.head?.seq ?? 0);
				});
				if (ents.length < 1000) break;
			}
		} catch (e) {
			if (/** @type {any} */ (e).code === 'device_revoked') throw e;
			this.auditError = e;
		}
		await this.sendWipeReceipt();
		await this.checkStorage();
	}

	/**
	 * Quota check; evicts synced records (the core's policy) when over
	 * the budget or near the browser's quota.  Emits `storage`.
	 */
	async checkStorage() {
		const h = this.host;
		if (!h) return null;
		const q = await this.store.checkQuota(this.core, (id) => h.stateOf(id));
		let evicted = 0;
		const can = q.evict.filter((id) => h.canEvict(id));
		if (can.length) {
			await h.write(async () => {
				for (const id of can) {
					try {
						this.core.call('replica.evict', { replica: h.r, record_id: id });
						evicted++;
					} catch { /* became pending meanwhile */ }
				}
			});
		}
		const detail = { usage: q.usage, quota: q.quota, persisted: this.persisted,
			evicted, met: q.met && evicted === can.length &&
				can.length === q.evict.length };
		this.ev.emit('storage', detail);
		return detail;
	}

	// ------------------------------------------------------------- status

	/**
	 * The "did it save?" summary: online/offline, pending count and the
	 * oldest one's age, last successful sync, conflicts, superseded and
	 * rejected notices; lock and grant state.
	 */
	async status() {
		const unlocked = !!this.host && this.kr.unlocked && !this._locking;
		const d = this.claims ? await this.kr.decide().catch(() => null) : null;
		/** @type {any} */
		let sum = null;
		if (unlocked) sum = /** @type {ReplicaHost} */ (this.host).summary();
		const idle = unlocked ? await this.kr.idle(undefined, { keep: true })
			.catch(() => null) : null;
		if (idle?.lock) this.lock('idle');
		return {
			state: this.state,
			enrolled: !!this.enrollment,
			loggedIn: !!this.http.session,
			unlocked,
			online: this.http.online,
			syncing: !!this.sync_?.leader,
			lastContact: this.http.lastContact,
			lastError: this.sync_?.lastError?.code ?? null,
			grant: d ? { status: d.status, notAfter: this.claims?.not_after,
				remainingMs: d.remaining_ms } : null,
			lockInMs: idle ? idle.left_ms : null,
			attemptsLeft: await this.kr.attemptsLeft(),
			persisted: this.persisted,
			pending: sum?.pending ?? null,
			oldestPendingMs: sum?.oldest_pending_ms ?? null,
			lastSync: sum?.last_sync_ms ?? null,
			conflicts: sum?.conflicts ?? null,
			superseded: sum?.superseded ?? null,
			rejected: sum?.rejected ?? null,
			records: sum?.records ?? null,
		};
	}

	/**
	 * Closes: stops sync, locks (after the exchange in flight, see
	 * lock()), releases the store.
	 */
	async close() {
		await this.lock('close');
		this.bc?.close();
		this.backend.close();
	}
}

/** @param {object|string|URL} s @returns {Promise<string>} */
async function schemaText(s) {
	if (s instanceof URL || (typeof s === 'string' && !s.trimStart().startsWith('{'))) {
		const isNode = typeof process !== 'undefined' && !!process.versions?.node;
		if (isNode && !/^https?:/.test(String(s))) {
			const { readFile } = await import('node:fs/promises');
			const p = String(s);
			return readFile(p.startsWith('file:') ? new URL(p) : p, 'utf8');
		}
		const r = await fetch(String(s));
		if (!r.ok) throw new TenfourWebError('unreachable', `schema ${s}: ` +
			`HTTP ${r.status}`);
		return r.text();
	}
	return typeof s === 'string' ? s : JSON.stringify(s);
}
