// 20-sdk-store.mjs - the web SDK's store and keyring in Chromium against a
// seeded tenfourd: enroll + online login + first sync; no plaintext in
// IndexedDB read raw (marker strings written as records, the seeded
// records' text and ids); an expired offline grant and a clock rolled
// back refuse the unlock before the PIN is tried; the grant's wipe_after
// wrong PINs erase the store.

import { PIN, assert, assertEq, enrollLogin, gotoApp, idbDump, login, openApp, sdk,
	sdkFails, waitSynced } from '../lib/sdk.mjs';

const MARK = {
	note: 'MARKER-NOTE-q7Zx1',
	remarks: 'MARKER-REMARKS-k2Vb8',
	status: 'MARKER-STATUSNOTE-p9Lw3',
	narrative: 'MARKER-NARRATIVE-m4Ty6',
	pending: 'MARKER-PENDING-d5Rc0',
};
/** Text and ids of the seeded records that must not show either. */
const SEEDED = ['Caller reports shouting', 'Harbor Blvd', 'R. Ortiz', 'Disturbance',
	'RP will meet units'];

/** @type {any} */
const S = {};

/** @param {any} tf @param {string} callsign */
const findUnit = async (tf, callsign) => {
	for (const u of await tf.records.list({ entity: 'unit' })) {
		const v = await tf.records.get(u.id);
		if (v.record.f.callsign?.v === callsign) return v.record.id;
	}
	throw new Error(`no unit ${callsign}`);
};

