// backend.mjs - where the store's bytes live.  The store (store.mjs) and
// the keyring (keyring.mjs) seal everything before it reaches a backend;
// a backend only keeps values under keys, per object store, and writes a
// batch atomically.
//
//   idbBackend(name)     IndexedDB (browsers)
//   memoryBackend()      a Map (Node unit tests; a page that must not
//                        persist anything)
//
// Object stores: meta (keyring material, counters, the sealed grant),
// record, pending, head, audit, secret.  Values are structured-cloneable
// (CryptoKey objects included: IndexedDB keeps a non-extractable key
// without ever exposing its bytes).

import { TenfourWebError } from './util.mjs';

/** The on-disk layout this code reads and writes. */
export const STORE_SCHEMA = 1;
export const OBJECT_STORES = ['meta', 'record', 'pending', 'head', 'audit',
	'secret'];

/**
 * @typedef {object} Batch
 * @property {Array<[string, string, any]>} [put]  [store, key, value]
 * @property {Array<[string, string]>} [del]        [store, key]
 * @property {string[]} [clear]                     stores emptied first
 */

/**
 * @typedef {object} Backend
 * @property {string} kind  "idb" or "memory"
 * @property {(store: string, key: string) => Promise<any>} get
 * @property {(store: string) => Promise<Array<[string, any]>>} entries
 * @property {(b: Batch) => Promise<void>} write  all or nothing
 * @property {() => Promise<{usage: number, quota: number}|null>} estimate
 * @property {() => Promise<void>} destroy  removes every byte
 * @property {() => void} close
 * @property {(fn: (e: TenfourWebError) => void) => void} onLost
 */

/** @param {string} store */
function checkStore(store) {
	if (!OBJECT_STORES.includes(store))
		throw new TenfourWebError('invalid_argument',
			`no object store "${store}"`, { where: 'store' });
}

/**
 * An in-memory backend.  `quota` (bytes, counted roughly) lets tests
 * provoke quota_exceeded; `shared` lets two "tabs" share one.
 * @param {{quota?: number, data?: Map<string, Map<string, any>>}} [opts]
 * @returns {Backend & {data: Map<string, Map<string, any>>}}
 */
export function memoryBackend(opts = {}) {
	const data = opts.data ?? new Map();
	for (const s of OBJECT_STORES) if (!data.has(s)) data.set(s, new Map());
	/** @param {any} v */
	const size = (v) => (v?.ct ? v.ct.byteLength + 64 : 64);
	const usage = () => {
		let n = 0;
		for (const m of data.values()) for (const v of m.values()) n += size(v);
		return n;
	};
	/** @type {Array<(e: TenfourWebError) => void>} */
	const lost = [];
	return {
		kind: 'memory',
		data,
		async get(store, key) {
			checkStore(store);
			return data.get(store)?.get(key);
		},
		async entries(store) {
			checkStore(store);
			return [.../** @type {Map<string, any>} */ (data.get(store))];
		},
		async write(b) {
			for (const s of b.clear ?? []) checkStore(s);
			for (const [s] of b.put ?? []) checkStore(s);
			for (const [s] of b.del ?? []) checkStore(s);
			if (opts.quota !== undefined) {
				let grow = 0;
				for (const [, , v] of b.put ?? []) grow += size(v);
				if (usage() + grow > opts.quota)
					throw new TenfourWebError('quota_exceeded',
						'the storage quota is exhausted: the write ' +
						'was refused and nothing of it was stored');
			}
			// Copy-on-write: build the new maps, then swap them in.
			/** @type {Map<string, Map<string, any>>} */
			const next = new Map();
			const touched = new Set([...(b.clear ?? []),
				...(b.put ?? []).map((p) => p[0]),
				...(b.del ?? []).map((d) => d[0])]);
			for (const s of touched)
				next.set(s, (b.clear ?? []).includes(s) ? new Map()
					: new Map(data.get(s)));
			for (const [s, k] of b.del ?? []) next.get(s)?.delete(k);
			for (const [s, k, v] of b.put ?? []) next.get(s)?.set(k, v);
			for (const [s, m] of next) data.set(s, m);
		},
		async estimate() {
			return opts.quota === undefined ? null
				: { usage: usage(), quota: opts.quota };
		},
		async destroy() {
			for (const s of OBJECT_STORES) data.set(s, new Map());
		},
		close() {},
		onLost(fn) { lost.push(fn); },
	};
}

/** @param {IDBRequest|IDBTransaction} r @param {string} what */
function idbError(r, what) {
	const e = /** @type {any} */ (r).error;
	if (e?.name === 'QuotaExceededError')
		return new TenfourWebError('quota_exceeded',
			`${what}: the browser's storage quota is exhausted; the ` +
			'write was refused and nothing of it was stored (free ' +
			'space or sync so that old records can be evicted)',
			{ cause: e });
	if (e?.name === 'NotFoundError' || e?.name === 'InvalidStateError')
		return new TenfourWebError('store_lost',
			`${what}: the offline store is gone (the browser evicted ` +
			'or deleted it); sign in online to rebuild it',
			{ cause: e });
	return new TenfourWebError('internal_error',
		`${what}: IndexedDB failed: ${e?.name ?? 'aborted'} ` +
		`${e?.message ?? ''}`.trim(), { cause: e });
}

/** @template T @param {IDBRequest<T>} r @param {string} what @returns {Promise<T>} */
function req(r, what) {
	return new Promise((resolve, reject) => {
		r.onsuccess = () => resolve(r.result);
		r.onerror = () => reject(idbError(r, what));
	});
}

