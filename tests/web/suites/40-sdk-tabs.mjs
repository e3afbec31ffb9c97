// 40-sdk-tabs.mjs - two tabs of one browser profile on the web SDK: both
// write at once, only one syncs, the server's ledger gets every command
// once (each cmd_id and seq in one push only, every result "applied",
// none "duplicate" or "cmd_id_reused"), both tabs converge with dispatch;
// when the syncing tab closes the other takes over; a tab opened later
// (its page clock starting at 0) unlocks and keeps writing; the app
// shell's first install does not reload the page.

import { nodeClient } from '../lib/node-client.mjs';
import { APP, PIN, assert, assertEq, diagnose, enrollLogin, openApp, sdk, until, waitSynced }
	from '../lib/sdk.mjs';

const N = 6;
/** @type {any} */
const S = {};

/**
 * The notes of incident `id` as a tab sees them.
 * @param {import('playwright-core').Page} page @param {string} id
 * @returns {Promise<string[]>}
 */
const notes = (page, id) => sdk(page, async (tf, i) =>
	(await tf.records.get(i)).record.f.notes.e.map((/** @type {any} */ e) => e.v.text), id);

export default {
	name: 'sdk-tabs',
	server: true,
	/** @param {any} env */
	async setup(env) {
		return [
			{
				name: 'two tabs write at once, only one syncs',
				timeoutMs: 150000,
				async fn() {
					S.dana = await nodeClient({ td: env.td, root: env.root, user: 'dana',
						device: 'console-node' });
					await S.dana.sync();
					S.inc = S.dana.find('incident', (r) => r.f.incident_number?.v === '1234').id;
					S.ctx = await env.newContext('tabs');
					const t0 = Date.now();
					S.t1 = await openApp(S.ctx);
					await enrollLogin(env, S.t1, { device: 'web-tabs', user: 'brooks' });
					await waitSynced(S.t1, t0);
					S.t2 = await openApp(S.ctx);
					assertEq(await sdk(S.t2, (tf) => tf.state), 'locked', 'second tab state');
					await sdk(S.t2, (tf, pin) => tf.unlock(pin), PIN);
					const t1 = Date.now();
					// Both tabs write N notes each, at the same time.
					await Promise.all([S.t1, S.t2].map((page, k) => sdk(page, async (tf, a) => {
						for (let i = 0; i < a.n; i++)
							await tf.mutate.append(a.inc, 'notes', { kind: 'note',
								text: `tab ${a.k} note ${i}` });
					}, { inc: S.inc, n: N, k: k + 1 })));
					const leaders = await Promise.all([S.t1, S.t2].map((p) =>
						sdk(p, async (tf) => (await tf.status()).syncing)));
					assertEq(leaders.filter(Boolean).length, 1, `tabs syncing (${leaders})`);
					S.leader = leaders[0] ? S.t1 : S.t2;
					S.other = leaders[0] ? S.t2 : S.t1;
					await waitSynced(S.leader, t1, 60000);
					await until(async () => (await sdk(S.other, (tf) => tf.status())).pending === 0,
						'the other tab seeing its notes synced', 30000).catch(async (e) => {
						throw new Error(`${e.message}\n${await diagnose(S.other)}`);
					});
					return `tab ${leaders[0] ? 1 : 2} syncs`;
				},
			},
			{
				name: 'no command sent twice: the ledger saw each once',
				after: true,
				async fn() {
					const pushes = env.web.pushes.filter((/** @type {any} */ p) =>
						JSON.parse(p.request).device_id === 'web-tabs');
					/** @type {Map<string, number>} */
					const seqOf = new Map();
					/** @type {Map<number, string>} */
					const cmdOf = new Map();
					let sent = 0;
					for (const p of pushes) {
						assertEq(p.status, 200, `push status (${p.reply.slice(0, 200)})`);
						for (const c of JSON.parse(p.request).commands) {
							sent++;
							assert(!seqOf.has(c.cmd_id), `command ${c.cmd_id} sent twice`);
							assert(!cmdOf.has(c.seq), `seq ${c.seq} sent twice`);
							seqOf.set(c.cmd_id, c.seq);
							cmdOf.set(c.seq, c.cmd_id);
						}
						for (const r of JSON.parse(p.reply).results)
							assertEq(r.status, 'applied', `result of seq ${r.seq}`);
					}
					assertEq(sent, 2 * N, 'commands that reached the server');
					const seqs = [...cmdOf.keys()].sort((x, y) => x - y);
					assertEq(seqs, Array.from({ length: 2 * N }, (_, i) => i + 1), 'seqs 1..2N');
					await S.dana.sync();
					const d = S.dana.record(S.inc).f.notes.e.filter((/** @type {any} */ e) =>
						/^tab [12] note/.test(e.v.text));
					assertEq(d.length, 2 * N, 'notes at dispatch');
					return `${pushes.length} pushes, ${sent} commands, seqs 1..${2 * N} once each`;
				},
			},
			{
				name: 'both tabs converge with dispatch',
				after: true,
				async fn() {
					await S.dana.sync();
					S.dana.mutate('incident', S.inc, 'append', { field: 'notes',
						body: { kind: 'note', text: 'dispatch note for both tabs' } });
					await S.dana.sync();
					const want = JSON.stringify(S.dana.record(S.inc).f.notes.e.map(
						(/** @type {any} */ e) => e.v.text));
					for (const [k, page] of [[1, S.t1], [2, S.t2]])
						await until(async () => JSON.stringify(await notes(page, S.inc)) === want,
							`tab ${k} equal to dispatch`, 30000).catch(async (e) => {
							throw new Error(`${e.message}\n${await diagnose(page)}`);
						});
				},
			},
			{
				name: 'the syncing tab closes: the other takes over',
				after: true,
				async fn() {
					await S.leader.close();
					await until(() => sdk(S.other, async (tf) => (await tf.status()).syncing),
						'the remaining tab syncing', 30000);
					const t = Date.now();
					await sdk(S.other, (tf, i) => tf.mutate.append(i, 'notes',
						{ kind: 'note', text: 'after the handover' }), S.inc);
					await waitSynced(S.other, t, 60000);
					await S.dana.sync();
					const texts = S.dana.record(S.inc).f.notes.e.map((/** @type {any} */ e) => e.v.text);
					assert(texts.includes('after the handover'), 'dispatch sees the note');
					const results = env.web.pushes.filter((/** @type {any} */ p) =>
						JSON.parse(p.request).device_id === 'web-tabs')
						.flatMap((/** @type {any} */ p) => JSON.parse(p.reply).results);
					assertEq(results.filter((/** @type {any} */ r) => r.status !== 'applied'), [],
						'results other than applied');
				},
			},
			{
				name: 'a tab opened later unlocks and keeps working',
				after: true,
				async fn() {
					// The remaining tab has been open for a while; a new one
					// (its page clock starting at 0) unlocks and writes
					// some seconds later, while the first keeps writing.
					const late = await openApp(S.ctx);
					await sdk(late, (tf, pin) => tf.unlock(pin), PIN);
					for (let i = 0; i < 3; i++) {
						await new Promise((r) => setTimeout(r, 3000));
						await sdk(S.other, (tf, a) => tf.mutate.append(a.inc, 'notes',
							{ kind: 'note', text: `old tab ${a.i}` }), { inc: S.inc, i });
						await sdk(late, (tf, a) => tf.mutate.append(a.inc, 'notes',
							{ kind: 'note', text: `late tab ${a.i}` }), { inc: S.inc, i });
					}
					await until(async () => (await sdk(late, (tf) => tf.status())).pending === 0,
						'the late tab\'s notes synced', 30000);
					assertEq(await sdk(late, (tf) => tf.state), 'unlocked', 'late tab state');
				},
			},
			{
				name: 'the app shell\'s first install does not reload a page being typed into',
				async fn() {
					// A fresh profile: no service worker yet.  The page
					// registers the shell; the worker installs, activates
					// and claims the page (controllerchange) while the
					// user types into the vendor's login form.
					const ctx = await env.newContext('first-install');
					const page = await ctx.newPage();
					let loads = 0;
					page.on('load', () => loads++);
					await page.goto(APP, { timeout: 30000 });
					await page.evaluate(() => {
						const i = document.createElement('input');
						i.id = 'vendor-user';
						document.body.append(i);
					});
					await page.fill('#vendor-user', 'brooks');
					await until(() => page.evaluate(() => !!navigator.serviceWorker.controller),
						'the shell worker controlling the page', 30000);
					await until(() => page.evaluate(() => /** @type {any} */ (window).tfShell),
						'the app seeing the worker take control', 30000);
					// A reload would start within milliseconds of the
					// controllerchange; give it ample time to show.
					await page.waitForTimeout(1000);
					assertEq(loads, 1, 'page loads');
					assertEq(await page.inputValue('#vendor-user'), 'brooks', 'the typed text');
					assertEq(await page.evaluate(() =>
						/** @type {any} */ (performance.getEntriesByType('navigation')[0]).type),
					'navigate', 'navigation type');
				},
			},
		];
	},
	async teardown() {
		await S.dana?.logout();
	},
};
