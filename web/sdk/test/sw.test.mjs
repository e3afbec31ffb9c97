// sw.test.mjs - the page side of the service-worker helper (registerShell)
// with a stand-in navigator.serviceWorker: the first install's
// clients.claim() does not reload the page (a form being typed into
// stays); an update of the controlling worker reloads it, once; the
// update-ready callback.  The worker side runs in Chromium (tests/web/).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerShell } from '../sw.mjs';

/**
 * Installs a fake navigator.serviceWorker and location for fn; restores
 * the globals afterwards.
 * @param {{controller: object|null, waiting?: object|null}} o
 * @param {(f: {sc: any, reg: any, reloads: () => number}) => Promise<void>} fn
 */
async function withFakeWorker(o, fn) {
	const sc = /** @type {any} */ (new EventTarget());
	sc.controller = o.controller;
	const reg = /** @type {any} */ (new EventTarget());
	reg.waiting = o.waiting ?? null;
	reg.installing = null;
	reg.update = async () => {};
	sc.register = async () => reg;
	let reloads = 0;
	const saved = {};
	for (const k of ['navigator', 'location'])
		saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
	Object.defineProperty(globalThis, 'navigator', { configurable: true,
		value: { serviceWorker: sc } });
	Object.defineProperty(globalThis, 'location', { configurable: true,
		value: { reload: () => { reloads++; } } });
	try {
		await fn({ sc, reg, reloads: () => reloads });
	} finally {
		for (const [k, d] of Object.entries(saved)) {
			if (d) Object.defineProperty(globalThis, k, d);
			else delete (/** @type {any} */ (globalThis))[k];
		}
	}
}

test('first install: clients.claim() takes control without a reload; a later update reloads once',
	async () => {
		await withFakeWorker({ controller: null }, async ({ sc, reloads }) => {
			/** @type {number} */
			let ready = 0;
			await registerShell('/sw.js', { onUpdateReady: () => { ready++; } });
			// The first worker activates and claims this page.
			sc.controller = { id: 'v1' };
			sc.dispatchEvent(new Event('controllerchange'));
			assert.equal(reloads(), 0, 'the first install reloaded the page');
			// An update replaces the controller: reload onto it, once.
			sc.controller = { id: 'v2' };
			sc.dispatchEvent(new Event('controllerchange'));
			assert.equal(reloads(), 1, 'an update reloads the page');
			sc.dispatchEvent(new Event('controllerchange'));
			assert.equal(reloads(), 1, 'reloaded once');
			assert.equal(ready, 0);
		});
	});

test('a page already controlled reloads when the new version takes over; update ready is told',
	async () => {
		await withFakeWorker({ controller: { id: 'v1' }, waiting: { id: 'v2' } },
			async ({ sc, reg, reloads }) => {
				let ready = 0;
				/** @type {any} */
				let posted = null;
				reg.waiting.postMessage = (/** @type {any} */ m) => { posted = m; };
				const shell = await registerShell('/sw.js',
					{ onUpdateReady: () => { ready++; } });
				assert.equal(ready, 1, 'a waiting version is reported');
				shell.applyUpdate();
				assert.deepEqual(posted, { type: 'tenfour-skip-waiting' });
				sc.controller = { id: 'v2' };
				sc.dispatchEvent(new Event('controllerchange'));
				assert.equal(reloads(), 1);
			});
	});
