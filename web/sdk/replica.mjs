// replica.mjs - the core's replica (merge, queue, notices: the same C code
// as the server and the native client) kept in the encrypted store, and
// the local hash-chained audit log.
//
// Persistence: per record when the core has replica.checkpoint /
// replica.checkpoint_done / replica.load_parts (one sealed row per record
// and per queued command, only what changed is written); otherwise the
// whole replica (replica.save) as one sealed row.  Either way a change is
// persisted before the call that made it returns, and a write the
// browser refuses (quota) reloads the replica from the store, so memory
// never holds work the store lost: the caller gets the error.
//
// Tabs: every write runs under one exclusive lock per store (Web Locks),
// after reloading the replica when another tab wrote since (the store's
// generation counter); then other tabs are told over BroadcastChannel.

import { TenfourWebError, randomHex, sha256hex, withLock } from './util.mjs';
import { storeError } from './store.mjs';

const GENESIS = '0'.repeat(64);

/** @param {any} core @param {string} method */
export function hasMethod(core, method) {
	try {
		core.call(method, {});
		return true;
	} catch (e) {
		return !/unknown method|no such method/i.test(String(
			/** @type {Error} */ (e).message)) &&
			/** @type {any} */ (e).code !== 'not_found';
	}
}

/**
 * What replica.checkpoint returns (tests/vectors/README.md: {head: text
 * or null, pending: {"<seq>": text or null}, records: {"<id>": text or
 * null}}, every part its exact canonical bytes) as store Parts.
 * @param {any} r @returns {import('./store.mjs').Parts}
 */
function partsOf(r) {
	/** @type {import('./store.mjs').Parts} */
	const p = { putRecords: [], delRecords: [], putPending: [], delPending: [] };
	for (const [id, text] of Object.entries(r.records ?? {})) {
		if (text === null) p.delRecords?.push(id);
		else p.putRecords?.push({ id, json: /** @type {string} */ (text) });
	}
	for (const [seq, text] of Object.entries(r.pending ?? {})) {
		if (text === null) p.delPending?.push(Number(seq));
		else p.putPending?.push({ seq: Number(seq),
			json: /** @type {string} */ (text) });
	}
	if (typeof r.head === 'string') p.head = r.head;
	return p;
}

export class ReplicaHost {
	/**
	 * @param {object} o
	 * @param {any} o.core
	 * @param {import('./store.mjs').Store} o.store
	 * @param {import('./util.mjs').Clock} o.clock
	 * @param {string} o.device @param {string} o.user
	 * @param {string} [o.agency] @param {string} [o.role]
	 * @param {string} o.lockName  the per-store write lock
	 * @param {(msg: object) => void} [o.broadcast]
	 */
	constructor(o) {
		this.core = o.core;
		this.store = o.store;
		this.clock = o.clock;
		this.device = o.device;
		this.user = o.user;
		this.agency = o.agency;
		this.role = o.role;
		this.lockName = o.lockName;
		this.broadcast = o.broadcast ?? (() => {});
		/** @type {number|null} */
		this.rep = null;
		this.parts = hasMethod(o.core, 'replica.checkpoint') &&
			hasMethod(o.core, 'replica.load_parts');
		/** @type {{seq: number, hash: string, ts: number}} */
		this.auditHead = { seq: 0, hash: GENESIS, ts: 0 };
		/** audit entries written but not yet uploaded start after this */
		this.auditSent = 0;
		/** the next checkpoint writes everything (new or migrated store) */
		this._needFull = false;
	}

	/** Loads the replica from the store (a new one when there is none). */
	async load() {
		const st = this.store;
		const p = await st.loadParts();
		const saved = this.parts && p.head !== undefined ? undefined
			: await st.head('save');
		const ah = await st.head('audit');
		// The new replica is built before the old one goes, so a read
		// during a reload sees the old state, never none.
		let rep;
		if (this.parts && p.head !== undefined) {
			rep = this.core.call('replica.load_parts', { head: p.head,
				records: p.records, pending: p.pending }).replica;
		} else if (saved !== undefined) {
			rep = this.core.call('replica.load', { saved }).replica;
			// A store of the whole-save form moves to rows at the next
			// write (when this core can).
			this._needFull = this.parts;
		} else if (p.head !== undefined) {
			throw new TenfourWebError('store_newer', 'the store keeps ' +
				'records one per row but this core cannot read them');
		} else {
			rep = this.core.call('replica.new', { device: this.device,
				user: this.user }).replica;
			this._needFull = this.parts;
		}
		this.free();
		this.rep = rep;
		if (ah) Object.assign(this, JSON.parse(ah));
	}

	free() {
		if (this.rep !== null) {
			try {
				this.core.call('replica.free', { replica: this.rep });
			} catch { /* already gone with a core reset */ }
		}
		this.rep = null;
	}

	/** @returns {number} */
	get r() {
		if (this.rep === null)
			throw new TenfourWebError('locked', 'the store is locked');
		return this.rep;
	}

	/** Reloads when another tab wrote since this one last did. */
	async fresh() {
		if ((await this.store.storedGen()) !== this.store.gen) await this.load();
	}

