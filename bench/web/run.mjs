// run.mjs - the browser benchmark (issue 5; by hand, not part of make check):
// tenfour's web SDK and PouchDB in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core from tests/web; a fresh
// browser and on-disk profile for each measurement), one run:
//
//   first sync   an empty browser store pulls N records (default 10,000)
//                from tenfourd: tf.sync() after the first login, every
//                page persisted encrypted (AES-GCM) in IndexedDB
//   PouchDB      pouchdb-browser (IndexedDB adapter "idb") replicates the
//                same N documents (the record states tenfourd served, as
//                {_id, ...state}) from PouchDB Server into an empty
//                database, no encryption; default batch size and 1,000
//   writes/s     encrypted local writes (tf.mutate.set, each persisted
//                before it resolves) into the store holding the N records,
//                and into a small store (a fresh profile, 7 records)
//   unlock       tf.unlock(PIN) after tf.lock() (PBKDF2-SHA-256 600,000
//                iterations, keyring unwrap, the store opened), and after
//                a page reload, on the small store; and lock/unlock on
//                the store holding the N records
//
//   node bench/web/run.mjs [--records N] [--runs R] [--writes W] [--out FILE]
//
// Needs: make (build/native/tenfourd, build/wasm/tenfour.wasm), npm ci in
// tests/web and bench/js, /usr/bin/chromium (scripts/install-deps.sh).
// Servers on loopback only; everything it starts is stopped and its temp
// dirs removed on every exit path.  Prints a table and writes JSON
// (default build/bench/web.json).

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '../../tests/web/node_modules/playwright-core/index.mjs';
import { nodeClient } from '../../tests/web/lib/node-client.mjs';
import { PIN, enrollLogin, sdk } from '../../tests/web/lib/sdk.mjs';
import { startWebServer } from '../../tests/web/lib/server.mjs';
import { rmSync } from 'node:fs';
import { children, dataDirs, startTenfourd } from '../../tests/web/lib/tenfourd.mjs';
import { startPouchServer } from './pouchdb-server.mjs';
import { seedIncidents, toDoc } from './seed.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** @param {string} name @param {string} def */
function arg(name, def) {
	const i = process.argv.indexOf(name);
	return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const N = Number(arg('--records', '10000'));
const RUNS = Number(arg('--runs', '3'));
const WRITES = Number(arg('--writes', '200'));
const OUT = arg('--out', join(root, 'build/bench/web.json'));
const DEADLINE_MS = 40 * 60 * 1000;

/** @type {(() => Promise<void>)[]} */
const cleanups = [];
/** @type {Promise<void>|null} */
let cleaning = null;
/** Stops everything once; every caller waits for the same end. */
const cleanup = () => (cleaning ??= (async () => {
	for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
	for (const c of children) c.kill('SIGKILL');
	for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
})());
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
	process.on(sig, () => {
		cleanup().finally(() => process.exit(1));
	});
}
const deadline = setTimeout(() => {
	console.error(`web bench: over ${DEADLINE_MS / 60000} min, stopping`);
	cleanup().finally(() => process.exit(1));
}, DEADLINE_MS);

/**
 * In the page: lock and unlock three times; the unlock times (ms).
 * @param {any} tf @param {string} pin
 */
async function unlockTimes(tf, pin) {
	const out = [];
	for (let i = 0; i < 3; i++) {
		tf.lock();
		const a = performance.now();
		await tf.unlock(pin);
		out.push(performance.now() - a);
	}
	return out;
}

/** @param {number[]} xs */
const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** @param {number[]} xs */
const best = (xs) => Math.min(...xs);

