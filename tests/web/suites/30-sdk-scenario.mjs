// 30-sdk-scenario.mjs - the patrol-car scenario of DOMAIN.md in Chromium:
// officers Alvarez (2A12, its clock 40 s fast) and Brooks (2A14) in two
// browser contexts running the web SDK, dispatcher Dana a Node client of
// the same core over HTTP (lib/node-client.mjs).  2A12 goes offline with
// context.setOffline(true), keeps working, reloads the page while offline
// (the app shell from the service worker, the data after the PIN), and
// comes back; every expected outcome of DOMAIN.md is asserted.
//
// Time is compressed to seconds.  Where DOMAIN.md has Dana act after
// 2A12 in scenario time although she acts sooner in real time (type and
// priority at minute 8), her command is stamped 45 s ahead (within the
// server's 60 s skew), so that the clock order is the scenario's.

import { nodeClient } from '../lib/node-client.mjs';
import { PIN, assert, assertEq, diagnose, enrollLogin, gotoApp, openApp, sdk, sdkFails,
	until, waitSynced } from '../lib/sdk.mjs';

const SKEW = 40000;
/** @type {any} */
const S = {};

/** The record ids the pages need (S itself holds Node objects). */
const ids = () => ({ inc: S.inc, inc2: S.inc2, u12: S.u12, u14: S.u14, bolo: S.bolo,
	thread: S.thread, alog: S.alog });

/** HLC text to its wall ms. @param {string} t */
const hlcMs = (t) => parseInt(t.slice(0, 12), 16);
/** @param {number} ms */
const hms = (ms) => new Date(ms).toISOString().slice(11, 19);

/**
 * A record's view in a page.
 * @param {import('playwright-core').Page} page @param {string} id
 */
const view = (page, id) => sdk(page, (tf, i) => tf.records.get(i), id);

