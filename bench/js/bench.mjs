// bench.mjs - the tenfour core natively, in WebAssembly and beside
// Automerge and Yjs on the same workloads, printed side by side.
// Run by scripts/run-bench.sh (which builds everything first):
//
//   node bench/js/bench.mjs --native build/native/bench/bench_core \
//        --wasm-direct build/bench/bench_core.wasm \
//        --core build/wasm/tenfour.wasm --fixtures build/bench/fixtures \
//        [--out build/bench/results.json]
//
// Rows:
//  - "direct": bench/bench_core.c calling the C functions, built natively
//    and for wasm32-wasi (run here under node:wasi): the core's own speed.
//  - "api": the same workloads through the JSON API, tf_api_call called by
//    C natively and inside wasm (the same bench_core.c), and through
//    web/sdk/core.mjs from JavaScript: what a browser app gets.
//  The wasm/native column is native speed / wasm speed (2.00 = wasm takes
//  twice as long).
//  - comparison: lww field merges and list appends merged from another
//    replica, in tenfour (wasm API), Automerge and Yjs, in this process,
//    one change per call and in batches of 100 per call (every library
//    batched the same way; see "comparison workloads" below).
//
// `node bench.mjs --wasi FILE` runs bench_core's --json workloads in the
// WebAssembly build of bench_core.c (a WASI reactor), for the direct wasm
// row, in a child process so its output can be read.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';
import { loadCore } from '../../web/sdk/core.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

if (process.argv[2] === '--wasi') {
	// A reactor exporting bench_json(): the bench's --json run.
	const wasi = new WASI({ version: 'preview1', args: ['bench_core'], preopens: { '/': root } });
	const mod = await WebAssembly.compile(readFileSync(process.argv[3]));
	const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
	wasi.initialize(inst);
	process.exitCode = /** @type {any} */ (inst.exports).bench_json();
} else {
	await main();
}

