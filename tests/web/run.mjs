// run.mjs - the browser test runner: headless Chromium (Debian's
// /usr/bin/chromium) through playwright-core, a static + /v1 proxy server
// on a random loopback port (lib/server.mjs) and, for the suites that need
// one, a fresh seeded tenfourd each (lib/tenfourd.mjs).
//
//   node tests/web/run.mjs [--list] [SUBSTRING...]
//
// Prints one line per test ("ok   NAME (...)" or "FAIL NAME: why" with the
// page's console below it) and ends with "N passed, N failed"; exit status 1
// when a test failed.  Every wait is bounded (a test has a deadline, the
// whole run one too); on any exit the browser, tenfourd and the temp dirs
// go.
//
// A suite is a module in tests/web/suites/ exporting default
//   {name, server?: true, setup(env) -> [{name, fn(env), timeoutMs?, after?}], teardown?(env)}
// Tests of a suite run in order; one marked `after: true` depends on the
// ones before it and fails at once (as "skipped") when one of them failed.

import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { startWebServer } from './lib/server.mjs';
import { rmSync } from 'node:fs';
import { children, dataDirs, startTenfourd } from './lib/tenfourd.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const CHROMIUM = process.env.TENFOUR_CHROMIUM ?? '/usr/bin/chromium';
const RUN_DEADLINE_MS = Number(process.env.TENFOUR_WEB_DEADLINE_MS ?? 840000);
const TEST_TIMEOUT_MS = 120000;

const args = process.argv.slice(2);
const listOnly = args.includes('--list');
const filters = args.filter((a) => !a.startsWith('--'));

let passed = 0;
let failed = 0;
/** @type {import('playwright-core').Browser|null} */
let browser = null;
/** @type {Awaited<ReturnType<typeof startWebServer>>|null} */
let web = null;
/** @type {Set<{stop: () => Promise<void>}>} */
const servers = new Set();
/** @type {Promise<void>|null} */
let cleaning = null;

/** Stops the browser and the servers once; every caller waits for it. */
function cleanup() {
	cleaning ??= (async () => {
		const guard = setTimeout(() => {
			for (const c of children) c.kill('SIGKILL');
			process.exit(2);
		}, 20000);
		try {
			await browser?.close().catch(() => {});
			for (const s of servers) await s.stop().catch(() => {});
			await web?.close().catch(() => {});
		} finally {
			for (const c of children) c.kill('SIGKILL');
			for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
			clearTimeout(guard);
		}
	})();
	return cleaning;
}

for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
	process.on(sig, () => {
		console.log(`web-tests: ${sig}, stopping`);
		cleanup().finally(() => {
			console.log(`${passed} passed, ${failed + 1} failed`);
			process.exit(1);
		});
	});
}

/**
 * Races a promise against a deadline.
 * @template T @param {Promise<T>} p @param {number} ms @param {string} what
 * @returns {Promise<T>}
 */
function within(p, ms, what) {
	/** @type {NodeJS.Timeout|undefined} */
	let t;
	return Promise.race([
		p.finally(() => clearTimeout(t)),
		new Promise((_, reject) => {
			t = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms);
		}),
	]);
}

/**
 * What a suite's tests get: the browser, the web server, tenfourd (for
 * suites with `server: true`), contexts and pages that are closed at the
 * suite's end and whose console is kept for a failure report.
 * @param {any} suite
 */
function makeEnv(suite) {
	/** @type {import('playwright-core').BrowserContext[]} */
	const contexts = [];
	/** @type {string[]} */
	const consoleLines = [];
	const env = {
		root,
		browser: /** @type {import('playwright-core').Browser} */ (browser),
		web: /** @type {NonNullable<typeof web>} */ (web),
		/** @type {any} */
		td: null,
		suite: suite.name,
		/** Console lines of every page of the suite (the last 4,000). */
		consoleLines,
		/** @param {string} line */
		log(line) {
			consoleLines.push(line);
			if (consoleLines.length > 4000) consoleLines.splice(0, 1000);
		},
		/**
		 * A new browser context (its own IndexedDB, service workers,
		 * cookies: one device), closed at the suite's end.
		 * @param {string} label @param {import('playwright-core').BrowserContextOptions} [opts]
		 */
		async newContext(label, opts = {}) {
			const ctx = await env.browser.newContext({ baseURL: env.web.url, ...opts });
			ctx.setDefaultTimeout(30000);
			ctx.setDefaultNavigationTimeout(30000);
			contexts.push(ctx);
			ctx.on('page', (p) => env.watch(p, label));
			ctx.on('serviceworker', (w) =>
				env.log(`[${label} sw] started ${w.url()}`));
			return ctx;
		},
		/**
		 * Keeps a page's console and errors for the failure report.
		 * @param {import('playwright-core').Page} page @param {string} label
		 */
		watch(page, label) {
			page.on('console', (m) => env.log(`[${label} ${m.type()}] ${m.text()}`));
			page.on('pageerror', (e) => env.log(`[${label} pageerror] ${e.stack ?? e}`));
			page.on('crash', () => env.log(`[${label}] page crashed`));
		},
		async closeContexts() {
			for (const c of contexts.splice(0)) await c.close().catch(() => {});
		},
	};
	return env;
}

