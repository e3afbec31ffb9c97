// sync.mjs - talking to tenfourd (docs/API.md): the HTTP client and the
// sync loop.
//
// One sync round (the native tf_client_sync): push every queued command
// in order (batches of 1,000; clock_skew results re-stamp and resend),
// pull every page (each page and its effects persisted in one store
// transaction, so a reload resumes from the last persisted cursor),
// upload the local audit log, evict under the budget.  The network
// exchange runs outside the store's write lock, so the officer can keep
// typing while a push is in flight.
//
// watch(): one tab at a time (a Web Lock per store) runs rounds, then
// listens to /v1/sync/events (read with fetch, since EventSource cannot
// send the Authorization header; long-poll pull?wait=25 when streams do
// not work) and runs a round at each poke.  While the server is
// unreachable it retries with exponential backoff and full jitter
// (1 s .. 60 s), at once when the browser says it is online again.
// Other tabs learn of every change over BroadcastChannel (replica.mjs).
//
// Locking (or a new login) drains the engine first: the exchange in
// flight finishes and its reply is persisted before the keys go (bounded
// by the request timeout), so a push is not sent again for a lost reply.
//
// device_revoked: the store is wiped, a signed receipt sent, the caller
// told.  401: the session is over (an online login is needed; queued
// work stays).  A reset page drops the base and pulls from the start.

import { TenfourWebError, sleep, withLock } from './util.mjs';

/** Bytes of a reply the client reads at most (a pull page is < 64 MiB). */
const MAX_REPLY = 64 * 1024 * 1024;
/** Bound on push batches and pull pages per round. */
const MAX_ROUNDS = 100000;

/**
 * @typedef {object} HttpOpts
 * @property {string} [baseUrl]   '' = the page's origin (it proxies /v1)
 * @property {typeof fetch} [fetch]
 * @property {number} [timeoutMs] per exchange (default 30 s)
 */

export class Http {
	/** @param {HttpOpts} [o] */
	constructor(o = {}) {
		this.base = (o.baseUrl ?? '').replace(/\/+$/, '');
		this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
		this.timeoutMs = o.timeoutMs ?? 30000;
		/** @type {{token: string, device: string}|null} */
		this.session = null;
		/** when the last exchange with the server succeeded (wall ms) */
		this.lastContact = 0;
		this.online = false;
	}

	/** @param {Record<string, string>} [h] */
	_headers(h = {}) {
		/** @type {Record<string, string>} */
		const out = { ...h };
		if (this.session) {
			out.Authorization = `Bearer ${this.session.token}`;
			out['X-Tenfour-Device'] = this.session.device;
		}
		return out;
	}

	/**
	 * One exchange; the JSON reply, or a TenfourWebError with the
	 * server's code (status kept), or `unreachable`.
	 * @param {string} method @param {string} path
	 * @param {unknown} [body] @param {{signal?: AbortSignal, timeoutMs?: number}} [o]
	 */
	async json(method, path, body, o = {}) {
		const ac = new AbortController();
		const t = setTimeout(() => ac.abort(), o.timeoutMs ?? this.timeoutMs);
		const onAbort = () => ac.abort();
		o.signal?.addEventListener('abort', onAbort, { once: true });
		let res;
		try {
			res = await this.fetch(this.base + path, { method,
				headers: this._headers(body === undefined ? {}
					: { 'Content-Type': 'application/json' }),
				body: body === undefined ? undefined : JSON.stringify(body),
				signal: ac.signal, cache: 'no-store', credentials: 'omit' });
		} catch (e) {
			clearTimeout(t);
			this.online = false;
			throw new TenfourWebError('unreachable', `${method} ${path}: the ` +
				'server could not be reached; work stays queued',
			{ cause: e });
		}
		let text;
		try {
			text = await res.text();
		} catch (e) {
			this.online = false;
			throw new TenfourWebError('unreachable', `${method} ${path}: the ` +
				'reply was cut off', { cause: e });
		} finally {
			clearTimeout(t);
			o.signal?.removeEventListener('abort', onAbort);
		}
		if (text.length > MAX_REPLY)
			throw new TenfourWebError('limit_exceeded', `${method} ${path}: ` +
				'reply too large');
		this.online = true;
		this.lastContact = Date.now();
		let doc;
		try {
			doc = text ? JSON.parse(text) : {};
		} catch (e) {
			// A proxy's HTML error page, a captive portal.
			if (res.status >= 500) this.online = false;
			throw new TenfourWebError(res.status >= 500 ? 'unreachable'
				: 'protocol_error', `${method} ${path}: HTTP ${res.status}, ` +
				'not a tenfourd reply', { status: res.status, cause: e });
		}
		if (!res.ok) {
			if (res.status === 502 || res.status === 504)
				this.online = false;
			throw new TenfourWebError(doc.code ?? (res.status >= 500
				? 'unreachable' : 'internal_error'),
			doc.message ?? `${method} ${path}: HTTP ${res.status}`,
			{ where: doc.field, status: res.status, wipe: doc.wipe === true });
		}
		return doc;
	}

