// util.mjs - small shared pieces of the tenfour web SDK: the SDK's error
// type, byte encodings, a clock that tests can replace, and an exclusive
// lock that uses Web Locks where the platform has them.
//
// No dependencies; plain ES module; browsers and Node >= 20.

/**
 * Every error the SDK raises.  `code` is a wire code of
 * include/tenfour/tenfour.h where one fits ("locked", "unauthenticated",
 * "wipe_required", "expired", "clock_rollback", "device_revoked",
 * "unreachable", "busy", ...) or one of the SDK's own:
 *   "quota_exceeded"  the browser refused to store more (nothing was lost:
 *                     the write did not happen and the caller is told)
 *   "store_lost"      the IndexedDB database vanished or was evicted
 *   "store_newer"     the store was written by a newer SDK version
 *   "not_enrolled"    no device identity / keyring yet
 */
export class TenfourWebError extends Error {
	/**
	 * @param {string} code @param {string} message
	 * @param {{where?: string, status?: number, cause?: unknown,
	 *          attemptsLeft?: number, wipe?: boolean}} [extra]
	 */
	constructor(code, message, extra = {}) {
		super(message, extra.cause === undefined ? undefined
			: { cause: extra.cause });
		this.name = 'TenfourWebError';
		/** @type {string} */
		this.code = code;
		/** @type {string|undefined} */
		this.where = extra.where;
		/** @type {number|undefined} HTTP status, for server errors */
		this.status = extra.status;
		/** @type {number|undefined} failed unlocks left before a wipe */
		this.attemptsLeft = extra.attemptsLeft;
		/** @type {boolean|undefined} the server asked for a wipe */
		this.wipe = extra.wipe;
	}
}

export const enc = new TextEncoder();
export const dec = new TextDecoder('utf-8', { fatal: true });

/** @param {Uint8Array} b @returns {string} */
export function b64url(b) {
	let s = '';
	for (let i = 0; i < b.length; i += 0x8000)
		s += String.fromCharCode(...b.subarray(i, i + 0x8000));
	return btoa(s).replace(/\+/g, '-').replace(/\//g, '_')
		.replace(/=+$/, '');
}

/** @param {string} s @returns {Uint8Array} */
export function unb64url(s) {
	if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s))
		throw new TenfourWebError('invalid_argument',
			'not base64url text');
	const t = s.replace(/-/g, '+').replace(/_/g, '/');
	const bin = atob(t + '='.repeat((4 - (t.length % 4)) % 4));
	const out = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
	return out;
}

/** @param {Uint8Array} b @returns {string} */
export function hex(b) {
	let s = '';
	for (const x of b) s += x.toString(16).padStart(2, '0');
	return s;
}

/** @param {number} n @returns {Uint8Array} n random bytes */
export function randomBytes(n) {
	return crypto.getRandomValues(new Uint8Array(n));
}

/** @param {number} n @returns {string} 2n random hex digits */
export function randomHex(n) {
	return hex(randomBytes(n));
}

/** @param {Uint8Array} b @returns {Promise<string>} SHA-256, hex */
export async function sha256hex(b) {
	return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', b)));
}

/**
 * The clocks the SDK reads: wall time (ms since the epoch) and a monotonic
 * reading (ms, only compared within one page's life).  Tests pass their
 * own.
 * @typedef {{wall: () => number, mono: () => number}} Clock
 */

/** @type {Clock} */
export const systemClock = {
	wall: () => Date.now(),
	mono: () => Math.floor(performance.now()),
};

/**
 * An exclusive lock by name: navigator.locks where it exists (shared by
 * every tab of the origin), else a promise chain inside this realm (Node,
 * old browsers: one tab only).
 */
const chains = new Map();
/**
 * @template T
 * @param {string} name @param {() => Promise<T>} fn
 * @param {{ifAvailable?: boolean}} [opts] ifAvailable: run fn only when
 *   the lock is free now; resolves undefined otherwise
 * @returns {Promise<T|undefined>}
 */
export async function withLock(name, fn, opts = {}) {
	const locks = typeof navigator !== 'undefined'
		? /** @type {any} */ (navigator).locks : undefined;
	if (locks?.request) {
		return locks.request(name, { ifAvailable: !!opts.ifAvailable },
			/** @param {unknown} lock */
			(lock) => (lock === null ? undefined : fn()));
	}
	const prev = chains.get(name);
	if (opts.ifAvailable && prev) return undefined;
	/** @type {() => void} */
	let release = () => {};
	const mine = new Promise((r) => { release = () => r(undefined); });
	const tail = (prev ?? Promise.resolve()).then(() => mine);
	chains.set(name, tail);
	try {
		if (prev) await prev;
		return await fn();
	} finally {
		release();
		if (chains.get(name) === tail) chains.delete(name);
	}
}

/** @param {number} ms @param {AbortSignal} [signal] */
export function sleep(ms, signal) {
	return new Promise((resolve) => {
		const t = setTimeout(resolve, ms);
		signal?.addEventListener('abort', () => {
			clearTimeout(t);
			resolve(undefined);
		}, { once: true });
	});
}

/**
 * A minimal typed event emitter (EventTarget is not subclassable the same
 * way everywhere; this one is).
 */
export class Emitter {
	constructor() {
		/** @type {Map<string, Set<Function>>} */
		this._h = new Map();
	}

	/**
	 * @param {string} type @param {(detail: any) => void} fn
	 * @returns {() => void} unsubscribe
	 */
	on(type, fn) {
		let s = this._h.get(type);
		if (!s) this._h.set(type, (s = new Set()));
		s.add(fn);
		return () => s?.delete(fn);
	}

	/** @param {string} type @param {any} [detail] */
	emit(type, detail) {
		for (const fn of [...(this._h.get(type) ?? [])]) {
			try {
				fn(detail);
			} catch (e) {
				queueMicrotask(() => { throw e; });
			}
		}
		for (const fn of [...(this._h.get('*') ?? [])]) {
			try {
				fn({ type, detail });
			} catch (e) {
				queueMicrotask(() => { throw e; });
			}
		}
	}
}