export default {
	name: 'sdk-scenario',
	server: true,
	/** @param {any} env */
	async setup(env) {
		return [
			{
				name: 'minute 0: incident #1234, 2A12 and 2A14 en route, 2A12 on scene',
				timeoutMs: 120000,
				async fn() {
					const dana = await nodeClient({ td: env.td, root: env.root, user: 'dana',
						device: 'console-node' });
					S.dana = dana;
					await dana.sync();
					S.inc = dana.find('incident', (r) => r.f.incident_number?.v === '1234').id;
					S.inc2 = dana.find('incident', (r) => r.f.incident_number?.v === '1240').id;
					S.u12 = dana.find('unit', (r) => r.f.callsign?.v === '2A12').id;
					S.u14 = dana.find('unit', (r) => r.f.callsign?.v === '2A14').id;
					S.bolo = dana.find('bolo', (r) => r.f.descriptors?.v?.plate === '7ABC123').id;
					const units = dana.record(S.inc).f.assigned_units.s.map((/** @type {any} */ e) => e.v);
					assertEq(units.sort(), ['2A12', '2A14'], '#1234 assigned units');
					S.thread = dana.mutate('thread', null, 'create', { fields: {
						subject: '#1234 Disturbance', priority: 'normal', incident_id: S.inc,
						participants: ['alvarez', 'brooks', 'dana'] } }).record_id;
					await dana.sync();

					const t0 = Date.now();
					S.ctxA = await env.newContext('2A12');
					S.a = await openApp(S.ctxA, { skew: SKEW });
					await enrollLogin(env, S.a, { device: 'web-2a12', user: 'alvarez' });
					S.ctxB = await env.newContext('2A14');
					S.b = await openApp(S.ctxB);
					await enrollLogin(env, S.b, { device: 'web-2a14', user: 'brooks' });
					await waitSynced(S.a, t0);
					await waitSynced(S.b, t0);

					const t1 = Date.now();
					await sdk(S.a, async (tf, s) => {
						await tf.mutate.set(s.u12, { status: 'enroute' });
						await tf.mutate.set(s.u12, { status: 'onscene' });
						const al = await tf.mutate.create('activity_log', { unit_id: '2A12',
							incident_name: '#1234 Disturbance', op_period_from: tf.clock.wall() });
						return al.record_id;
					}, ids()).then((id) => {
						S.alog = id;
					});
					await sdk(S.b, (tf, s) => tf.mutate.set(s.u14, { status: 'enroute' }), ids());
					await waitSynced(S.a, t1);
					await waitSynced(S.b, t1);
					await dana.sync();
					assertEq(dana.record(S.u12).f.status.v, 'onscene', '2A12 status at dispatch');
					assertEq(dana.record(S.u14).f.status.v, 'enroute', '2A14 status at dispatch');
					const bv = await view(S.b, S.thread);
					assertEq(bv.record.f.subject.v, '#1234 Disturbance', 'the thread reached 2A14');
				},
			},
			{
				name: '2A12 offline keeps working (clock 40 s fast)',
				after: true,
				async fn() {
					await S.ctxA.setOffline(true);
					S.offlineAt = Date.now();
					const r = await sdk(S.a, async (tf, s) => {
						const st0 = await tf.status();
						const out = /** @type {any} */ ({ cacheAt: st0.lastSync });
						await tf.mutate.append(s.alog, 'entries', { text: 'Contact with RP, two males in unit 4B' });
						// The plate check against the cached BOLO list.
						/** @type {any} */
						let hit = null;
						for (const x of await tf.records.list({ entity: 'bolo' })) {
							const v = await tf.records.get(x.id);
							if (v.record.f.descriptors?.v?.plate === '7ABC123') hit = v.record;
						}
						out.boloStatus = hit?.f.status.v;
						const lk = await tf.mutate.create('lookup', { requested_by: 'alvarez' });
						out.lookup = lk.record_id;
						await tf.mutate.append(lk.record_id, 'query_audit', { query: '7ABC123',
							source: 'bolo', cached: true, cache_fetched_at: st0.lastSync,
							hit: !!hit, matched: hit ? [hit.id] : [] });
						await tf.mutate.set(s.inc, { type_code: 'dv' });
						const inc = await tf.records.get(s.inc);
						out.remarksBase = inc.record.f.remarks.v;
						out.remarksMine = `${inc.record.f.remarks.v} Domestic; RP's boyfriend has a knife.`;
						await tf.mutate.editText(s.inc, 'remarks', out.remarksMine);
						out.sentAt = Date.now();
						await tf.mutate.append(s.thread, 'messages', {
							body: '2A14, suspect has a knife, stay back', to: ['brooks'] });
						await tf.mutate.append(s.inc, 'notes', { kind: 'update',
							text: '2A12: knife reported, one detained' });
						await tf.mutate.append(s.alog, 'entries', { text: 'Suspect detained, knife recovered' });
						const rep = await tf.mutate.create('report', { author: 'alvarez',
							incident_ref: '1234', narrative: 'On arrival I contacted the reporting party...' });
						out.report = rep.record_id;
						try {
							await tf.mutate.set(rep.record_id, { status: 'submitted' });
							out.submit = 'accepted';
						} catch (e) {
							out.submit = /** @type {any} */ (e).code;
						}
						const st = await tf.status();
						out.pending = st.pending;
						out.online = st.online;
						const v = await tf.records.get(s.inc);
						out.tentative = { type: v.record.f.type_code.v, sync: v.sync };
						return out;
					}, ids());
					Object.assign(S, r);
					assertEq(r.boloStatus, 'active', 'the cached BOLO shows active');
					assert(r.submit !== 'accepted', 'submitting the report offline is refused');
					assertEq(r.tentative.type, 'dv', 'the change shows at once');
					assert(r.tentative.sync !== 'synced', `incident sync state ${r.tentative.sync}`);
					assertEq(r.pending, 9, 'changes queued offline');
					assertEq(r.online, false, 'the SDK says offline');
					return `${r.pending} pending, report submit refused (${r.submit})`;
				},
			},
			{
				name: '2A12 reloads while offline: shell from the service worker, data after unlock',
				after: true,
				async fn() {
					await gotoApp(S.a, { reload: true, skew: SKEW });
					assertEq(await sdk(S.a, (tf) => tf.state), 'locked', 'state after the reload');
					await sdk(S.a, (tf, pin) => tf.unlock(pin), PIN);
					const r = await sdk(S.a, async (tf, s) => {
						const v = await tf.records.get(s.inc);
						const st = await tf.status();
						// 2A12 clears itself after the reload.
						s.clearAt = Date.now();
						await tf.mutate.set(s.u12, { status: 'available' });
						return { type: v.record.f.type_code.v, pending: st.pending,
							notes: v.record.f.notes.e.map((/** @type {any} */ e) => e.v.text),
							after: (await tf.status()).pending, clearAt: s.clearAt };
					}, ids());
					assertEq(r.type, 'dv', 'offline change after the reload');
					assertEq(r.pending, S.pending, 'queued work after the reload');
					assert(r.notes.includes('2A12: knife reported, one detained'), 'offline note after the reload');
					assertEq(r.after, S.pending + 1, 'pending after clearing');
					S.clearAt = r.clearAt;
					S.pending = r.after;
					return `${r.pending} queued changes survived, unlocked offline`;
				},
			},
			{
				name: 'meanwhile online: Dana updates #1234, moves 2A14 to #1240, cancels the BOLO',
				after: true,
				async fn() {
					const d = S.dana;
					await d.sync();
					d.mutate('incident', S.inc, 'append', { field: 'notes',
						body: { kind: 'note', text: 'Neighbor calls again: screaming' } });
					const tags = d.record(S.inc).f.assigned_units.s
						.find((/** @type {any} */ e) => e.v === '2A14').tags;
					d.mutate('incident', S.inc, 'set_remove', { field: 'assigned_units', value: '2A14', tags });
					d.mutate('incident', S.inc2, 'set_add', { field: 'assigned_units', value: '2A14' });
					d.mutate('unit', S.u14, 'set', { fields: { status: 'dispatched' } });
					d.mutate('unit', S.u12, 'set', { fields: { status: 'onscene',
						status_note: 'no contact - missed check-in' } });
					const base = d.record(S.inc).f.remarks;
					S.remarksTheirs = `${base.v} Weapon seen by neighbor.`;
					d.mutate('incident', S.inc, 'edit_text', { field: 'remarks', base_rev: base.rev,
						base: base.v, text: S.remarksTheirs });
					d.mutate('bolo', S.bolo, 'set', { fields: { status: 'cancelled' } });
					// Minute 8 of the scenario: after 2A12's type change
					// on 2A12's clock.
					d.mutate('incident', S.inc, 'set', { fields: { priority: 1,
						type_code: 'assault-weapon' } }, Date.now() + 45000);
					const from = d.results.length;
					await d.sync();
					const res = d.results.slice(from);
					const bad = res.filter((/** @type {any} */ x) => x.status !== 'applied');
					assertEq(bad, [], 'Dana\'s commands not applied');
					// 2A14 (online) follows: #1240 arrives, #1234 leaves
					// its scope.
					await until(async () => {
						const ids = (await sdk(S.b, (tf) => tf.records.list({ entity: 'incident' })))
							.map((/** @type {any} */ x) => x.id);
						return ids.includes(S.inc2) && !ids.includes(S.inc);
					}, '2A14 seeing #1240 and no longer #1234', 30000).catch(async (e) => {
						throw new Error(`${e.message}\n${await diagnose(S.b)}`);
					});
					return `${res.length} commands applied; 2A14 moved to #1240`;
				},
			},
			{
				name: '2A12 reconnects: every expected outcome',
				after: true,
				timeoutMs: 150000,
				async fn() {
					const t = Date.now();
					await S.ctxA.setOffline(false);
					S.reconnectAt = t;
					await waitSynced(S.a, t, 90000);
					// The conflict comes back with the pull; settle once more.
					await until(async () => (await sdk(S.a, (tf) => tf.status())).pending === 0,
						'2A12 queue empty', 30000);
					const pushesA = env.web.pushes.filter((/** @type {any} */ p) =>
						JSON.parse(p.request).device_id === 'web-2a12');
					const results = pushesA.flatMap((/** @type {any} */ p) => JSON.parse(p.reply).results ?? []);
					const skewRefused = results.filter((/** @type {any} */ x) => x.status === 'clock_skew'
						|| x.code === 'clock_skew');
					assertEq(skewRefused.length, 0, 'commands refused for clock skew (40 s < 60 s)');
					// Offline requests never reach the server: no command
					// needed to go twice.
					const pushed = pushesA.flatMap((/** @type {any} */ p) =>
						JSON.parse(p.request).commands.map((/** @type {any} */ c) => `${c.seq}:${c.op}`));
					assertEq(pushed.length, new Set(pushed).size, `commands sent twice (${pushed.join(' ')})`);
					const rejected = results.filter((/** @type {any} */ x) => x.status === 'rejected');
					assertEq(rejected.map((/** @type {any} */ x) => x.code), [], 'rejected commands of 2A12');

					const inc = (await view(S.a, S.inc)).record;
					// Notes: nothing lost, in clock order.
					const notes = inc.f.notes.e;
					const texts = notes.map((/** @type {any} */ e) => e.v.text);
					for (const x of ['RP will meet units in the lobby.', 'Neighbor calls again: screaming',
						'2A12: knife reported, one detained'])
						assert(texts.includes(x), `note "${x}" kept`);
					const order = notes.map((/** @type {any} */ e) => e.t);
					assertEq(order, [...order].sort(), 'notes in clock order');
					const alog = (await view(S.a, S.alog)).record.f.entries.e.map((/** @type {any} */ e) => e.v.text);
					assertEq(alog, ['Contact with RP, two males in unit 4B',
						'Suspect detained, knife recovered'], '2A12 unit log');
					// type: by clock, Dana's later stamp wins; 2A12 is told.
					assertEq(inc.f.type_code.v, 'assault-weapon', 'type_code');
					assertEq(inc.f.priority.v, 1, 'priority');
					const notices = await sdk(S.a, (tf) => tf.notices());
					const sup = notices.find((/** @type {any} */ n) => n.kind === 'superseded' &&
						n.field === 'type_code');
					assert(sup, `a supersede notice for type_code (${JSON.stringify(notices)})`);
					assertEq([sup.mine, sup.winner, sup.winner_by], ['dv', 'assault-weapon', 'dana'],
						'supersede notice');
					// 2A14's removal stands.
					assertEq(inc.f.assigned_units.s.map((/** @type {any} */ e) => e.v), ['2A12'],
						'#1234 assigned units after the merge');
					// 2A12's status: by clock (its offline clear is later on
					// its fast clock), both changes in status_history.
					const u12 = (await view(S.a, S.u12)).record;
					assertEq([u12.f.status.v, u12.f.status.by], ['available', 'alvarez'], '2A12 status');
					const hist = u12.f.status_history.e.map((/** @type {any} */ e) => e.v.value);
					assert(hist.includes('onscene') && hist.at(-1) === 'available' &&
						hist.filter((/** @type {any} */ v) => v === 'onscene').length >= 2,
					`status_history keeps both sides: ${hist.join(',')}`);
					await S.dana.sync();
					const du = S.dana.record(S.u12);
					assertEq([du.f.status.v, du.f.status_history.e.length], ['available', hist.length],
						'dispatch sees the same status and history');
					// The message: sent offline, delivered at reconnect.
					const msg = (await view(S.a, S.thread)).record.f.messages.e[0];
					const sent = hlcMs(msg.t) - SKEW;
					assert(sent >= S.offlineAt - 1000 && sent < S.reconnectAt,
						`message sent while offline (${hms(sent)})`);
					assert(msg.srv >= S.reconnectAt - 1000, `message delivered at reconnect (${hms(msg.srv)})`);
					await until(async () => (await view(S.b, S.thread)).record.f.messages.e.length === 1,
						'2A14 receiving the message', 30000);
					// The BOLO cache refreshed; the plate check was made
					// against the stale cache.
					const bolo = (await view(S.a, S.bolo)).record;
					assertEq(bolo.f.status.v, 'cancelled', 'BOLO after the refresh');
					const q = (await view(S.a, S.lookup)).record.f.query_audit.e[0].v;
					assert(q.cached === true && q.hit === true && q.matched[0] === S.bolo,
						`plate check entry ${JSON.stringify(q)}`);
					// (cache_fetched_at is on 2A12's clock, 40 s fast.)
					assert(q.cache_fetched_at - SKEW < hlcMs(bolo.f.status.t),
						'the plate check\'s cache predates the cancellation (stale)');
					S.sent = sent;
					S.delivered = msg.srv;
					return `message sent ${hms(sent)}, delivered ${hms(msg.srv)}; ` +
						`${pushesA.length} pushes, ${results.length} results`;
				},
			},
			{
				name: 'remarks: conflict reconciled side by side, discarded text audited',
				after: true,
				async fn() {
					const cs = await sdk(S.a, (tf) => tf.conflicts());
					const c = cs.find((/** @type {any} */ x) => x.record_id === S.inc && x.field === 'remarks');
					assert(c, `a remarks conflict on 2A12 (${JSON.stringify(cs).slice(0, 300)})`);
					assertEq([c.conflict.head, c.conflict.proposed], [S.remarksTheirs, S.remarksMine],
						'the two sides');
					const merged = `${S.remarksBase} Domestic; RP's boyfriend has a knife. Weapon seen by neighbor.`;
					const t = Date.now();
					await sdk(S.a, (tf, a) => tf.resolve(a.inc, 'remarks', 'custom', a.text),
						{ inc: S.inc, text: merged });
					await waitSynced(S.a, t, 60000);
					const inc = (await view(S.a, S.inc)).record;
					assertEq(inc.f.remarks.v, merged, 'remarks after the resolution');
					assertEq((await sdk(S.a, (tf) => tf.conflicts())).length, 0, 'open conflicts');
					await S.dana.sync();
					assertEq(S.dana.record(S.inc).f.remarks.v, merged, 'Dana sees the resolution');
					const revs = JSON.parse(await S.dana.api(`/v1/records/${S.inc}/text/remarks`)).revisions;
					const disc = revs.filter((/** @type {any} */ r) => r.kind === 'discarded');
					assert(disc.length >= 1, `discarded revisions: ${JSON.stringify(revs).slice(0, 400)}`);
					const audit = (await env.td.admin(['audit-export'])).trim().split('\n')
						.map((/** @type {string} */ l) => JSON.parse(l));
					const res = audit.find((/** @type {any} */ e) => e.type === 'conflict_resolution' &&
						e.what?.record_id === S.inc && e.what?.field === 'remarks');
					assert(res, 'an audit entry of the resolution');
					assertEq([res.actor.user, res.actor.device], ['alvarez', 'web-2a12'], 'who resolved');
					const by = res.detail.discarded.map((/** @type {any} */ x) => `${x.by}:${x.from}`);
					assertEq(by, ['dana:head', 'alvarez:proposed'], 'what was discarded and by whom');
					assertEq(res.detail.discarded.map((/** @type {any} */ x) => x.excerpt),
						[S.remarksTheirs, S.remarksMine], 'the discarded texts');
					return `audit seq ${res.seq}: ${res.type}, discarded by ${by.join(' and ')}`;
				},
			},
			{
				name: 'supersede notice acknowledged; both officers converge with dispatch',
				after: true,
				async fn() {
					const n = (await sdk(S.a, (tf) => tf.notices()))
						.find((/** @type {any} */ x) => x.field === 'type_code');
					await sdk(S.a, (tf, id) => tf.acknowledge(id), n.id);
					const left = await sdk(S.a, (tf) => tf.notices());
					assert(!left.some((/** @type {any} */ x) => x.id === n.id), 'notice gone after the ack');
					await S.dana.sync();
					for (const id of [S.u12, S.u14, S.bolo]) {
						const want = JSON.stringify(S.dana.record(id).f);
						await until(async () => JSON.stringify((await view(S.a, id)).record.f) === want &&
							JSON.stringify((await view(S.b, id)).record.f) === want,
						`2A12 and 2A14 equal to dispatch on ${id}`, 30000);
					}
					const want = JSON.stringify(S.dana.record(S.inc).f);
					await until(async () => JSON.stringify((await view(S.a, S.inc)).record.f) === want,
						'2A12 equal to dispatch on #1234', 30000);
					await sdkFails(S.a, (tf, id) => tf.acknowledge(id), n.id, 'not_found');
				},
			},
		];
	},
	/** @param {any} env */
	async teardown() {
		await S.dana?.logout();
	},
};
