// helpers.mjs - shared pieces of the SDK's Node tests: the core, a
// controllable clock, a grant signer standing in for tenfourd's keys.

import { fileURLToPath } from 'node:url';
import { loadCore } from '../core.mjs';
import { b64url, enc, sha256hex } from '../util.mjs';

export const WASM = process.env.TENFOUR_WASM ?? fileURLToPath(new URL('../../../build/wasm/tenfour.wasm',
	import.meta.url));
export const SCHEMA = fileURLToPath(new URL('../../../schemas/cad.json',
	import.meta.url));

/** @returns {Promise<any>} */
export function core() {
	return loadCore(WASM, { log: () => {} });
}

/** A clock tests move by hand. */
export function fakeClock(wall = 1764000000000, mono = 1000) {
	const c = {
		w: wall,
		m: mono,
		wall: () => c.w,
		mono: () => c.m,
		/** @param {number} ms */
		advance(ms) {
			c.w += ms;
			c.m += ms;
		},
	};
	return c;
}

/**
 * A server signing key: {keys} (the /v1/keys document) and sign(claims)
 * giving a grant as tenfourd's login reply carries it.
 */
export async function serverKeys() {
	const kp = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(
		{ name: 'Ed25519' }, true, ['sign', 'verify']));
	const pub = new Uint8Array(await crypto.subtle.exportKey('raw',
		kp.publicKey));
	const keyId = 'k-' + (await sha256hex(pub)).slice(0, 16);
	return {
		keyId,
		keys: { keys: [{ alg: 'Ed25519', key_id: keyId,
			public_key: b64url(pub) }] },
		/** @param {object} claims canonical by construction (sorted) */
		async grant(claims) {
			const text = JSON.stringify(Object.fromEntries(
				Object.entries({ ...claims, key_id: keyId }).sort(
					([a], [b]) => (a < b ? -1 : 1))));
			const sig = new Uint8Array(await crypto.subtle.sign('Ed25519',
				kp.privateKey, enc.encode(text)));
			return { claims: text, key_id: keyId, sig: b64url(sig) };
		},
	};
}

/** Claims of a grant issued at `now`. */
export function claimsAt(now, extra = {}) {
	return { agency: 'demo', device: 'mdt-2a12', issued_at: now,
		lock_after: 900000, not_after: now + 8 * 3600000, roles: ['officer'],
		user: 'alvarez', wipe_after: 3, ...extra };
}
