// tenfour.mjs - the tenfour side of the browser benchmark (bench/web/run.mjs):
// the web SDK (web/sdk/tenfour.mjs) opened on this origin, whose /v1 goes to
// tenfourd, with the sync loop off so that each measured step runs alone.
// window.tf is the SDK; window.tfReady resolves its state.

import { Tenfour } from '/web/sdk/tenfour.mjs';

// @ts-ignore
window.tfReady = (async () => {
	const tf = await Tenfour.open({
		wasm: '/build/wasm/tenfour.wasm',
		schema: '/schemas/cad.json',
		name: new URLSearchParams(location.search).get('name') ?? 'tenfour-bench',
		autoSync: false,
	});
	// @ts-ignore
	window.tf = tf;
	/** @type {HTMLElement} */ (document.getElementById('state')).textContent = tf.state;
	return tf.state;
})();