	/**
	 * Runs fn under the store's write lock on a fresh replica, then
	 * persists what changed together with the audit entries fn queued.
	 * On a failed write the replica is reloaded and the error thrown.
	 * @template T
	 * @param {(ctx: {audit: (ev: object) => Promise<void>}) => Promise<T>|T} fn
	 * @param {{full?: boolean, reset?: boolean}} [opts]
	 * @returns {Promise<T>}
	 */
	async write(fn, opts = {}) {
		return /** @type {Promise<T>} */ (withLock(this.lockName, async () => {
			await this.fresh();
			/** @type {Array<{seq: number, bytes: string, hash: string}>} */
			const entries = [];
			const head0 = { ...this.auditHead };
			const ctx = {
				/** @param {any} ev */
				audit: async (ev) => { entries.push(await this._entry(ev)); },
			};
			let out;
			try {
				out = await fn(ctx);
				await this._persist(entries, opts);
			} catch (e) {
				this.auditHead = head0;
				if (e instanceof TenfourWebError &&
				    (e.code === 'quota_exceeded' || e.code === 'store_lost' ||
				     e.code === 'internal_error')) {
					try {
						await this.load();
					} catch { /* the store is gone: the error says so */ }
				}
				throw e;
			}
			this.broadcast({ type: 'changed', gen: this.store.gen });
			return out;
		}));
	}

	/**
	 * @param {Array<{seq: number, bytes: string, hash: string}>} entries
	 * @param {{full?: boolean, reset?: boolean}} opts
	 */
	async _persist(entries, opts) {
		const heads = { audit: JSON.stringify({ auditHead: this.auditHead,
			auditSent: this.auditSent }) };
		try {
			if (this.parts) {
				const full = !!opts.full || !!opts.reset || this._needFull;
				const r = this.core.call('replica.checkpoint',
					{ replica: this.r, full });
				const p = partsOf(r);
				if (full) p.clearRecords = true;
				/** @type {Record<string, string|null>} */
				const h2 = { ...heads };
				if (this._needFull) h2.save = null;
				await this.store.commit(p, { audit: entries, heads: h2 });
				this.core.call('replica.checkpoint_done', { replica: this.r });
				this._needFull = false;
			} else {
				const saved = this.core.call('replica.save', { replica: this.r });
				await this.store.commit({}, { audit: entries,
					heads: { ...heads, save: saved } });
			}
		} catch (e) {
			throw storeError(e, 'saving the offline store');
		}
	}

	/**
	 * A local audit entry (the core writes its canonical bytes; SHA-256
	 * here links the chain).
	 * @param {{type: string, ok?: boolean, where?: string, entity?: string,
	 *   record_id?: string, cmd_id?: string, field?: string, detail?: object,
	 *   ts?: number}} ev
	 */
	async _entry(ev) {
		let ts = ev.ts ?? this.clock.wall();
		if (ev.type !== 'clock_rollback' && ev.type !== 'clock_rebase' &&
		    ts < this.auditHead.ts)
			ts = this.auditHead.ts;
		/** @type {Record<string, unknown>} */
		const input = { seq: this.auditHead.seq + 1, ts, type: ev.type,
			outcome: ev.ok === false ? 'failure' : 'success', user: this.user,
			source: 'local', where: ev.where ?? 'web', prev: this.auditHead.hash,
			device: this.device };
		if (this.agency) input.agency = this.agency;
		if (this.role) input.role = this.role;
		for (const k of ['entity', 'record_id', 'cmd_id', 'field', 'detail'])
			if (/** @type {any} */ (ev)[k] !== undefined)
				input[k] = /** @type {any} */ (ev)[k];
		const bytes = this.core.call('audit.write', input);
		const hash = await sha256hex(new TextEncoder().encode(bytes));
		this.auditHead = { seq: /** @type {number} */ (input.seq), hash, ts };
		return { seq: /** @type {number} */ (input.seq), bytes, hash };
	}

	// ------------------------------------------------------------ reads

	/** @param {string} id */
	view(id) {
		return this.core.call('replica.view', { replica: this.r, record_id: id });
	}

	/** @param {string} [entity] @returns {string[]} */
	list(entity) {
		return this.core.call('replica.list', entity
			? { replica: this.r, entity } : { replica: this.r });
	}

	notices() {
		return this.core.call('replica.notices', { replica: this.r });
	}

	summary() {
		return this.core.call('replica.summary', { replica: this.r,
			now: this.clock.wall() });
	}

	cursor() {
		return this.core.call('replica.cursor', { replica: this.r });
	}

	/** Sync state and scope of a record, for the eviction policy. */
	stateOf(/** @type {string} */ id) {
		try {
			return { state: this.view(id).sync, in_scope: true };
		} catch {
			return { state: 'synced', in_scope: false };
		}
	}

	// ----------------------------------------------------------- writes

	/**
	 * Queues a mutation (persisted before it returns; audited create or
	 * modify).
	 * @param {{entity: string, op: string, args: object, record_id?: string,
	 *   online?: boolean}} m
	 * @returns {Promise<{cmd_id: string, record_id: string}>}
	 */
	mutate(m) {
		return this.write(async ({ audit }) => {
			/** @type {Record<string, unknown>} */
			const input = { replica: this.r, now: this.clock.wall(),
				random: randomHex(20), entity: m.entity, op: m.op, args: m.args,
				online: !!m.online };
			if (m.record_id) input.record_id = m.record_id;
			const r = this.core.call('replica.mutate', input);
			/** @type {any} */
			const a = m.args;
			await audit({ type: m.op === 'create' ? 'create'
				: m.op === 'resolve' ? 'conflict_resolution' : 'modify',
			entity: m.entity, record_id: r.record_id, cmd_id: r.cmd_id,
			field: typeof a?.field === 'string' ? a.field : undefined });
			return r;
		});
	}

	/** @param {string} notice @param {string} kind */
	ack(notice, kind) {
		return this.write(async ({ audit }) => {
			this.core.call('replica.ack_notice', { replica: this.r, notice });
			await audit({ type: kind === 'rejected' ? 'reject_ack'
				: 'supersede_ack', detail: { notice } });
			return true;
		});
	}

	/** @param {string} id a record to evict (synced, nothing pending) */
	canEvict(id) {
		return this.parts && hasMethod(this.core, 'replica.evict') &&
			this.stateOf(id).state === 'synced';
	}
}