/** @param {string} name @param {string} detail @param {string[]} consoleLines */
function report(name, detail, consoleLines) {
	failed++;
	console.log(`FAIL ${name}: ${detail.split('\n')[0]}`);
	const more = detail.split('\n').slice(1, 30);
	for (const l of more) console.log(`     ${l}`);
	if (consoleLines.length) {
		console.log('     page console (last 40 lines):');
		for (const l of consoleLines.slice(-40)) console.log(`       ${l.slice(0, 400)}`);
	}
}

async function main() {
	const started = Date.now();
	const dir = join(here, 'suites');
	const files = (await readdir(dir)).filter((f) => f.endsWith('.mjs')).sort();
	/** @type {any[]} */
	const suites = [];
	for (const f of files) {
		const mod = await import(pathToFileURL(join(dir, f)).href);
		suites.push(mod.default);
	}
	const wanted = (/** @type {string} */ n) =>
		filters.length === 0 || filters.some((f) => n.includes(f));

	web = await startWebServer({ root });
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		timeout: 60000,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update',
			'--disable-sync', '--disable-dev-shm-usage'],
	});
	console.log(`web-tests: ${browser.version()} (${CHROMIUM}), pages on ${web.url}`);

	for (const suite of suites) {
		if (!suite.tests && !suite.setup) continue;
		const env = makeEnv(suite);
		const prefix = `web/${suite.name}`;
		// The push log is per suite (each suite has its own tenfourd).
		env.web.pushes.length = 0;
		/** @type {any[]} */
		let tests = [];
		try {
			if (suite.server) {
				env.td = await within(startTenfourd({ root }), 180000, 'starting tenfourd');
				servers.add(env.td);
				env.web.setUpstream(env.td.url);
			} else {
				env.web.setUpstream(null);
			}
			tests = await within(Promise.resolve(suite.setup(env)), 180000, `${prefix} setup`);
		} catch (e) {
			if (wanted(prefix))
				report(`${prefix} (setup)`, e?.stack ?? String(e), env.consoleLines);
			tests = [];
		}
		let earlierFailed = false;
		for (const t of tests) {
			const name = `${prefix}/${t.name}`;
			if (!wanted(name)) continue;
			if (listOnly) {
				console.log(name);
				continue;
			}
			if (Date.now() - started > RUN_DEADLINE_MS) {
				report(name, `not run: the run's deadline (${RUN_DEADLINE_MS} ms) passed`, []);
				continue;
			}
			if (t.after && earlierFailed) {
				report(name, 'skipped: an earlier step of this suite failed', []);
				continue;
			}
			env.consoleLines.length = 0;
			const t0 = Date.now();
			try {
				const note = await within(Promise.resolve(t.fn(env)),
					t.timeoutMs ?? TEST_TIMEOUT_MS, name);
				passed++;
				console.log(`ok   ${name} (${note ? `${note}, ` : ''}${Date.now() - t0} ms)`);
			} catch (e) {
				earlierFailed = true;
				report(name, /** @type {any} */ (e)?.stack ?? String(e), env.consoleLines);
			}
		}
		try {
			await within(Promise.resolve(suite.teardown?.(env)), 30000, `${prefix} teardown`);
		} catch (e) {
			report(`${prefix} (teardown)`, /** @type {any} */ (e)?.stack ?? String(e), []);
		}
		await env.closeContexts();
		if (env.td) {
			await env.td.stop();
			servers.delete(env.td);
		}
	}
	console.log(`web-tests: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const deadline = setTimeout(() => {
	console.log(`web-tests: the run took over ${RUN_DEADLINE_MS + 60000} ms, stopping`);
	cleanup().finally(() => {
		console.log(`${passed} passed, ${failed + 1} failed`);
		process.exit(1);
	});
}, RUN_DEADLINE_MS + 60000);
deadline.unref();

let crashed = false;
try {
	await main();
} catch (e) {
	crashed = true;
	report('web (runner)', /** @type {any} */ (e)?.stack ?? String(e), []);
} finally {
	await cleanup();
}
clearTimeout(deadline);
if (!listOnly) console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || crashed ? 1 : 0);