	/**
	 * Reads the event stream (text/event-stream over fetch) and calls
	 * onEvent for each event; resolves when the stream ends or `signal`
	 * aborts.  Bounded lines (64 KiB).
	 * @param {string} lastId
	 * @param {(ev: {event: string, id: string, data: string}) => void} onEvent
	 * @param {AbortSignal} signal
	 */
	async events(lastId, onEvent, signal) {
		/** @type {Record<string, string>} */
		const h = { Accept: 'text/event-stream' };
		if (lastId) h['Last-Event-ID'] = lastId;
		let res;
		try {
			res = await this.fetch(`${this.base}/v1/sync/events`, {
				headers: this._headers(h), signal, cache: 'no-store',
				credentials: 'omit' });
		} catch (e) {
			if (signal.aborted) return;
			this.online = false;
			throw new TenfourWebError('unreachable', 'event stream: the ' +
				'server could not be reached', { cause: e });
		}
		if (!res.ok || !res.body) {
			let doc = {};
			try {
				doc = JSON.parse(await res.text());
			} catch { /* not JSON */ }
			const d = /** @type {any} */ (doc);
			throw new TenfourWebError(d.code ?? 'unreachable', d.message ??
				`event stream: HTTP ${res.status}`, { status: res.status,
				where: d.field, wipe: d.wipe === true });
		}
		this.online = true;
		this.lastContact = Date.now();
		const reader = res.body.getReader();
		const td = new TextDecoder();
		let buf = '';
		let ev = { event: '', id: lastId, data: '' };
		let dataLines = [];
		try {
			for (let n = 0; n < 1e9; n++) {
				const { value, done } = await reader.read();
				if (done) return;
				this.lastContact = Date.now();
				buf += td.decode(value, { stream: true });
				if (buf.length > 65536 && !/[\r\n]/.test(buf))
					throw new TenfourWebError('limit_exceeded',
						'event stream: a line over 64 KiB');
				let m;
				while ((m = /\r\n|\r|\n/.exec(buf)) !== null) {
					if (m[0] === '\r' && m.index === buf.length - 1) break;
					const line = buf.slice(0, m.index);
					buf = buf.slice(m.index + m[0].length);
					if (line === '') {
						if (dataLines.length || ev.event) {
							onEvent({ event: ev.event || 'message', id: ev.id,
								data: dataLines.join('\n') });
						}
						ev = { event: '', id: ev.id, data: '' };
						dataLines = [];
						continue;
					}
					if (line.startsWith(':')) continue;
					const i = line.indexOf(':');
					const f = i < 0 ? line : line.slice(0, i);
					let v = i < 0 ? '' : line.slice(i + 1);
					if (v.startsWith(' ')) v = v.slice(1);
					if (f === 'event') ev.event = v;
					else if (f === 'data') dataLines.push(v);
					else if (f === 'id' && !v.includes('\0')) ev.id = v;
				}
			}
		} catch (e) {
			if (signal.aborted) return;
			if (e instanceof TenfourWebError) throw e;
			throw new TenfourWebError('unreachable', 'event stream cut',
				{ cause: e });
		} finally {
			reader.cancel().catch(() => {});
		}
	}
}

