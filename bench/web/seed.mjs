// seed.mjs - the benchmark's data set: N incident records created through
// tenfourd by a dispatcher client (tests/web/lib/node-client.mjs, the wasm
// core in Node), then read back as the record states tenfourd serves; the
// same states become PouchDB documents ({_id: id, ...state}) so both sides
// replicate the same content.

/** @param {number} i */
function incident(i) {
	const streets = ['Harbor Blvd', 'Mission St', 'Oak Ave', 'Pine Rd', 'Lakeshore Dr',
		'Grand Ave', 'Telegraph Ave', 'Broadway', 'Fruitvale Ave', 'Market St'];
	const types = ['disturbance', 'traffic_hazard', 'theft', 'alarm', 'welfare_check',
		'suspicious_vehicle', 'noise', 'collision', 'trespass', 'assist'];
	return {
		type_code: types[i % types.length],
		priority: 1 + (i % 5),
		status: ['pending', 'dispatched', 'active', 'closed'][i % 4],
		location: {
			addr: `${100 + (i % 9000)} ${streets[i % streets.length]}`,
			apt: i % 3 ? `${1 + (i % 20)}${'ABCD'[i % 4]}` : '',
			lat: 37.7 + (i % 1000) / 10000,
			lng: -122.3 + (i % 700) / 10000,
		},
		caller: { name: `Caller ${i}`, phone: `555-${String(i % 10000).padStart(4, '0')}` },
		remarks: `Call ${i}: reporting party states activity at the location; ` +
			'units advised to approach from the north side, no weapons seen.',
	};
}

/**
 * Creates `n` incidents through `client` (a nodeClient) and returns the
 * record states tenfourd serves for them, read with a fresh pull.
 * @param {any} client @param {number} n
 * @returns {Promise<any[]>}
 */
export async function seedIncidents(client, n) {
	for (let i = 0; i < n; i++) client.mutate('incident', null, 'create', { fields: incident(i) });
	await client.sync();
	const bad = client.results.filter((/** @type {any} */ r) => r.status !== 'applied');
	if (bad.length) throw new Error(`seed: ${bad.length} commands not applied: ${JSON.stringify(bad[0])}`);
	/** @type {any[]} */
	const states = [];
	let cursor = '';
	for (let page = 0; page < 1000; page++) {
		const p = JSON.parse(await client.api(
			`/v1/sync/pull?limit=5000&cursor=${encodeURIComponent(cursor)}`));
		states.push(...p.records);
		cursor = p.cursor;
		if (!p.has_more) return states;
	}
	throw new Error('seed: pull did not end within 1000 pages');
}

/** @param {any} state */
export const toDoc = (state) => {
	const { id, ...rest } = state;
	return { _id: id, ...rest };
};