export default {
	name: 'sdk-store',
	server: true,
	/** @param {any} env */
	async setup(env) {
		return [
			{
				name: 'enroll, online login, first sync',
				async fn() {
					S.ctx = await env.newContext('alvarez');
					S.page = await openApp(S.ctx);
					assertEq(await sdk(S.page, (tf) => tf.state), 'new', 'state before enroll');
					const t0 = Date.now();
					const r = await enrollLogin(env, S.page, { device: 'web-2a12', user: 'alvarez' });
					assertEq(r.user.id, 'alvarez', 'logged-in user');
					await waitSynced(S.page, t0);
					const st = await sdk(S.page, async (tf) => ({ state: tf.state,
						n: (await tf.records.list()).length }));
					assertEq(st.state, 'unlocked', 'state after login');
					assert(st.n >= 3, `records after the first sync: ${st.n}`);
					return `${st.n} records`;
				},
			},
			{
				name: 'no plaintext in IndexedDB read raw',
				after: true,
				async fn() {
					const t1 = Date.now();
					const ids = await sdk(S.page, async (tf, m) => {
						const all = await tf.records.list();
						/** @type {any} */
						let inc = null;
						for (const x of all.filter((/** @type {any} */ y) => y.entity === 'incident')) {
							const v = await tf.records.get(x.id);
							if (v.record.f.incident_number?.v === '1234') inc = v.record;
						}
						if (!inc) throw new Error('incident #1234 is not in the store');
						let unit = null;
						for (const x of all.filter((/** @type {any} */ y) => y.entity === 'unit')) {
							const v = await tf.records.get(x.id);
							if (v.record.f.callsign?.v === '2A12') unit = v.record.id;
						}
						await tf.mutate.append(inc.id, 'notes', { kind: 'note', text: m.note });
						await tf.mutate.editText(inc.id, 'remarks', `${inc.f.remarks.v} ${m.remarks}`);
						await tf.mutate.set(unit, { status_note: m.status });
						const rep = await tf.mutate.create('report', { author: 'alvarez',
							status: 'draft', incident_ref: '1234', narrative: m.narrative });
						return { inc: inc.id, unit, report: rep.record_id,
							all: all.map((/** @type {any} */ x) => x.id) };
					}, MARK);
					await waitSynced(S.page, t1);
					// One more change stays queued (offline), so the queue
					// store holds a marker too.
					await S.ctx.setOffline(true);
					await sdk(S.page, async (tf, a) => {
						await tf.mutate.append(a.inc, 'notes', { kind: 'note', text: a.text });
					}, { inc: ids.inc, text: MARK.pending });
					const pend = await sdk(S.page, async (tf) => (await tf.status()).pending);
					assertEq(pend, 1, 'pending while offline');
					// The SDK itself shows every marker (the control).
					const seen = await sdk(S.page, async (tf, a) => {
						const i = await tf.records.get(a.inc);
						const r = await tf.records.get(a.report);
						return JSON.stringify([i.record, r.record]);
					}, ids);
					for (const m of Object.values(MARK).filter((x) => x !== MARK.status))
						assert(seen.includes(m), `the SDK shows ${m}`);

					// The reader's control: plaintext put in IndexedDB
					// (as text and as bytes) is found.
					await S.page.evaluate(() => new Promise((res, rej) => {
						const r = indexedDB.open('tf-test-control', 1);
						r.onupgradeneeded = () => r.result.createObjectStore('s');
						r.onerror = () => rej(r.error);
						r.onsuccess = () => {
							const tx = r.result.transaction('s', 'readwrite');
							tx.objectStore('s').put({ t: 'CONTROL-TEXT-1',
								b: new TextEncoder().encode('CONTROL-BYTES-2') }, 'k');
							tx.oncomplete = () => {
								r.result.close();
								res(undefined);
							};
						};
					}));
					const dump = await idbDump(S.page);
					assert(dump.text.includes('CONTROL-TEXT-1') && dump.text.includes('CONTROL-BYTES-2'),
						'the raw reader finds plaintext put there');
					await S.page.evaluate(() => new Promise((res) => {
						const r = indexedDB.deleteDatabase('tf-test-control');
						r.onsuccess = r.onerror = () => res(undefined);
					}));
					const counts = Object.entries(dump.stores).map(([k, v]) => `${k}=${v}`).join(' ');
					const web = await S.page.evaluate(() => JSON.stringify([
						Object.entries(localStorage), Object.entries(sessionStorage)]));
					dump.text += `\n${web}`;
					for (const m of Object.values(MARK))
						assert(!dump.text.includes(m), `marker ${m} in IndexedDB in clear`);
					for (const t of SEEDED)
						assert(!dump.text.includes(t), `seeded text "${t}" in IndexedDB in clear`);
					for (const id of [...ids.all, ids.report])
						assert(!dump.text.includes(id), `record id ${id} in IndexedDB in clear`);
					// The markers are in that store (sealed): a reload
					// and the PIN bring them back.
					await S.ctx.setOffline(false);
					await gotoApp(S.page, { reload: true });
					await sdk(S.page, (tf, pin) => tf.unlock(pin), PIN);
					const again = await sdk(S.page, async (tf, a) => {
						const i = await tf.records.get(a.inc);
						const r = await tf.records.get(a.report);
						return JSON.stringify([i.record, r.record, await tf.status()]);
					}, ids);
					for (const m of Object.values(MARK).filter((x) => x !== MARK.status))
						assert(again.includes(m), `${m} still there after the reload`);
					return `${dump.text.length} bytes read raw, ${counts}`;
				},
			},
			{
				name: 'expired offline grant refuses unlock',
				after: true,
				async fn() {
					await sdk(S.page, (tf) => tf.lock());
					// 13 h later on this device's clock: past the grant's
					// offline window (12 h).
					await gotoApp(S.page, { skew: 13 * 3600 * 1000 });
					assertEq(await sdk(S.page, (tf) => tf.state), 'locked', 'state after reload');
					const e = await sdkFails(S.page, (tf, pin) => tf.unlock(pin), PIN, 'expired');
					const left = await sdk(S.page, async (tf) => (await tf.status()).attemptsLeft);
					assertEq(left, 10, 'failed unlocks left (the PIN was not tried)');
					// Back on time the grant seen expired stays so (the
					// device's clock guard remembers): only an online
					// login opens the store again.
					await gotoApp(S.page);
					const e2 = await sdk(S.page, (tf, pin) => tf.unlock(pin), PIN).then(
						() => null, (x) => x);
					assert(e2 && e2.code !== 'unauthenticated',
						`unlock back on time: ${e2 ? e2.message : 'unlocked'}`);
					await login(env, S.page, { user: 'alvarez' });
					assertEq(await sdk(S.page, (tf) => tf.state), 'unlocked', 'state after online login');
					await sdk(S.page, (tf) => tf.lock());
					return `${e.message.replace('in the page: ', '').slice(0, 50).replace(/[;.,]+$/, '')}; then ${e2.code}, online login opens`;
				},
			},
			{
				name: 'clock rolled back refuses unlock',
				after: true,
				async fn() {
					const ctx = await env.newContext('brooks');
					const page = await openApp(ctx);
					await enrollLogin(env, page, { device: 'web-2a14', user: 'brooks' });
					await waitSynced(page, 0);
					await sdk(page, (tf) => tf.lock());
					await gotoApp(page, { skew: -3 * 3600 * 1000 });
					const e = await sdkFails(page, (tf, pin) => tf.unlock(pin), PIN,
						'clock_rollback');
					await ctx.close();
					return e.message.replace('in the page: ', '').slice(0, 70);
				},
			},
			{
				name: 'wrong PIN wipe_after times wipes the store',
				after: true,
				timeoutMs: 180000,
				async fn() {
					const wipeAfter = await sdk(S.page, (tf) => tf.claims.wipe_after);
					assert(wipeAfter >= 2 && wipeAfter <= 10, `wipe_after ${wipeAfter}`);
					const before = await idbDump(S.page);
					for (let i = 1; i < wipeAfter; i++) {
						const e = await sdkFails(S.page, (tf) => tf.unlock('000000'), null,
							'unauthenticated');
						assertEq(e.attemptsLeft, wipeAfter - i, `attempts left after ${i} failures`);
					}
					await sdkFails(S.page, (tf) => tf.unlock('000000'), null, 'wipe_required');
					assertEq(await sdk(S.page, (tf) => tf.state), 'wiped', 'state');
					// The right PIN opens nothing now, also after a reload.
					await gotoApp(S.page);
					const st = await sdk(S.page, (tf) => tf.state);
					assert(st === 'wiped' || st === 'enrolled', `state after reload: ${st}`);
					await sdkFails(S.page, (tf, pin) => tf.unlock(pin), PIN, 'not_enrolled');
					const after = await idbDump(S.page);
					for (const s of ['record', 'pending', 'audit', 'secret'])
						for (const [k, v] of Object.entries(after.stores))
							if (k.endsWith(`/${s}`))
								assertEq(v, 0, `entries left in ${k}`);
					return `${before.text.length} bytes before, ${after.text.length} after`;
				},
			},
		];
	},
};