async function main() {

/** @param {string} name */
const arg = (name) => {
	const i = process.argv.indexOf(name);
	return i > 0 ? process.argv[i + 1] : undefined;
};
const nativeBin = arg('--native');
const wasmDirect = arg('--wasm-direct');
const corePath = arg('--core') ?? resolve(root, 'build/wasm/tenfour.wasm');
const fixtures = arg('--fixtures') ?? resolve(root, 'build/bench/fixtures');
const outPath = arg('--out');
// Only the Automerge / Yjs / tenfour comparison (quicker, for iterating).
const compareOnly = process.argv.includes('--compare-only');

// Workload sizes: the same as bench/bench_core.c's API_* constants.
const T0 = 1764000000000;
const API_LWW_OPS = 50000;
const API_LWW_RECORDS = 100;
const API_LOG_RECORDS = 200;
const API_LOG_PER_RECORD = 50;
const CMP_OPS = 20000; // Automerge / Yjs / tenfour comparison
const STATUSES = ['available', 'dispatched', 'enroute', 'onscene', 'clear'];
const DEVICES = ['mdt-2a12', 'mdt-2a14', 'console-3', 'mdt-2a20'];
const NOTE = '2A12 on scene, two males arguing, no weapon seen';
// Comparison op k sets a status that differs from the record's previous one.
const cmpStatus = (k) => STATUSES[(Math.floor(k / 100) + 1) % 5];

const now = () => performance.now() / 1000;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * UUIDv7 text from ms and a counter k < 2^53 (bench_core.c's make_id:
 * random bytes i = byte i % 8 of k, byte 0 = k >> 56, which is 0 here).
 * @param {number} ms @param {number} k
 */
function makeId(ms, k) {
	const b = new Array(16);
	for (let i = 5, m = ms; i >= 0; i--, m = Math.floor(m / 256)) b[i] = m % 256;
	for (let i = 0; i < 10; i++) b[6 + i] = Math.floor(k / 2 ** (8 * (i % 8))) % 256;
	b[6] = 0x70; // byte 0 of the random part is k >> 56 = 0, version 7
	b[8] = 0x80 | (b[8] & 0x3f);
	const h = b.map((x) => HEX[x]).join('');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** 16 hex digits of (ms << 16 | counter). */
const hlc = (ms, c) => ms.toString(16).padStart(12, '0') + c.toString(16).padStart(4, '0');

function cmdText(op, rid, seq, ms, counter, device, args, idk) {
	return `{"args":${args},"base":0,"cmd_id":"${makeId(ms, idk)}","device":"${device}",` +
		`"entity":"unit","hlc":"${hlc(ms, counter)}","op":"${op}","record_id":"${rid}",` +
		`"seq":${seq},"user":"bench"}`;
}

// ------------------------------------------------------------ tenfour api

// Merges go through store.apply: the record states stay in the core's
// handle and only the command crosses the ABI (as bench_core.c does).
/**
 * @param {import('../../web/sdk/core.mjs').TenfourCore} core
 * @param {string} cmd the command's JSON text
 */
function apiApply(core, cmd) {
	const out = core.call('store.apply', `{"authority":true,"command":${cmd},"now":${T0 + 10000}}`);
	if (out.status !== 'applied') throw new Error(`store.apply: ${JSON.stringify(out)}`);
}

function apiRecords(core, n) {
	core.call('store.clear', {});
	for (let i = 0; i < n; i++) {
		apiApply(core, cmdText('create', makeId(T0, i + 1), i + 1, T0, 0, 'console-3',
			'{"fields":{"priority":3,"status":"available"}}', 2 ** 40 + i));
	}
}

function apiLww(core) {
	apiRecords(core, API_LWW_RECORDS);
	const t = now();
	for (let k = 0; k < API_LWW_OPS; k++) {
		const i = k % API_LWW_RECORDS;
		const stale = k % 4 === 3;
		const cmd = cmdText('set', makeId(T0, i + 1), k + 1, stale ? T0 + 500 : T0 + 1000 + k,
			stale ? k & 0xffff : 0, DEVICES[k % 4],
			`{"fields":{"status":"${STATUSES[k % 5]}"}}`, k);
		apiApply(core, cmd);
	}
	return API_LWW_OPS / (now() - t);
}

function apiLog(core) {
	apiRecords(core, API_LOG_RECORDS);
	let n = 0;
	const t = now();
	for (let r = 0; r < API_LOG_PER_RECORD; r++) {
		for (let i = 0; i < API_LOG_RECORDS; i++) {
			let ms = T0 + 1000 + r * API_LOG_RECORDS + i;
			if (n % 5 === 4 && r > 0) ms -= 3 * API_LOG_RECORDS;
			const cmd = cmdText('append', makeId(T0, i + 1), n + 1, ms, n & 0xffff, DEVICES[n % 4],
				`{"body":{"text":"${NOTE}"},"field":"entries"}`, n);
			apiApply(core, cmd);
			n++;
		}
	}
	return n / (now() - t);
}

function apiRebase(core, fx) {
	core.call('replica.new', { device: 'mdt-bench', user: 'bench' });
	core.call('replica.apply_pull', `{"now":${T0 + 50000},"replica":1,"page":${fx.page1}}`);
	core.call('replica.apply_pull', `{"now":${T0 + 50000},"replica":1,"page":${fx.page2}}`);
	for (const m of JSON.parse(fx.mutates)) core.call('replica.mutate', { ...m, replica: 1 });
	const t = now();
	core.call('replica.apply_pull', `{"now":${T0 + 900000},"replica":1,"page":${fx.page3}}`);
	const ms = (now() - t) * 1000;
	const sum = core.call('replica.summary', { replica: 1, now: T0 + 900000 });
	if (sum.pending !== 2000 || sum.records !== 10000) throw new Error('rebase: unexpected state');
	core.call('replica.free', { replica: 1 });
	return ms;
}

function apiJson(core, fx) {
	const bytes = Buffer.from(fx.page1);
	const t = now();
	for (let i = 0; i < 20; i++) {
		const { rc } = core.callBytes('json.canonicalize', bytes);
		if (rc !== 0) throw new Error('json.canonicalize failed');
	}
	return (20 * bytes.length) / (now() - t) / 1e6;
}

// ---------------------------------------------------- comparison workloads
// The same shape in each library: 100 unit records exist on both sides; a
// second replica makes CMP_OPS one-field status updates (or list appends)
// to record k % 100, each its own change; the first replica merges them.
//  - "per op": one change per call in every library (Automerge
//    applyChanges with one change, Yjs applyUpdate with one update, tenfour
//    one store.apply per command).
//  - "batched": the same changes, BATCH per call in every library
//    (Automerge applyChanges with BATCH changes; Yjs applyUpdate of
//    Y.mergeUpdates of BATCH updates, the merge timed on the receiver, and,
//    separately, one update per BATCH ops made in one transact on the
//    sender, which is the cheapest form Yjs has; tenfour one store.apply
//    with BATCH commands, statuses only, every one checked "applied").
// Every run ends by checking the receiver's state: each record's status is
// the last one written to it, or its list holds CMP_OPS / 100 entries, so
// no library is timed doing less work than the others.

const BATCH = 100;
const PER_REC = CMP_OPS / 100;
/** The status record i holds after all CMP_OPS updates (its last write). */
const finalStatus = (i) => cmpStatus(CMP_OPS - 100 + i);

/** @param {string} lib @param {string} kind @param {(i: number) => [string, number]} get */
function checkFinal(lib, kind, get) {
	for (let i = 0; i < 100; i++) {
		const [status, n] = get(i);
		if (kind === 'lww' ? status !== finalStatus(i) : n !== PER_REC)
			throw new Error(`${lib} ${kind}: record ${i} ends with status ${status}, ` +
				`${n} entries; expected ${kind === 'lww' ? finalStatus(i) : `${PER_REC} entries`}`);
	}
}

/** Rate of `f` over CMP_OPS ops. @param {() => void} f */
const rate = (f) => {
	const t = now();
	f();
	return CMP_OPS / (now() - t);
};

async function automerge() {
	const A = await import('@automerge/automerge');
	const ids = Array.from({ length: 100 }, (_, i) => `u${i}`);
	const base = A.change(A.init(), (x) => {
		x.units = {};
		for (const id of ids) x.units[id] = { status: 'available', priority: 3, entries: [] };
	});
	const saved = A.save(base);
	const res = {};
	for (const kind of ['lww', 'append']) {
		// Two replicas with their own actors, sharing the base history.
		let b = A.load(saved);
		const changes = [];
		for (let k = 0; k < CMP_OPS; k++) {
			b = A.change(b, (x) => {
				const u = x.units[ids[k % 100]];
				if (kind === 'lww') u.status = cmpStatus(k);
				else u.entries.push({ text: NOTE });
			});
			const ch = A.getLastLocalChange(b);
			if (!ch) throw new Error('automerge: no change recorded');
			changes.push(ch);
		}
		const check = (a) => checkFinal('automerge', kind, (i) => {
			const u = /** @type {any} */ (a).units[ids[i]];
			return [u.status, u.entries.length];
		});
		let a = A.load(saved);
		res[kind] = rate(() => {
			for (const ch of changes) [a] = A.applyChanges(a, [ch]);
		});
		check(a);
		a = A.load(saved);
		res[`${kind}_batch`] = rate(() => {
			for (let k = 0; k < CMP_OPS; k += BATCH)
				[a] = A.applyChanges(a, changes.slice(k, k + BATCH));
		});
		check(a);
	}
	return res;
}

async function yjs() {
	const Y = await import('yjs');
	const ids = Array.from({ length: 100 }, (_, i) => `u${i}`);
	const base = new Y.Doc();
	base.transact(() => {
		const units = base.getMap('units');
		for (const id of ids) {
			const u = new Y.Map();
			units.set(id, u);
			u.set('status', 'available');
			u.set('priority', 3);
			u.set('entries', new Y.Array());
		}
	});
	const state = Y.encodeStateAsUpdate(base);
	const doc = () => {
		const d = new Y.Doc();
		Y.applyUpdate(d, state);
		return d;
	};
	/** Op k on the sender b. @param {any} b @param {string} kind @param {number} k */
	const op = (b, kind, k) => {
		const u = b.getMap('units').get(ids[k % 100]);
		if (kind === 'lww') u.set('status', cmpStatus(k));
		else u.get('entries').push([{ text: NOTE }]);
	};
	const res = {};
	for (const kind of ['lww', 'append']) {
		// One update per op.
		const b = doc();
		const updates = [];
		b.on('update', (u) => updates.push(u));
		for (let k = 0; k < CMP_OPS; k++) op(b, kind, k);
		// One update per BATCH ops, each batch in one transaction.
		const bt = doc();
		const tupdates = [];
		bt.on('update', (u) => tupdates.push(u));
		for (let k = 0; k < CMP_OPS; k += BATCH)
			bt.transact(() => { for (let j = k; j < k + BATCH; j++) op(bt, kind, j); });
		if (updates.length !== CMP_OPS || tupdates.length !== CMP_OPS / BATCH)
			throw new Error('yjs: unexpected number of updates');
		const check = (a) => checkFinal('yjs', kind, (i) => {
			const u = a.getMap('units').get(ids[i]);
			return [u.get('status'), u.get('entries').length];
		});
		let a = doc();
		res[kind] = rate(() => {
			for (const u of updates) Y.applyUpdate(a, u);
		});
		check(a);
		a = doc();
		res[`${kind}_batch`] = rate(() => {
			for (let k = 0; k < CMP_OPS; k += BATCH)
				Y.applyUpdate(a, Y.mergeUpdates(updates.slice(k, k + BATCH)));
		});
		check(a);
		a = doc();
		res[`${kind}_txn`] = rate(() => {
			for (const u of tupdates) Y.applyUpdate(a, u);
		});
		check(a);
	}
	return res;
}

// tenfour, the same shape: 100 records, CMP_OPS remote commands merged
// through the wasm API (store.apply), one per call and BATCH per call.
function tenfourCmp(core) {
	const res = {};
	const check = (kind) => checkFinal('tenfour', kind, (i) => {
		const rec = core.call('store.get', { id: makeId(T0, i + 1) });
		return [rec.f.status.v, rec.f.entries ? rec.f.entries.e.length : 0];
	});
	for (const kind of ['lww', 'append']) {
		const cmds = [];
		for (let k = 0; k < CMP_OPS; k++) {
			const i = k % 100;
			cmds.push(kind === 'lww'
				? cmdText('set', makeId(T0, i + 1), k + 1, T0 + 1000 + k, 0, 'mdt-2a14',
					`{"fields":{"status":"${cmpStatus(k)}"}}`, k)
				: cmdText('append', makeId(T0, i + 1), k + 1, T0 + 1000 + k, 0, 'mdt-2a14',
					`{"body":{"text":"${NOTE}"},"field":"entries"}`, k));
		}
		apiRecords(core, 100);
		res[kind] = rate(() => {
			for (let k = 0; k < CMP_OPS; k++) apiApply(core, cmds[k]);
		});
		check(kind);
		apiRecords(core, 100);
		const tail = `],"now":${T0 + 10000},"status_only":true}`;
		res[`${kind}_batch`] = rate(() => {
			for (let k = 0; k < CMP_OPS; k += BATCH) {
				const out = core.call('store.apply', '{"authority":true,"commands":[' +
					cmds.slice(k, k + BATCH).join(',') + tail);
				if (out.results.length !== BATCH || out.results.some((r) => r !== 'applied'))
					throw new Error(`store.apply batch: ${JSON.stringify(out).slice(0, 400)}`);
			}
		});
		check(kind);
	}
	return res;
}

// --------------------------------------------------------------------- run

const fx = {
	page1: readFileSync(resolve(fixtures, 'page1.json'), 'utf8'),
	page2: readFileSync(resolve(fixtures, 'page2.json'), 'utf8'),
	page3: readFileSync(resolve(fixtures, 'page3.json'), 'utf8'),
	mutates: readFileSync(resolve(fixtures, 'mutates.json'), 'utf8'),
};

const runJson = (file, args) => JSON.parse(execFileSync(file, args, {
	cwd: root, encoding: 'utf8', maxBuffer: 1 << 20,
}).trim().split('\n').pop());

// The machine may be busy: every figure is the best of RUNS runs.
const RUNS = 3;
/** Best of several result objects: highest rate, lowest *_ms_* time. */
const best = (runs) => Object.fromEntries(Object.keys(runs[0]).map((k) => [k,
	(k.includes('_ms_') ? Math.min : Math.max)(...runs.map((r) => r[k]))]));
const repeat = (f) => best(Array.from({ length: RUNS }, f));

// Native and wasm runs alternate, so that both see the same load.
console.error('bench: native and wasm (direct, node:wasi) ...');
const nruns = [];
const wruns = [];
for (let i = 0; i < (compareOnly ? 0 : RUNS); i++) {
	nruns.push(runJson(nativeBin, ['--json']));
	wruns.push(runJson(process.execPath,
		['--no-warnings', fileURLToPath(import.meta.url), '--wasi', wasmDirect]));
}
const native = compareOnly ? null : best(nruns);
const wdirect = compareOnly ? null : best(wruns);

console.error('bench: wasm (API, core.mjs) ...');
const core = await loadCore(corePath);
core.call('schema.load', readFileSync(resolve(root, 'bench/schema.json'), 'utf8'));
const wapi = compareOnly ? null : repeat(() => ({
	lww_api: apiLww(core),
	log_api: apiLog(core),
	rebase_ms_api: apiRebase(core, fx),
	json_mbps_api: apiJson(core, fx),
}));

console.error('bench: Automerge, Yjs, tenfour comparison ...');
// The three libraries take turns, so that each sees the same load.
const amRuns = [];
const yjRuns = [];
const tfRuns = [];
for (let i = 0; i < RUNS; i++) {
	amRuns.push(await automerge());
	yjRuns.push(await yjs());
	tfRuns.push(tenfourCmp(core));
}
const am = best(amRuns);
const yj = best(yjRuns);
const tf = best(tfRuns);

const f0 = (x) => Math.round(x).toLocaleString('en-US');
const f2 = (x) => x.toFixed(2);
const f1 = (x) => x.toFixed(1);
const ratio = (a, b) => (a / b).toFixed(2);
const pad = (s, n) => String(s).padStart(n);
const row = (name, a, b, fmt, lowerBetter) => {
	const r = lowerBetter ? b / a : a / b;
	return `  ${name.padEnd(30)}${pad(fmt(a), 14)}${pad(fmt(b), 14)}${pad(r.toFixed(2), 12)}`;
};

const lines = [];
lines.push(`tenfour bench, ${new Date().toISOString().slice(0, 10)}, ` +
	`${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
lines.push('');
if (native && wdirect && wapi) {
	lines.push(`${'direct (C core functions)'.padEnd(32)}${pad('native', 14)}${pad('wasm', 14)}` +
		`${pad('wasm/native', 12)}`);
	lines.push(row('lww merges/s', native.lww_direct, wdirect.lww_direct, f0));
	lines.push(row('log entries merged/s', native.log_direct, wdirect.log_direct, f0));
	lines.push(row('rebase 2,000 over 10,000 (ms)', native.rebase_ms_direct, wdirect.rebase_ms_direct, f2, true));
	lines.push(row('canonical JSON (MB/s)', native.json_mbps_direct, wdirect.json_mbps_direct, f1));
	lines.push('');
	lines.push(`${'JSON API (tf_api_call)'.padEnd(32)}${pad('native', 14)}${pad('wasm, C host', 14)}` +
		`${pad('wasm/native', 12)}${pad('wasm, core.mjs', 16)}`);
	const row3 = (name, a, b, c, fmt, lowerBetter) =>
		`${row(name, a, b, fmt, lowerBetter)}${pad(fmt(c), 16)}`;
	lines.push(row3('lww merges/s', native.lww_api, wdirect.lww_api, wapi.lww_api, f0));
	lines.push(row3('log entries merged/s', native.log_api, wdirect.log_api, wapi.log_api, f0));
	lines.push(row3('rebase 2,000 over 10,000 (ms)', native.rebase_ms_api, wdirect.rebase_ms_api,
		wapi.rebase_ms_api, f2, true));
	lines.push(row3('canonical JSON (MB/s)', native.json_mbps_api, wdirect.json_mbps_api,
		wapi.json_mbps_api, f1));
	lines.push('');
}
lines.push(`merges from another replica, ${CMP_OPS.toLocaleString('en-US')} ops, ops/s ` +
	`(per op: one change per call; batched: ${BATCH} per call, in every library)`);
lines.push(`  ${''.padEnd(30)}${pad('tenfour wasm', 14)}${pad('Automerge', 12)}${pad('Yjs', 12)}` +
	`${pad('t/Automerge', 13)}${pad('t/Yjs', 8)}`);
const cmpRow = (name, t, a, y) => lines.push(`  ${name.padEnd(30)}${pad(f0(t), 14)}` +
	`${pad(f0(a), 12)}${pad(f0(y), 12)}${pad(ratio(t, a), 13)}${pad(ratio(t, y), 8)}`);
cmpRow('map field update, per op', tf.lww, am.lww, yj.lww);
cmpRow('list append, per op', tf.append, am.append, yj.append);
cmpRow(`map field update, batched`, tf.lww_batch, am.lww_batch, yj.lww_batch);
cmpRow(`list append, batched`, tf.append_batch, am.append_batch, yj.append_batch);
lines.push(`  Yjs batched = Y.mergeUpdates of ${BATCH} updates + applyUpdate (merge timed); ` +
	`one transact per ${BATCH} ops on the sender instead:`);
cmpRow('map field update, Yjs txn', tf.lww_batch, am.lww_batch, yj.lww_txn);
cmpRow('list append, Yjs txn', tf.append_batch, am.append_batch, yj.append_txn);
console.log(lines.join('\n'));

if (outPath) {
	writeFileSync(outPath, JSON.stringify({
		date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model,
		node: process.version, native, wasm_direct: wdirect, wasm_api: wapi,
		compare: { ops: CMP_OPS, batch: BATCH, tenfour: tf, automerge: am, yjs: yj },
	}, null, 1) + '\n');
}
}
