// store.mjs - the encrypted offline store over a backend (backend.mjs):
// IndexedDB in browsers, memory in Node tests.
//
// What the backend sees: only ciphertext and random ids.  Every record,
// queued command, replica head, audit entry and secret (the session
// token) is sealed by the keyring (AES-GCM-256, 96-bit random IV, AAD
// binding the store's random id, the kind, the row's key and its
// version); row keys are HMACs of the ids (keyring.opaque), so not even
// a record's UUIDv7 (which holds its creation time) is in clear.  The
// clear meta holds keyring material (wrapped), counters and the
// generation number tabs use to notice each other's writes.
//
// Writes are batches, each one IndexedDB transaction (all or nothing).
// A refused write throws quota_exceeded (nothing of it stored, the caller
// told); a vanished database throws store_lost.  Never a silent drop.
//
// Quota: persistent storage is requested (navigator.storage.persist());
// checkQuota() compares navigator.storage.estimate() (or the configured
// budget) with the usage and returns the records to evict under the
// core's policy (policy.evict: never pending or conflicted records), so
// the app trims its cache before the browser evicts the whole origin.

import { TenfourWebError, dec, enc } from './util.mjs';

/** Evict when usage passes this share of the quota. */
export const QUOTA_HIGH = 0.8;
/** ...down to this share. */
export const QUOTA_TARGET = 0.6;

/**
 * @typedef {object} Parts  what a replica checkpoint writes
 * @property {Array<{id: string, json: string}>} [putRecords]
 * @property {string[]} [delRecords]
 * @property {Array<{seq: number, json: string}>} [putPending]
 * @property {number[]} [delPending]
 * @property {boolean} [clearRecords]  drop every record and pending row
 *   first (a full checkpoint, a reset)
 * @property {string} [head]  the replica's head (or whole save)
 */

export class Store {
	/**
	 * @param {import('./backend.mjs').Backend} backend
	 * @param {import('./keyring.mjs').Keyring} keyring
	 * @param {{budget?: number}} [opts] budget: bytes of sealed records
	 *   kept at most (default 256 MiB), whatever the quota says
	 */
	constructor(backend, keyring, opts = {}) {
		this.backend = backend;
		this.kr = keyring;
		this.budget = opts.budget ?? 256 * 1024 * 1024;
		/** @type {Map<string, number>} record id -> last access (ms) */
		this.access = new Map();
		/** @type {Map<string, number>} record id -> sealed bytes */
		this.sizes = new Map();
		/** @type {number} generation this tab last read or wrote */
		this.gen = 0;
	}

	/**
	 * Asks the browser to keep this origin's storage (not evicted under
	 * pressure).  Returns whether it is persistent; false is not an error
	 * (the app shows it, eviction then runs early).
	 */
	async requestPersist() {
		const st = typeof navigator !== 'undefined'
			? /** @type {any} */ (navigator).storage : undefined;
		if (!st?.persist) return false;
		try {
			if (await st.persisted?.()) return true;
			return !!(await st.persist());
		} catch {
			return false;
		}
	}

	/** The write generation now stored (bumped by every commit). */
	async storedGen() {
		return (await this.backend.get('meta', 'gen')) ?? 0;
	}

	/**
	 * @param {string} kind @param {string} id @param {number|string} version
	 * @param {string} text
	 * @returns {Promise<[string, any]>} [opaque key, sealed row]
	 */
	async _seal(kind, id, version, text) {
		const key = await this.kr.opaque(kind, id);
		return [key, await this.kr.seal(kind, key, version, enc.encode(text))];
	}

	/**
	 * @param {string} kind @param {string} key @param {any} row
	 * @returns {Promise<string>}
	 */
	async _open(kind, key, row) {
		const pt = await this.kr.open(kind, key, row);
		try {
			return dec.decode(pt);
		} finally {
			pt.fill(0);
		}
	}

