// 10-vectors.mjs - the wasm test vectors in Chromium: every case of
// tests/vectors/*.json runs through web/sdk/core.mjs and
// build/wasm/tenfour.wasm in a page (tests/web/pages/vectors.mjs) and must
// give the exact bytes of its "expect", as under Node
// (tests/wasm/run-vectors.mjs) and natively (tests/core/test_vectors.c).
// One test per vector file, plus the imports check; each file's case count
// is checked against the file as Node reads it, so no case is skipped.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** @type {import('playwright-core').Page|null} */
let page = null;

export default {
	name: 'vectors',
	/** @param {any} env */
	async setup(env) {
		const dir = join(env.root, 'tests/vectors');
		const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
		const ctx = await env.newContext('vectors');
		page = await ctx.newPage();
		await page.goto('/tests/web/pages/vectors.html');
		await page.waitForFunction(() => /** @type {any} */ (window).tfVectors, null,
			{ timeout: 30000 });
		const loaded = await page.evaluate(() => /** @type {any} */ (window).tfVectors.ready);
		if (loaded !== true) throw new Error('the core did not load in the page');
		const tests = [{
			name: 'imports',
			async fn() {
				const r = await /** @type {any} */ (page).evaluate(
					() => /** @type {any} */ (window).tfVectors.imports());
				if (r.bad.length) throw new Error(`the core imports ${r.bad.join(', ')}`);
				return `only ${r.imports.join(', ')}`;
			},
		}];
		for (const f of files) {
			tests.push({
				name: f,
				async fn() {
					const expected = JSON.parse(await readFile(join(dir, f), 'utf8')).length;
					const r = await /** @type {any} */ (page).evaluate(
						(url) => /** @type {any} */ (window).tfVectors.runFile(url),
						`/tests/vectors/${f}`);
					if (r.failed) {
						const lines = r.failures.slice(0, 10).map(
							(/** @type {any} */ x) => `${x.name}: ${x.why}`);
						throw new Error(`${r.failed} of ${r.cases} cases failed\n${lines.join('\n')}`);
					}
					if (r.passed !== expected)
						throw new Error(`ran ${r.passed} cases, the file has ${expected}`);
					return `${r.passed} cases, same bytes`;
				},
			});
		}
		return tests;
	},
};
