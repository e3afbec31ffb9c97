// sdk.mjs - helpers for the suites that drive the web SDK in pages of the
// test app (tests/web/pages/app): open the app in a context, call the SDK
// in the page with its error codes kept, enroll + log in a device, read
// IndexedDB raw.

export const APP = '/tests/web/pages/app/index.html';
export const PIN = '583920';

/**
 * Opens the test app in a new page of `ctx` and waits (bounded) until the
 * SDK is open; resolves the page.
 * @param {import('playwright-core').BrowserContext} ctx
 * @param {{skew?: number, name?: string}} [o]
 */
export async function openApp(ctx, o = {}) {
	const page = await ctx.newPage();
	await gotoApp(page, o);
	return page;
}

/**
 * (Re)loads the app in `page` and waits for the SDK.
 * @param {import('playwright-core').Page} page
 * @param {{skew?: number, name?: string, reload?: boolean}} [o]
 */
export async function gotoApp(page, o = {}) {
	const q = new URLSearchParams();
	if (o.skew) q.set('skew', String(o.skew));
	if (o.name) q.set('name', o.name);
	const url = APP + (q.size ? `?${q}` : '');
	if (o.reload) await page.reload({ timeout: 30000 });
	else await page.goto(url, { timeout: 30000 });
	// The app shell's worker controls the page, and the reload that the
	// first install makes (registerShell on controllerchange) is over.
	await until(() => page.evaluate(() => {
		const w = /** @type {any} */ (window);
		return !!(w.tfReady && navigator.serviceWorker.controller && !w.tfFirstInstall);
	}), 'the app shell service worker controlling the page', 30000);
	const r = await page.evaluate(() => /** @type {any} */ (window).tfReady.then(
		(/** @type {string} */ s) => ({ s }),
		(/** @type {any} */ e) => ({ e: `${e?.code ?? ''} ${e?.message ?? e}` })));
	if (r.e) throw new Error(`the SDK did not open: ${r.e}`);
	return r.s;
}

/**
 * Runs fn(tf, arg) in the page (fn is sent as source text: it may use only
 * its arguments and the page's globals).  An SDK error comes back as an
 * Error with its `code` (and `attemptsLeft`).
 * @template T
 * @param {import('playwright-core').Page} page
 * @param {(tf: any, arg: any) => T|Promise<T>} fn @param {any} [arg]
 * @returns {Promise<T>}
 */
export async function sdk(page, fn, arg) {
	const r = await page.evaluate(async ([src, a]) => {
		// eslint-disable-next-line no-eval
		const f = (0, eval)(`(${src})`);
		try {
			return { ok: await f(/** @type {any} */ (window).tf, a) };
		} catch (e) {
			const x = /** @type {any} */ (e);
			return { err: { code: x?.code ?? null, message: String(x?.message ?? x),
				attemptsLeft: x?.attemptsLeft ?? null } };
		}
	}, [fn.toString(), arg]);
	if (r.err) {
		const e = /** @type {any} */ (new Error(`in the page: ${r.err.code}: ${r.err.message}`));
		e.code = r.err.code;
		e.attemptsLeft = r.err.attemptsLeft;
		throw e;
	}
	return /** @type {T} */ (r.ok);
}

/**
 * Expects fn to fail in the page with `code`; returns the error.
 * @param {import('playwright-core').Page} page @param {any} fn @param {any} arg
 * @param {string} code
 */
export async function sdkFails(page, fn, arg, code) {
	try {
		await sdk(page, fn, arg);
	} catch (e) {
		if (/** @type {any} */ (e).code !== code)
			throw new Error(`expected ${code}, got ${/** @type {any} */ (e).message}`);
		return /** @type {any} */ (e);
	}
	throw new Error(`expected ${code}, but it succeeded`);
}

/**
 * Enrolls the app in `page` as `device` (the public key registered with
 * tenfourd admin) and logs `user` in online with the PIN.
 * @param {any} env @param {import('playwright-core').Page} page
 * @param {{device: string, user: string, pin?: string}} o
 */
export async function enrollLogin(env, page, o) {
	const { publicKey } = await sdk(page, (tf, a) => tf.enroll(a),
		{ agency: 'demo', device: o.device });
	await env.td.admin(['device-enroll', o.device, '--label', `browser ${o.device}`,
		'--pubkey', publicKey]);
	return login(env, page, o);
}

/**
 * Online login of an enrolled app (banner acknowledged, next TOTP code).
 * @param {any} env @param {import('playwright-core').Page} page
 * @param {{user: string, pin?: string}} o
 */
export async function login(env, page, o) {
	const u = env.td.user(o.user);
	const totp = await env.td.totpNext(o.user);
	return sdk(page, async (tf, a) => {
		const b = await tf.banner();
		return tf.login({ user: a.user, password: a.password, totp: a.totp,
			bannerRev: b.banner_rev, pin: a.pin });
	}, { user: o.user, password: u.password, totp, pin: o.pin ?? PIN });
}