async function main() {
	const t0 = Date.now();
	const td = await startTenfourd({ root });
	cleanups.push(td.stop);
	const pouch = await startPouchServer(root);
	cleanups.push(pouch.stop);

	// The data set: N records in the dispatcher's scope (the seeded 7 and
	// N - 7 incidents), read back as the states tenfourd serves.
	const seeder = await nodeClient({ td, root, user: 'dana', device: 'console-seed' });
	await seeder.sync();
	const have = seeder.list().length;
	let ts = Date.now();
	const states = await seedIncidents(seeder, N - have);
	if (states.length !== N) throw new Error(`seeded ${states.length} records, not ${N}`);
	const bytes = states.reduce((n, s) => n + JSON.stringify(s).length, 0);
	console.log(`seeded ${states.length} records (${(bytes / 1e6).toFixed(1)} MB of JSON) ` +
		`through tenfourd in ${((Date.now() - ts) / 1000).toFixed(1)} s`);
	ts = Date.now();
	await pouch.load('bench', states.map(toDoc));
	console.log(`PouchDB Server loaded the same ${N} documents in ${((Date.now() - ts) / 1000).toFixed(1)} s`);

	const web = await startWebServer({
		root, upstream: td.url,
		routes: [{ prefix: '/pouch/', upstream: pouch.url }],
		allow: ['web/', 'build/wasm/', 'schemas/', 'bench/web/',
			'bench/js/node_modules/pouchdb-browser/', 'bench/js/node_modules/spark-md5/',
			'bench/js/node_modules/vuvuzela/', 'bench/js/node_modules/events/'],
	});
	cleanups.push(web.close);
	// Each measurement gets a browser of its own with a new profile on
	// disk (IndexedDB as a user's browser keeps it; an incognito context
	// would keep it in memory), removed afterwards.
	const newProfile = async () => {
		const dir = await mkdtemp(join(tmpdir(), 'tf-webbench-profile-'));
		const ctx = await chromium.launchPersistentContext(dir, {
			executablePath: process.env.TENFOUR_CHROMIUM ?? '/usr/bin/chromium',
			headless: true, timeout: 60000, baseURL: web.url,
			args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
				'--disable-background-networking', '--disable-component-update',
				'--disable-sync', '--disable-dev-shm-usage'],
		});
		ctx.setDefaultTimeout(600000);
		const close = async () => {
			await ctx.close().catch(() => {});
			await rm(dir, { recursive: true, force: true });
		};
		cleanups.push(close);
		return { ctx, close, version: ctx.browser()?.version() ?? '' };
	};
	const probe = await newProfile();
	const version = probe.version || (await probe.ctx.newPage().then((p) =>
		p.evaluate(() => navigator.userAgent)));
	await probe.close();
	console.log(`Chromium ${version}, pages on ${web.url}`);

	/** @type {any} */
	const res = { chromium: version, records: N, json_bytes: bytes, runs: RUNS, tenfour: [], pouchdb: [] };
	const env = { td };
	for (let run = 0; run < RUNS; run++) {
		// tenfour: a fresh profile (context), a bench user of its own
		// (TOTP codes are single-use), first login, first sync.
		const user = `bench-${run}`;
		await td.userAdd(user, `Bench dispatcher ${run}`, 'dispatcher', null, 'Bench-Copper-Lantern-41');
		const prof = await newProfile();
		const ctx = prof.ctx;
		const page = await ctx.newPage();
		page.on('pageerror', (e) => console.error(`[page] ${e}`));
		await page.goto('/bench/web/tenfour.html');
		await page.waitForFunction(() => /** @type {any} */ (window).tfReady, null, { timeout: 60000 });
		await page.evaluate(() => /** @type {any} */ (window).tfReady);
		const loginT = Date.now();
		await enrollLogin(env, page, { device: `web-bench-${run}`, user });
		const loginMs = Date.now() - loginT;
		const first = await sdk(page, async (tf) => {
			const a = performance.now();
			const r = await tf.sync();
			const ms = performance.now() - a;
			const st = await tf.status();
			const est = await navigator.storage.estimate();
			return { ms, pulled: r.records, records: st.records, usage: est.usage };
		});
		if (first.records !== N) throw new Error(`first sync: ${first.records} records in the store, not ${N}`);
		// Writes into the store holding N records.
		const big = await sdk(page, async (tf, w) => {
			const ids = (await tf.records.list({ entity: 'incident' })).slice(0, 50).map((/** @type {any} */ x) => x.id);
			const a = performance.now();
			let n = 0;
			for (; n < w && performance.now() - a < 60000; n++)
				await tf.mutate.set(ids[n % ids.length], { priority: 1 + (n % 5) });
			return { n, ms: performance.now() - a };
		}, WRITES);
		// Unlock of the store holding N records: lock, unlock (3 times).
		const unlockBig = await sdk(page, unlockTimes, PIN).catch((e) => ({ error: e.message }));
		await prof.close();

		// Writes into a small store (a fresh profile, the seeded 7 records
		// are not enough for a dispatcher's scope: a user of an officer's).
		const prof2 = await newProfile();
		const p2 = await prof2.ctx.newPage();
		await p2.goto('/bench/web/tenfour.html');
		await p2.waitForFunction(() => /** @type {any} */ (window).tfReady, null, { timeout: 60000 });
		await p2.evaluate(() => /** @type {any} */ (window).tfReady);
		const officer = `bench-officer-${run}`;
		await td.userAdd(officer, `Bench officer ${run}`, 'officer', '2A12', 'Bench-Copper-Lantern-41');
		await enrollLogin(env, p2, { device: `web-bench-small-${run}`, user: officer });
		const small = await sdk(p2, async (tf, w) => {
			await tf.sync();
			const st0 = await tf.status();
			const inc = (await tf.records.list({ entity: 'incident' }))[0].id;
			const a = performance.now();
			let n = 0;
			for (; n < w && performance.now() - a < 60000; n++)
				await tf.mutate.append(inc, 'notes', { kind: 'note', text: `bench note ${n}` });
			return { n, ms: performance.now() - a, records: st0.records };
		}, WRITES);
		// Unlock of the small store: lock, unlock (3 times); then a page
		// reload and unlock.
		const unlocks = await sdk(p2, unlockTimes, PIN);
		await p2.reload();
		await p2.waitForFunction(() => /** @type {any} */ (window).tfReady, null, { timeout: 60000 });
		await p2.evaluate(() => /** @type {any} */ (window).tfReady);
		const reloadUnlock = await sdk(p2, async (tf, pin) => {
			const a = performance.now();
			await tf.unlock(pin);
			return performance.now() - a;
		}, PIN);
		await prof2.close();

		const tf = {
			login_ms: loginMs,
			first_sync_ms: first.ms,
			first_sync_records_per_s: N / (first.ms / 1000),
			storage_bytes: first.usage,
			writes_big: big.n, writes_big_per_s: big.n / (big.ms / 1000),
			writes_small: small.n, writes_small_per_s: small.n / (small.ms / 1000),
			small_store_records: small.records,
			unlock_ms: unlocks, unlock_after_reload_ms: reloadUnlock,
			unlock_big: unlockBig,
		};
		res.tenfour.push(tf);
		console.log(`run ${run + 1}: tenfour first sync ${(first.ms / 1000).toFixed(2)} s ` +
			`(${Math.round(tf.first_sync_records_per_s)} records/s), writes/s ` +
			`${tf.writes_big_per_s.toFixed(1)} (${N} records) / ${tf.writes_small_per_s.toFixed(1)} ` +
			`(${small.records} records), unlock ${unlocks.map((x) => Math.round(x)).join('/')} ms, ` +
			`after reload ${Math.round(reloadUnlock)} ms (${small.records} records); unlock with ` +
			`${N} records: ${Array.isArray(unlockBig) ? `${unlockBig.map((x) => Math.round(x)).join('/')} ms`
				: unlockBig.error}`);

		// PouchDB: a fresh profile each, default batch size then 1,000.
		const pr = {};
		for (const batch of [0, 1000]) {
			const pp = await newProfile();
			const p = await pp.ctx.newPage();
			p.on('pageerror', (e) => console.error(`[pouch page] ${e}`));
			await p.goto('/bench/web/pouch.html');
			await p.waitForFunction(() => /** @type {any} */ (window).pouchBench, null, { timeout: 60000 });
			const r = await p.evaluate((b) => /** @type {any} */ (window).pouchBench.replicate(
				{ remote: '/pouch/bench', batchSize: b }), batch);
			if (r.docs !== N) throw new Error(`PouchDB replicated ${r.docs} docs, not ${N}`);
			/** @type {any} */ (pr)[batch ? 'batch_1000_ms' : 'default_ms'] = r.ms;
			/** @type {any} */ (pr).adapter = r.adapter;
			await pp.close();
		}
		res.pouchdb.push(pr);
		console.log(`run ${run + 1}: PouchDB replicate ${(/** @type {any} */ (pr).default_ms / 1000).toFixed(2)} s ` +
			`(batch 100), ${(/** @type {any} */ (pr).batch_1000_ms / 1000).toFixed(2)} s (batch 1,000), ` +
			`adapter ${/** @type {any} */ (pr).adapter}`);
	}

	const tfFirst = res.tenfour.map((/** @type {any} */ x) => x.first_sync_ms);
	const pouchBest = res.pouchdb.map((/** @type {any} */ x) => Math.min(x.default_ms, x.batch_1000_ms));
	res.summary = {
		first_sync_ms_median: median(tfFirst), first_sync_ms_best: best(tfFirst),
		pouchdb_ms_median: median(pouchBest), pouchdb_ms_best: best(pouchBest),
		ratio_median: median(pouchBest) / median(tfFirst),
		writes_big_per_s_median: median(res.tenfour.map((/** @type {any} */ x) => x.writes_big_per_s)),
		writes_small_per_s_median: median(res.tenfour.map((/** @type {any} */ x) => x.writes_small_per_s)),
		unlock_ms_median: median(res.tenfour.flatMap((/** @type {any} */ x) => x.unlock_ms)),
		unlock_after_reload_ms_median: median(res.tenfour.map((/** @type {any} */ x) => x.unlock_after_reload_ms)),
		total_s: (Date.now() - t0) / 1000,
	};
	const s = res.summary;
	console.log('');
	console.log(`browser benchmark, ${N} records, ${RUNS} runs (median, best):`);
	console.log(`  tenfour first sync (encrypted IndexedDB)   ${(s.first_sync_ms_median / 1000).toFixed(2)} s, ${(s.first_sync_ms_best / 1000).toFixed(2)} s`);
	console.log(`  PouchDB replicate (idb, no encryption)     ${(s.pouchdb_ms_median / 1000).toFixed(2)} s, ${(s.pouchdb_ms_best / 1000).toFixed(2)} s   (faster batch size per run)`);
	console.log(`  ratio PouchDB / tenfour (median)           ${s.ratio_median.toFixed(2)}x   (target >= 3x)`);
	console.log(`  encrypted writes/s, store of ${N} records  ${s.writes_big_per_s_median.toFixed(1)}`);
	console.log(`  encrypted writes/s, small store            ${s.writes_small_per_s_median.toFixed(1)}`);
	console.log(`  unlock (lock, unlock), small store         ${Math.round(s.unlock_ms_median)} ms`);
	console.log(`  unlock after a page reload, small store    ${Math.round(s.unlock_after_reload_ms_median)} ms`);
	console.log(`  unlock, store of ${N} records              ${JSON.stringify(res.tenfour[0].unlock_big).slice(0, 200)}`);
	await mkdir(dirname(OUT), { recursive: true });
	await writeFile(OUT, JSON.stringify(res, null, 2) + '\n');
	console.log(`raw figures: ${OUT} (${s.total_s.toFixed(0)} s in all)`);
}

let rc = 0;
try {
	await main();
} catch (e) {
	console.error(`web bench: ${/** @type {any} */ (e)?.stack ?? e}`);
	rc = 1;
} finally {
	await cleanup();
	clearTimeout(deadline);
}
process.exit(rc);
