// sw.mjs - service-worker helper: a versioned app shell so the app opens
// with no network, and updates that never run stale code against a newer
// store.
//
// In the service worker (registered with {type: 'module'}):
//
//   import { installShell } from './web/sdk/sw.mjs';
//   installShell(self, { version: '2026.11.25-1',
//     shell: ['/', '/app.mjs', '/web/sdk/tenfour.mjs', ..., '/tenfour.wasm',
//             '/cad.json'] });
//
// In the page:
//
//   import { registerShell } from './web/sdk/sw.mjs';
//   const shell = await registerShell('/sw.js', {
//     onUpdateReady: () => showBanner('Update ready', shell.applyUpdate) });
//
// Rules:
//  - every shell file is cached under "tenfour-shell-<version>" at
//    install (all or nothing: a failed file fails the install and the
//    old version keeps serving); requests for them are answered from that
//    cache, so code and wasm always come from one version;
//  - /v1/ (the server) is never cached: data goes through the encrypted
//    store only;
//  - the first install takes control of the open pages (clients.claim())
//    without reloading them: they already run this version's code;
//  - a new version waits (no skipWaiting) until the page calls
//    applyUpdate(); then every tab of the origin reloads onto it at once,
//    so no tab keeps running old code beside a store the new code may
//    have moved on;
//  - and should one anyway (a tab that slept through it), the store
//    refuses it: a layout newer than the code is "store_newer" at open,
//    and an IndexedDB upgrade closes old connections (backend.mjs), which
//    the SDK reports as store_newer ("reload").

const PREFIX = 'tenfour-shell-';

/**
 * Installs the shell handlers in a service worker.
 * @param {any} sw  the ServiceWorkerGlobalScope (self)
 * @param {{version: string, shell: string[], apiPrefix?: string}} o
 */
export function installShell(sw, o) {
	if (!o?.version || !/^[A-Za-z0-9._-]{1,64}$/.test(o.version))
		throw new Error('installShell: version [A-Za-z0-9._-]{1,64} required');
	const cacheName = PREFIX + o.version;
	const api = o.apiPrefix ?? '/v1/';
	const shell = new Set(o.shell.map((p) => new URL(p, sw.location).href));

	sw.addEventListener('install', (/** @type {any} */ ev) => {
		ev.waitUntil((async () => {
			const c = await sw.caches.open(cacheName);
			// cache: 'reload' bypasses the HTTP cache: the files of this
			// version, not a mix with older ones.
			await c.addAll([...shell].map((u) => new Request(u,
				{ cache: 'reload' })));
		})());
	});

	sw.addEventListener('activate', (/** @type {any} */ ev) => {
		ev.waitUntil((async () => {
			for (const k of await sw.caches.keys())
				if (k.startsWith(PREFIX) && k !== cacheName)
					await sw.caches.delete(k);
			await sw.clients.claim();
		})());
	});

	sw.addEventListener('message', (/** @type {any} */ ev) => {
		if (ev.data?.type === 'tenfour-skip-waiting') sw.skipWaiting();
		if (ev.data?.type === 'tenfour-version')
			ev.source?.postMessage({ type: 'tenfour-version',
				version: o.version });
	});

	sw.addEventListener('fetch', (/** @type {any} */ ev) => {
		const req = ev.request;
		if (req.method !== 'GET') return;
		const url = new URL(req.url);
		if (url.origin === sw.location.origin && url.pathname.startsWith(api))
			return; // the server: never cached
		const key = url.origin + url.pathname;
		const nav = req.mode === 'navigate';
		if (!shell.has(key) && !nav) return;
		ev.respondWith((async () => {
			const c = await sw.caches.open(cacheName);
			const hit = await c.match(nav && !shell.has(key)
				? new URL(o.shell[0], sw.location).href : key,
			{ ignoreSearch: true });
			if (hit) return hit;
			return fetch(req);
		})());
	});
}

/**
 * Registers the shell's service worker from a page.
 * @param {string} url the worker script
 * @param {{onUpdateReady?: () => void, scope?: string}} [o]
 * @returns {Promise<{registration: ServiceWorkerRegistration|null,
 *   applyUpdate: () => void, checkForUpdate: () => Promise<void>}>}
 */
export async function registerShell(url, o = {}) {
	const sc = /** @type {any} */ (navigator).serviceWorker;
	if (!sc) return { registration: null, applyUpdate: () => {},
		checkForUpdate: async () => {} };
	const reg = await sc.register(url, { type: 'module', scope: o.scope });
	const ready = () => {
		if (reg.waiting && sc.controller) o.onUpdateReady?.();
	};
	ready();
	reg.addEventListener('updatefound', () => {
		const w = reg.installing;
		w?.addEventListener('statechange', () => {
			if (w.state === 'installed') ready();
		});
	});
	// When a new worker replaces the one that controlled this page (an
	// update: this tab or another asked), every tab reloads onto the new
	// code.  The first install's clients.claim() also fires
	// controllerchange, on a page that had no controller: that page
	// already runs the code the worker caches, so it is not reloaded (a
	// login form being typed into stays as it is).
	let controlled = !!sc.controller;
	let reloading = false;
	sc.addEventListener('controllerchange', () => {
		const update = controlled;
		controlled = !!sc.controller;
		if (!update || reloading) return;
		reloading = true;
		location.reload();
	});
	return {
		registration: reg,
		applyUpdate: () => reg.waiting?.postMessage({ type: 'tenfour-skip-waiting' }),
		checkForUpdate: () => reg.update(),
	};
}
