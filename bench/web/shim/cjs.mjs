// cjs.mjs - loads a CommonJS file of bench/js/node_modules as a module's
// exports in the page (pouchdb-browser ships an ES module whose
// dependencies spark-md5, vuvuzela and events are CommonJS; a bundler
// would wrap them the same way).  For the benchmark only.

/**
 * @param {string} url
 * @returns {Promise<any>} module.exports
 */
export async function requireCjs(url) {
	const res = await fetch(url);
	if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
	const src = await res.text();
	const module = { exports: {} };
	// eslint-disable-next-line no-new-func
	new Function('module', 'exports', 'define', `${src}\n//# sourceURL=${url}`)(
		module, module.exports, undefined);
	return module.exports;
}