/**
 * Exponential backoff with full jitter: a random wait in [0, min(max,
 * base * 2^attempt)], at least 250 ms.
 * @param {number} attempt @param {number} [base] @param {number} [max]
 * @param {() => number} [rand]
 */
export function backoff(attempt, base = 1000, max = 60000, rand = Math.random) {
	const cap = Math.min(max, base * 2 ** Math.min(attempt, 20));
	return Math.max(250, Math.floor(rand() * cap));
}

/**
 * @typedef {object} SyncHooks
 * @property {() => Promise<void>} onRevoked   wipe + receipt (tenfour.mjs)
 * @property {(e: TenfourWebError) => void} onSessionEnded
 * @property {(p: {pushed: number, toPush: number, records: number,
 *   remaining: number|null}) => void} [onProgress]
 * @property {(type: string, detail?: any) => void} [emit]
 * @property {() => Promise<void>} [afterRound]  audit upload, eviction
 */

export class SyncEngine {
	/**
	 * @param {import('./replica.mjs').ReplicaHost} host
	 * @param {Http} http
	 * @param {SyncHooks} hooks
	 * @param {{syncLock: string, pageLimit?: number, rand?: () => number}} o
	 */
	constructor(host, http, hooks, o) {
		this.host = host;
		this.http = http;
		this.hooks = hooks;
		this.syncLock = o.syncLock;
		this.pageLimit = o.pageLimit ?? 1000;
		this.rand = o.rand ?? Math.random;
		/** @type {AbortController|null} */
		this._stop = null;
		this.running = false;
		this.leader = false;
		/** @type {TenfourWebError|null} */
		this.lastError = null;
		this.lastSync = 0;
		/** @type {(() => void)|null} */
		this._wake = null;
		this._woken = false;
		/** @type {TenfourWebError|null} */
		this._endErr = null;
		/** set by drain(): no exchange starts any more */
		this._closing = false;
		/** @type {Promise<any>|null} the round running now */
		this._active = null;
	}

	/** Throws `locked` once drain() was called: no new exchange. */
	_check() {
		if (this._closing)
			throw new TenfourWebError('locked', 'the SDK is locking: the ' +
				'sync round stopped before its next exchange');
	}

	/**
	 * Before the keys go (lock, a new login): stops the loop and lets the
	 * round in flight finish the exchange it started and persist its
	 * reply, so a push whose reply would be lost is not sent again (no
	 * "duplicate").  No new exchange starts.  Returns null when no round
	 * runs, else a promise that settles when it ends or after `ms`
	 * (bounded: a reply that takes longer is lost, and its commands go
	 * again at the next round, the server replying `duplicate`).
	 * @param {number} ms
	 * @returns {Promise<void>|null}
	 */
	drain(ms) {
		this._closing = true;
		this.stop();
		const a = this._active;
		if (!a) return null;
		/** @type {any} */
		let t;
		return Promise.race([a.then(() => {}, () => {}),
			new Promise((r) => { t = setTimeout(r, ms); })])
			.finally(() => clearTimeout(t));
	}

	_emit(/** @type {string} */ t, /** @type {any} */ d) {
		this.hooks.emit?.(t, d);
	}

	/**
	 * Maps a server refusal to what the client does; rethrows.
	 * @param {unknown} e
	 */
	async _fail(e) {
		const err = e instanceof TenfourWebError ? e
			: new TenfourWebError('internal_error', String(e), { cause: e });
		this.lastError = err;
		if (err.code === 'device_revoked') {
			await this.hooks.onRevoked();
		} else if (err.code === 'unauthenticated' && err.status === 401) {
			this.hooks.onSessionEnded(err);
		}
		throw err;
	}

