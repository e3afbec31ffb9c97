// app.mjs - the browser tests' app: the SDK opened on this page's origin,
// every SDK event kept in window.tfEvents, the SDK as window.tf, the app
// shell's service worker (sw.mjs) registered; window.tfShell resolves once
// it controls the page.
//   ?skew=MS    the SDK's wall clock runs MS ahead of the machine's
//   ?name=DB    the IndexedDB database name (default "tenfour")

import { Tenfour } from '/web/sdk/tenfour.mjs';
import { registerShell } from '/web/sdk/sw.mjs';

const q = new URLSearchParams(location.search);
const skew = Number(q.get('skew') ?? 0);
const clock = {
	wall: () => Date.now() + skew,
	mono: () => Math.floor(performance.now()),
};
/** @type {{type: string, detail: any, at: number}[]} */
const events = [];
const stateEl = /** @type {HTMLElement} */ (document.getElementById('state'));

// @ts-ignore
window.tfEvents = events;
// @ts-ignore
window.tfShell = (async () => {
	await registerShell('/tests/web/pages/app/sw.mjs');
	const sc = navigator.serviceWorker;
	await sc.ready;
	if (!sc.controller)
		await new Promise((r) => sc.addEventListener('controllerchange', r, { once: true }));
	return true;
})();
// @ts-ignore
window.tfReady = (async () => {
	const tf = await Tenfour.open({
		wasm: '/build/wasm/tenfour.wasm',
		schema: '/schemas/cad.json',
		name: q.get('name') ?? undefined,
		clock,
	});
	tf.on('*', (/** @type {any} */ e) => {
		events.push({ type: e.type, detail: JSON.parse(JSON.stringify(e.detail ?? null,
			(_k, v) => (v instanceof Error ? { code: v.code, message: v.message } : v))),
		at: Date.now() });
		if (events.length > 2000) events.splice(0, 500);
		stateEl.textContent = tf.state;
	});
	// @ts-ignore
	window.tf = tf;
	stateEl.textContent = tf.state;
	return tf.state;
})().catch((e) => {
	stateEl.textContent = `error: ${e?.code ?? ''} ${e?.message ?? e}`;
	throw e;
});
