// node-client.mjs - a small tenfour client in Node for the browser tests:
// the dispatcher (or any seeded user) logs in over HTTP with the device's
// seeded Ed25519 key and works through a replica of the same wasm core the
// SDK runs (web/sdk/core.mjs), independent of the browser SDK under test.
//
//   const dana = await nodeClient({td, root, user: 'dana', device: 'console-node'});
//   await dana.sync();
//   const inc = dana.find('incident', (r) => r.f.incident_number?.v === '1234');
//   await dana.mutate('incident', inc.id, 'set', {fields: {priority: 1}});
//   await dana.sync();
//
// Every request is bounded (AbortSignal.timeout).

import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCore } from '../../../web/sdk/core.mjs';

const b64url = (/** @type {Buffer} */ b) => b.toString('base64url');

/**
 * Enrolls a new device with a fresh Ed25519 key (a seeded device's ledger
 * already holds the seed's commands, which a new replica cannot continue).
 * @param {any} td @param {string} device @param {string} label
 * @returns {Promise<import('node:crypto').KeyObject>} its private key
 */
export async function enrollDevice(td, device, label) {
	const { privateKey, publicKey } = generateKeyPairSync('ed25519');
	const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
	await td.admin(['device-enroll', device, '--label', label, '--pubkey', b64url(raw)]);
	return privateKey;
}

/**
 * Logs a seeded user in on a device; returns the login reply.
 * @param {any} td  startTenfourd() result
 * @param {string} user @param {string} device
 * @param {import('node:crypto').KeyObject} [key] the device key (default:
 *   the seeded device's PEM file)
 */
export async function login(td, user, device, key) {
	const u = td.user(user);
	const banner = await (await fetch(`${td.url}/v1/auth/banner?agency=demo`,
		{ signal: AbortSignal.timeout(10000) })).json();
	key ??= createPrivateKey(await td.devicePem(device));
	const ts = Date.now();
	const msg = `tenfour-login\ndemo\n${user}\n${device}\n${ts}`;
	const sig = b64url(sign(null, Buffer.from(msg), key));
	const body = {
		agency: 'demo', user, password: u.password, totp: await td.totpNext(user),
		device_id: device, banner_rev: banner.banner_rev, proof: { ts, sig },
	};
	const r = await fetch(`${td.url}/v1/auth/login`, {
		method: 'POST', headers: { 'content-type': 'application/json' },
		body: JSON.stringify(body), signal: AbortSignal.timeout(30000),
	});
	const j = await r.json();
	if (!r.ok) throw new Error(`login ${user}@${device}: ${r.status} ${JSON.stringify(j)}`);
	return j;
}

/**
 * A logged-in client with its own replica, on a device enrolled for it.
 * @param {{td: any, root: string, user: string, device: string}} o
 */
export async function nodeClient(o) {
	const core = await loadCore(join(o.root, 'build/wasm/tenfour.wasm'));
	core.call('schema.load', await readFile(join(o.root, 'schemas/cad.json'), 'utf8'));
	const key = await enrollDevice(o.td, o.device, `test client ${o.device}`);
	const session = await login(o.td, o.user, o.device, key);
	const { replica } = core.call('replica.new', { device: o.device, user: o.user });
	const headers = {
		authorization: `Bearer ${session.token}`,
		'x-tenfour-device': o.device,
	};

	/** @param {string} path @param {any} [body] */
	const api = async (path, body) => {
		const r = await fetch(`${o.td.url}${path}`, {
			method: body === undefined ? 'GET' : 'POST',
			headers: body === undefined ? headers
				: { ...headers, 'content-type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body),
			signal: AbortSignal.timeout(30000),
		});
		const text = await r.text();
		if (!r.ok) throw new Error(`${path}: ${r.status} ${text}`);
		return text;
	};

	const pull = async () => {
		for (let i = 0; i < 1000; i++) {
			const cur = core.call('replica.cursor', { replica });
			const page = await api(`/v1/sync/pull?limit=5000&cursor=${encodeURIComponent(cur ?? '')}`);
			// The page's exact bytes go in as a member (a JSON string
			// member is limited to 1 MiB; numbers keep their text).
			core.call('replica.apply_pull', `{"now":${Date.now()},"page":${page},"replica":${replica}}`);
			if (!JSON.parse(page).has_more) return;
		}
		throw new Error('pull: more than 1000 pages');
	};

	// Pushes batches (at most 1,000 commands each) until none is left
	// whose result has not arrived.
	const push = async () => {
		for (let i = 0; i < 1000; i++) {
			const req = core.call('replica.push_request', { replica });
			if (!req.commands.length) return;
			const reply = await api('/v1/sync/push', req);
			core.call('replica.apply_push_reply',
				`{"now":${Date.now()},"replica":${replica},"reply":${reply}}`);
			lastResults.push(...JSON.parse(reply).results);
		}
		throw new Error('push: commands still waiting after 1000 rounds');
	};
	/** @type {any[]} */
	const lastResults = [];

	const client = {
		core,
		replica,
		session,
		user: o.user,
		device: o.device,
		api,
		/** Results of every push so far. */
		results: lastResults,
		/** Push what is pending, then pull to the end. */
		async sync() {
			await push();
			await pull();
		},
		/** @param {string} [entity] @returns {string[]} */
		list: (entity) => core.call('replica.list', entity ? { replica, entity } : { replica }),
		/** @param {string} id */
		view: (id) => core.call('replica.view', { replica, record_id: id }),
		/** @param {string} id */
		record: (id) => core.call('replica.view', { replica, record_id: id }).record,
		/**
		 * The first record of an entity a predicate picks (throws if none).
		 * @param {string} entity @param {(r: any) => boolean} pred
		 */
		find(entity, pred) {
			for (const id of client.list(entity)) {
				const r = client.record(id);
				if (pred(r)) return r;
			}
			throw new Error(`${o.user}: no ${entity} record matches`);
		},
		/**
		 * Queues a command (record_id null creates); returns {cmd_id, record_id}.
		 * @param {string} entity @param {string|null} id @param {string} op @param {any} args
		 * @param {number} [now]
		 */
		mutate: (entity, id, op, args, now) => core.call('replica.mutate', {
			replica, now: now ?? Date.now(), random: randomBytes(20).toString('hex'),
			entity, op, args, ...(id ? { record_id: id } : {}), online: true,
		}),
		notices: () => core.call('replica.notices', { replica }),
		async logout() {
			await fetch(`${o.td.url}/v1/auth/logout`, { method: 'POST', headers,
				signal: AbortSignal.timeout(10000) }).catch(() => {});
		},
	};
	return client;
}