	/** Pushes every queued command; returns how many were sent. */
	async push() {
		let sent = 0;
		let total = -1;
		const h = this.host;
		let skews = 0;
		for (let round = 0; round < MAX_ROUNDS; round++) {
			const req = await withLock(h.lockName, async () => {
				await h.fresh();
				return h.core.call('replica.push_request',
					{ replica: h.r, max: 1000 });
			});
			if (!req.commands.length) return sent;
			if (total < 0) total = req.commands.length;
			this._check();
			let reply;
			try {
				reply = await this.http.json('POST', '/v1/sync/push', req);
			} catch (e) {
				return this._fail(e);
			}
			await h.write(async () => {
				h.core.call('replica.apply_push_reply', { replica: h.r,
					now: h.clock.wall(), reply });
			});
			const results = reply.results ?? [];
			// Nothing taken (a gap): the pull settles it next.
			if (!results.length) return sent;
			const skewed = results.filter((/** @type {any} */ r) =>
				r.status === 'clock_skew').length;
			sent += results.length - skewed;
			this.hooks.onProgress?.({ pushed: sent, toPush: total,
				records: 0, remaining: null });
			// clock_skew re-stamped the commands (replica.mjs): resend,
			// a bounded number of times in a row.
			if (skewed === results.length && ++skews > 5)
				throw new TenfourWebError('clock_skew', 'the server kept ' +
					'refusing this device\'s clock after re-stamping');
			if (skewed < results.length) skews = 0;
		}
		throw new TenfourWebError('limit_exceeded', 'push did not finish ' +
			`in ${MAX_ROUNDS} batches`);
	}

	/** Pulls every page; returns the number of records received. */
	async pull() {
		const h = this.host;
		let n = 0;
		for (let page = 0; page < MAX_ROUNDS; page++) {
			const cursor = await withLock(h.lockName, async () => {
				await h.fresh();
				return h.cursor();
			});
			const q = new URLSearchParams({ limit: String(this.pageLimit) });
			if (cursor) q.set('cursor', /** @type {string} */ (cursor));
			this._check();
			let doc;
			try {
				doc = await this.http.json('GET', `/v1/sync/pull?${q}`);
			} catch (e) {
				return this._fail(e);
			}
			await h.write(async ({ audit }) => {
				h.core.call('replica.apply_pull', { replica: h.r,
					now: h.clock.wall(), page: doc });
				if (doc.purged?.length)
					await audit({ type: 'purge', detail: {
						records: doc.purged.length } });
			}, { reset: !!doc.reset });
			if (doc.reset) this._emit('reset', {});
			n += doc.records?.length ?? 0;
			this.hooks.onProgress?.({ pushed: 0, toPush: 0, records: n,
				remaining: typeof doc.remaining === 'number'
					? doc.remaining : null });
			if (!doc.has_more) return n;
		}
		throw new TenfourWebError('limit_exceeded', 'pull did not finish ' +
			`in ${MAX_ROUNDS} pages`);
	}

	/**
	 * One round: push, pull, then the hooks (audit upload, eviction).
	 * Rounds never overlap, in one tab or across tabs (a lock of their
	 * own), so no command goes out twice at once.
	 */
	round() {
		return /** @type {Promise<{pushed: number, records: number}>} */ (
			withLock(`${this.syncLock}:round`, () => {
				this._check();
				const p = this._round();
				this._active = p;
				return p.finally(() => {
					if (this._active === p) this._active = null;
				});
			}));
	}

	async _round() {
		this._emit('sync', { phase: 'start' });
		const pushed = await this.push();
		const records = await this.pull();
		// Commands queued meanwhile go at once.
		const more = await this.push();
		this._check();
		await this.hooks.afterRound?.();
		this.lastSync = Date.now();
		this.lastError = null;
		this._emit('sync', { phase: 'done', pushed: pushed + more, records });
		return { pushed: pushed + more, records };
	}

	/** Wakes a waiting watch loop (a local change, the browser online). */
	wake() {
		if (this._wake) this._wake();
		else this._woken = true;
	}

