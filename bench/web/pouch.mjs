// pouch.mjs - the PouchDB side of the browser benchmark (bench/web/run.mjs):
// pouchdb-browser 9 with its default IndexedDB adapter ("idb") replicates
// a PouchDB Server database (same origin, proxied at /pouch/) into an
// empty local database, as a PouchDB web app's first sync does.
//
// window.pouchBench.replicate({remote, batchSize?}) ->
//   {ms, docs, adapter, docsWritten}

import PouchDB from '/bench/js/node_modules/pouchdb-browser/lib/index.es.js';

let run = 0;

/**
 * @param {{remote: string, batchSize?: number}} o
 */
async function replicate(o) {
	const local = new PouchDB(`bench-${Date.now()}-${run++}`);
	const remote = new PouchDB(new URL(o.remote, location.href).href);
	const t0 = performance.now();
	const res = await PouchDB.replicate(remote, local,
		o.batchSize ? { batch_size: o.batchSize } : {});
	const ms = performance.now() - t0;
	const info = await local.info();
	await local.destroy();
	return { ms, docs: info.doc_count, adapter: local.adapter,
		docsWritten: res.docs_written, ok: res.ok };
}

// @ts-ignore
window.pouchBench = { replicate, version: PouchDB.version };
/** @type {HTMLElement} */ (document.getElementById('state')).textContent = 'ready';