/**
 * Every IndexedDB database of the page's origin read raw: per database and
 * object store, each key and value as text (binary as Latin-1, so any
 * ASCII/UTF-8 plaintext in it shows; CryptoKey objects as their type).
 * @param {import('playwright-core').Page} page
 * @returns {Promise<{dbs: string[], stores: Record<string, number>, text: string}>}
 */
export async function idbDump(page) {
	return page.evaluate(async () => {
		const latin1 = (/** @type {Uint8Array} */ b) => {
			let s = '';
			for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
			return s;
		};
		/** @param {any} v @returns {any} */
		const plain = (v) => {
			if (v instanceof ArrayBuffer) return `bin:${latin1(new Uint8Array(v))}`;
			if (ArrayBuffer.isView(v))
				return `bin:${latin1(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))}`;
			if (typeof CryptoKey !== 'undefined' && v instanceof CryptoKey)
				return `CryptoKey(${v.type},${v.algorithm.name},extractable=${v.extractable})`;
			if (v instanceof Blob) return `blob:${v.size}`;
			if (Array.isArray(v)) return v.map(plain);
			if (v && typeof v === 'object') {
				/** @type {Record<string, any>} */
				const o = {};
				for (const [k, x] of Object.entries(v)) o[k] = plain(x);
				return o;
			}
			return v;
		};
		const req = (/** @type {IDBRequest} */ r) => new Promise((res, rej) => {
			r.onsuccess = () => res(r.result);
			r.onerror = () => rej(r.error);
		});
		const dbs = (await indexedDB.databases()).map((d) => /** @type {string} */ (d.name));
		/** @type {Record<string, number>} */
		const stores = {};
		const parts = [];
		for (const name of dbs) {
			const db = /** @type {IDBDatabase} */ (await new Promise((res, rej) => {
				const r = indexedDB.open(name);
				r.onsuccess = () => res(r.result);
				r.onerror = () => rej(r.error);
			}));
			try {
				for (const s of Array.from(db.objectStoreNames)) {
					const tx = db.transaction(s, 'readonly');
					const st = tx.objectStore(s);
					const keys = /** @type {any[]} */ (await req(st.getAllKeys()));
					const vals = /** @type {any[]} */ (await req(st.getAll()));
					stores[`${name}/${s}`] = keys.length;
					for (let i = 0; i < keys.length; i++)
						parts.push(`${name}/${s} ${JSON.stringify(plain(keys[i]))} = ${JSON.stringify(plain(vals[i]))}`);
				}
			} finally {
				db.close();
			}
		}
		return { dbs, stores, text: parts.join('\n') };
	});
}

/**
 * Waits (bounded) until cond() is truthy; returns its value.
 * @template T @param {() => Promise<T>} cond @param {string} what
 * @param {number} [ms]
 * @returns {Promise<T>}
 */
export async function until(cond, what, ms = 20000) {
	const end = Date.now() + ms;
	/** @type {unknown} */
	let last;
	while (Date.now() < end) {
		try {
			const v = await cond();
			if (v) return v;
		} catch (e) {
			last = e;
		}
		await new Promise((r) => setTimeout(r, 100));
	}
	throw new Error(`waited ${ms} ms for ${what}${last ? `: ${/** @type {any} */ (last).message}` : ''}`);
}

/** @param {any} cond @param {string} msg */
export function assert(cond, msg) {
	if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** @param {any} a @param {any} b @param {string} msg */
export function assertEq(a, b, msg) {
	const sa = JSON.stringify(a);
	const sb = JSON.stringify(b);
	if (sa !== sb) throw new Error(`${msg}: expected ${sb}, got ${sa}`);
}

/**
 * Waits (bounded) until the page's sync loop finished a round after
 * `since` (ms, this machine's clock; take it before the changes) and
 * nothing is queued; returns the status.  (The SDK syncs by itself once
 * unlocked online.)
 * @param {import('playwright-core').Page} page @param {number} since
 * @param {number} [ms]
 */
export async function waitSynced(page, since, ms = 30000) {
	return until(() => sdk(page, async (tf, t) => {
		const ev = /** @type {any[]} */ (/** @type {any} */ (window).tfEvents);
		if (!ev.some((e) => e.type === 'sync' && e.detail?.phase === 'done' && e.at >= t))
			return null;
		const st = await tf.status();
		return st.pending === 0 ? st : null;
	}, since), 'a completed sync round with nothing queued', ms).catch(async (e) => {
		throw new Error(`${e.message}\n${await diagnose(page)}`);
	});
}

/**
 * The page's SDK status and last events, for a failure message.
 * @param {import('playwright-core').Page} page
 */
export async function diagnose(page) {
	try {
		return await page.evaluate(async () => {
			const w = /** @type {any} */ (window);
			const st = w.tf ? await w.tf.status().catch((/** @type {any} */ e) => String(e)) : null;
			const ev = (w.tfEvents ?? []).slice(-15).map((/** @type {any} */ e) =>
				`${new Date(e.at).toISOString().slice(11, 23)} ${e.type} ${JSON.stringify(e.detail).slice(0, 300)}`);
			return `status: ${JSON.stringify(st)}\nlast events:\n${ev.join('\n')}`;
		});
	} catch (e) {
		return `(no diagnosis: ${/** @type {any} */ (e).message})`;
	}
}