	/**
	 * Runs rounds while this tab holds the sync lock: at each poke, and
	 * with backoff while unreachable.  Returns when stop() is called.
	 * Tabs that do not get the lock wait for it (they take over when the
	 * leading tab closes).
	 */
	async watch() {
		if (this.running) return;
		this.running = true;
		this._stop = new AbortController();
		const stop = this._stop.signal;
		/** @type {any} */
		const win = typeof window !== 'undefined' ? window : null;
		const onOnline = () => this.wake();
		const onOffline = () => { this.http.online = false; this._emit('network', { online: false }); };
		win?.addEventListener('online', onOnline);
		win?.addEventListener('offline', onOffline);
		try {
			await withLock(this.syncLock, async () => {
				this.leader = true;
				this._emit('leader', { leader: true });
				await this._loop(stop);
			}, {}).catch((e) => {
				if (!stop.aborted) throw e;
			});
		} finally {
			this.leader = false;
			this.running = false;
			win?.removeEventListener('online', onOnline);
			win?.removeEventListener('offline', onOffline);
		}
	}

	/** @param {AbortSignal} stop */
	async _loop(stop) {
		let attempt = 0;
		let useStream = true;
		for (let i = 0; i < 1e9 && !stop.aborted; i++) {
			try {
				await this.round();
				attempt = 0;
				this._emit('network', { online: true });
				// Wait for a poke (or a local change, or stop).
				const local = new AbortController();
				this._wake = () => local.abort();
				// A wake during the round: go again at once.
				if (this._woken) local.abort();
				this._woken = false;
				const both = AbortSignal.any
					? AbortSignal.any([stop, local.signal]) : stop;
				const cursor = await withLock(this.host.lockName,
					async () => this.host.cursor());
				if (useStream) {
					try {
						await this.http.events(/** @type {string} */ (cursor),
							(ev) => {
								if (ev.event === 'poke') local.abort();
								if (ev.event === 'end') {
									let d = {};
									try { d = JSON.parse(ev.data); } catch { /* */ }
									const x = /** @type {any} */ (d);
									this._endErr = new TenfourWebError(
										x.code ?? 'unauthenticated',
										x.message ?? 'event stream ended',
										{ status: x.code === 'device_revoked'
											? 403 : 401, wipe: !!x.wipe });
									local.abort();
								}
							}, both);
					} catch (e) {
						const err = /** @type {TenfourWebError} */ (e);
						if (err.code === 'busy' || err.status === 404)
							useStream = false;
						else throw e;
					}
				} else {
					const q = new URLSearchParams({ wait: '25', limit: '1' });
					if (cursor) q.set('cursor', String(cursor));
					// The page itself is not used: pull stays the one
					// data path, the round pulls it again.
					await this.http.json('GET', `/v1/sync/pull?${q}`, undefined,
						{ signal: both, timeoutMs: 40000 }).catch((e) => {
						if (!both.aborted) throw e;
					});
				}
				this._wake = null;
				if (this._endErr) {
					const e = this._endErr;
					this._endErr = null;
					await this._fail(e);
				}
			} catch (e) {
				const err = /** @type {TenfourWebError} */ (e);
				this.lastError = err;
				if (stop.aborted) return;
				if (err.code === 'device_revoked' || err.code === 'wipe_required' ||
				    (err.code === 'unauthenticated' && err.status === 401) ||
				    err.code === 'locked' || err.code === 'store_lost') {
					this._emit('error', err);
					return;
				}
				if (err.code === 'unreachable') this._emit('network', { online: false });
				else this._emit('error', err);
				const ms = backoff(attempt++, 1000, 60000, this.rand);
				this._emit('retry', { in_ms: ms, attempt, error: err.code });
				const local = new AbortController();
				this._wake = () => local.abort();
				await sleep(ms, AbortSignal.any
					? AbortSignal.any([stop, local.signal]) : stop);
				this._wake = null;
			}
		}
	}

	/** Stops watch(). */
	stop() {
		this._stop?.abort();
		this.wake();
	}
}