/**
 * The IndexedDB backend.  The database `name` is made at the first open;
 * a marker in localStorage remembers that it existed, so a database the
 * browser dropped is reported (store_lost), never silently recreated
 * empty.  A database of a newer layout than this code is refused
 * (store_newer): the service worker serves the matching code instead.
 * @param {string} name
 * @param {{allowRecreate?: boolean}} [opts] allowRecreate: a lost store
 *   may be made again (after the user was told, at an online login)
 * @returns {Promise<Backend>}
 */
export async function idbBackend(name, opts = {}) {
	const marker = `tenfour-idb:${name}`;
	const ls = typeof localStorage !== 'undefined' ? localStorage : null;
	const existed = ls?.getItem(marker) === '1';
	let created = false;
	const open = indexedDB.open(name);
	open.onupgradeneeded = (ev) => {
		const db = open.result;
		if (ev.oldVersion === 0) created = true;
		for (const s of OBJECT_STORES)
			if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
	};
	/** @type {IDBDatabase} */
	let db;
	try {
		db = await new Promise((resolve, reject) => {
			open.onsuccess = () => resolve(open.result);
			open.onerror = () => reject(idbError(open, 'open'));
			open.onblocked = () => reject(new TenfourWebError('busy',
				'another tab holds an older version of the offline ' +
				'store open; close it and reload'));
		});
	} catch (e) {
		if (/** @type {any} */ (e)?.cause?.name === 'VersionError')
			throw new TenfourWebError('store_newer', 'the offline store ' +
				'was written by a newer version of this app; reload ' +
				'to get it', { cause: e });
		throw e;
	}
	if (db.version > STORE_SCHEMA || (db.version === 1 &&
	    !OBJECT_STORES.every((s) => db.objectStoreNames.contains(s)))) {
		db.close();
		throw new TenfourWebError('store_newer', `the offline store has ` +
			`layout ${db.version}, this code knows ${STORE_SCHEMA}; ` +
			'reload to get the newer app');
	}
	if (created && existed && !opts.allowRecreate) {
		db.close();
		throw new TenfourWebError('store_lost', 'the offline store was ' +
			'deleted or evicted by the browser; work not yet synced ' +
			'on this device is gone. Sign in online to rebuild it.');
	}
	ls?.setItem(marker, '1');
	/** @type {Array<(e: TenfourWebError) => void>} */
	const lost = [];
	db.onclose = () => {
		const e = new TenfourWebError('store_lost', 'the browser closed ' +
			'the offline store unexpectedly (storage cleared?)');
		for (const fn of lost) fn(e);
	};
	// A newer version of the app upgrades the database: this (older)
	// code must not keep writing; the SDK tells the page to reload.
	db.onversionchange = () => {
		db.onclose = null;
		db.close();
		const e = new TenfourWebError('store_newer', 'a newer version of ' +
			'this app opened the offline store: reload');
		for (const fn of lost) fn(e);
	};
	return {
		kind: 'idb',
		async get(store, key) {
			checkStore(store);
			const tx = db.transaction(store, 'readonly');
			return req(tx.objectStore(store).get(key), `read ${store}`);
		},
		async entries(store) {
			checkStore(store);
			const tx = db.transaction(store, 'readonly');
			const os = tx.objectStore(store);
			const [keys, vals] = await Promise.all([
				req(os.getAllKeys(), `read ${store}`),
				req(os.getAll(), `read ${store}`)]);
			return keys.map((k, i) => [String(k), vals[i]]);
		},
		async write(b) {
			const stores = new Set([...(b.clear ?? []),
				...(b.put ?? []).map((p) => p[0]),
				...(b.del ?? []).map((d) => d[0])]);
			if (stores.size === 0) return;
			for (const s of stores) checkStore(s);
			const tx = db.transaction([...stores], 'readwrite',
				/** @type {any} */ ({ durability: 'strict' }));
			const done = new Promise((resolve, reject) => {
				tx.oncomplete = () => resolve(undefined);
				tx.onerror = () => reject(idbError(tx, 'write'));
				tx.onabort = () => reject(idbError(tx, 'write'));
			});
			for (const s of b.clear ?? []) tx.objectStore(s).clear();
			for (const [s, k] of b.del ?? []) tx.objectStore(s).delete(k);
			for (const [s, k, v] of b.put ?? []) tx.objectStore(s).put(v, k);
			await done;
		},
		async estimate() {
			const st = /** @type {any} */ (navigator).storage;
			if (!st?.estimate) return null;
			const e = await st.estimate();
			return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
		},
		async destroy() {
			// Clear first (one transaction: keyring rows go with the
			// rest), then delete the database itself.
			const tx = db.transaction(OBJECT_STORES, 'readwrite');
			const done = new Promise((resolve, reject) => {
				tx.oncomplete = () => resolve(undefined);
				tx.onabort = () => reject(idbError(tx, 'wipe'));
			});
			for (const s of OBJECT_STORES) tx.objectStore(s).clear();
			await done;
			db.onclose = null;
			db.close();
			await new Promise((resolve) => {
				const d = indexedDB.deleteDatabase(name);
				d.onsuccess = d.onerror = d.onblocked = () => resolve(undefined);
			});
			ls?.removeItem(marker);
		},
		close() {
			db.onclose = null;
			db.close();
		},
		onLost(fn) { lost.push(fn); },
	};
}