	/**
	 * Writes a checkpoint's parts, and extra sealed rows, in one
	 * transaction; bumps the generation.
	 * @param {Parts} p
	 * @param {{audit?: Array<{seq: number, bytes: string, hash: string}>,
	 *          secrets?: Record<string, unknown>,
	 *          heads?: Record<string, string|null>}} [extra]
	 * @returns {Promise<number>} the new generation
	 */
	async commit(p, extra = {}) {
		/** @type {Array<[string, string, any]>} */
		const put = [];
		/** @type {Array<[string, string]>} */
		const del = [];
		/** @type {Map<string, number>} */
		const sizes = new Map();
		for (const r of p.putRecords ?? []) {
			let ver = 0;
			const m = /"ver":(\d+)\}$/.exec(r.json);
			if (m) ver = Number(m[1]);
			const [k, row] = await this._seal('record', r.id, ver, r.json);
			put.push(['record', k, row]);
			sizes.set(r.id, row.ct.byteLength + 40);
		}
		for (const id of p.delRecords ?? [])
			del.push(['record', await this.kr.opaque('record', id)]);
		for (const q of p.putPending ?? []) {
			const [k, row] = await this._seal('pending', String(q.seq), q.seq,
				q.json);
			put.push(['pending', k, row]);
		}
		for (const seq of p.delPending ?? [])
			del.push(['pending', await this.kr.opaque('pending', String(seq))]);
		if (p.head !== undefined) {
			const [k, row] = await this._seal('head', 'replica', 0, p.head);
			put.push(['head', k, row]);
		}
		for (const [name, text] of Object.entries(extra.heads ?? {})) {
			if (text === null) {
				del.push(['head', await this.kr.opaque('head', name)]);
				continue;
			}
			const [k, row] = await this._seal('head', name, 0, text);
			put.push(['head', k, row]);
		}
		for (const a of extra.audit ?? []) {
			const [k, row] = await this._seal('audit', String(a.seq), a.seq,
				JSON.stringify({ bytes: a.bytes, hash: a.hash }));
			put.push(['audit', k, row]);
		}
		for (const [name, v] of Object.entries(extra.secrets ?? {})) {
			if (v === null) {
				del.push(['secret', await this.kr.opaque('secret', name)]);
				continue;
			}
			const [k, row] = await this._seal('secret', name, 0,
				JSON.stringify(v));
			put.push(['secret', k, row]);
		}
		const gen = (await this.storedGen()) + 1;
		put.push(['meta', 'gen', gen]);
		await this.backend.write({ put, del,
			clear: p.clearRecords ? ['record', 'pending'] : [] });
		if (p.clearRecords) this.sizes.clear();
		for (const id of p.delRecords ?? []) {
			this.sizes.delete(id);
			this.access.delete(id);
		}
		for (const [id, n] of sizes) this.sizes.set(id, n);
		this.gen = gen;
		return gen;
	}

	/**
	 * Reads every part back (opened): the head, the record states and the
	 * pending items, in no particular order.
	 * @returns {Promise<{head: string|undefined, records: string[],
	 *   pending: string[]}>}
	 */
	async loadParts() {
		this.gen = await this.storedGen();
		const hk = await this.kr.opaque('head', 'replica');
		const hrow = await this.backend.get('head', hk);
		const head = hrow ? await this._open('head', hk, hrow) : undefined;
		const records = [];
		this.sizes.clear();
		for (const [k, row] of await this.backend.entries('record')) {
			const text = await this._open('record', k, row);
			records.push(text);
			const m = /"id":"([0-9a-f-]{36})","mhlc":/.exec(text);
			if (m) this.sizes.set(m[1], row.ct.byteLength + 40);
		}
		const pending = [];
		for (const [k, row] of await this.backend.entries('pending'))
			pending.push(await this._open('pending', k, row));
		return { head, records, pending };
	}

	/** @param {string} name @returns {Promise<string|undefined>} */
	async head(name) {
		const k = await this.kr.opaque('head', name);
		const row = await this.backend.get('head', k);
		return row ? this._open('head', k, row) : undefined;
	}

	/** @param {string} name @returns {Promise<any>} */
	async secret(name) {
		const k = await this.kr.opaque('secret', name);
		const row = await this.backend.get('secret', k);
		return row ? JSON.parse(await this._open('secret', k, row)) : undefined;
	}

	/**
	 * The local audit entries from seq `from` on, oldest first.
	 * @param {number} [from]
	 * @returns {Promise<Array<{seq: number, bytes: string, hash: string}>>}
	 */
	async audit(from = 1) {
		const out = [];
		for (const [k, row] of await this.backend.entries('audit')) {
			if (Number(row.v) < from) continue;
			const e = JSON.parse(await this._open('audit', k, row));
			out.push({ seq: Number(row.v), bytes: e.bytes, hash: e.hash });
		}
		return out.sort((a, b) => a.seq - b.seq);
	}

	/** @param {string} id */
	touch(id) {
		this.access.set(id, Date.now());
	}

	/** Bytes of sealed records this tab knows of. */
	recordBytes() {
		let n = 0;
		for (const v of this.sizes.values()) n += v;
		return n;
	}

	/**
	 * The quota check: usage against the browser's quota (estimate) and
	 * the configured budget.  Returns the eviction the core's policy
	 * chooses when over QUOTA_HIGH of the quota or over the budget, else
	 * an empty list.  `states` gives each record's sync state and scope.
	 * @param {any} core
	 * @param {(id: string) => {state: string, in_scope: boolean}} states
	 * @returns {Promise<{usage: number, quota: number|null, evict: string[],
	 *   met: boolean}>}
	 */
	async checkQuota(core, states) {
		const est = await this.backend.estimate();
		const mine = this.recordBytes();
		let budget = this.budget;
		if (est && est.quota > 0 && est.usage > QUOTA_HIGH * est.quota) {
			// Trim our records by what the origin is over the target.
			const over = est.usage - QUOTA_TARGET * est.quota;
			budget = Math.min(budget, Math.max(0, mine - over));
		}
		if (mine <= budget)
			return { usage: est?.usage ?? mine, quota: est?.quota ?? null,
				evict: [], met: true };
		const records = [];
		for (const [id, bytes] of this.sizes) {
			const s = states(id);
			records.push({ id, bytes, state: s.state, in_scope: s.in_scope,
				last_access: this.access.get(id) ?? 0 });
		}
		const r = core.call('policy.evict', { records, budget });
		return { usage: est?.usage ?? mine, quota: est?.quota ?? null,
			evict: r.evict, met: r.met };
	}
}

/**
 * Wraps a backend write error as the SDK reports it: quota_exceeded and
 * store_lost pass through, anything else becomes internal_error.
 * @param {unknown} e @param {string} what
 */
export function storeError(e, what) {
	if (e instanceof TenfourWebError) return e;
	const name = /** @type {any} */ (e)?.name;
	if (name === 'QuotaExceededError')
		return new TenfourWebError('quota_exceeded', `${what}: the storage ` +
			'quota is exhausted; nothing of this write was stored', { cause: e });
	return new TenfourWebError('internal_error', `${what}: ` +
		/** @type {Error} */ (e)?.message, { cause: e });
}
