// vectors.mjs - the vector runner of tests/wasm/run-vectors.mjs, in a
// browser page: every case of a tests/vectors/*.json file goes through
// web/sdk/core.mjs and build/wasm/tenfour.wasm here, and its output bytes
// are compared with "expect" byte for byte (format: tests/vectors/README.md).
// Input bytes are made as the Node runner makes them: numbers keep their
// exact text, keys sorted by their UTF-8 bytes, and the text is checked
// against the core's own json.canonicalize.
//
// window.tfVectors.ready resolves once the core is loaded;
// window.tfVectors.runFile('/tests/vectors/json.json') resolves
// {passed, failed, failures: [{name, why}]}.

import { loadCore } from '/web/sdk/core.mjs';

/** A JSON number kept as its exact text. */
class Num {
	/** @param {string} raw */
	constructor(raw) {
		this.raw = raw;
	}
}

/**
 * Parses JSON keeping numbers as their text (JSON.parse would turn "1.50"
 * into 1.5 and change what the core is given).
 * @param {string} text
 */
function parseExact(text) {
	let i = 0;
	const ws = () => {
		while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
	};
	const fail = (/** @type {string} */ what) => {
		throw new SyntaxError(`vector file: ${what} at ${i}`);
	};
	/** @returns {any} */
	const value = () => {
		ws();
		const ch = text[i];
		if (ch === '{') {
			i++;
			/** @type {Record<string, any>} */
			const o = {};
			ws();
			if (text[i] === '}') {
				i++;
				return o;
			}
			for (;;) {
				ws();
				const k = value();
				if (typeof k !== 'string') fail('key');
				ws();
				if (text[i++] !== ':') fail('expected :');
				o[k] = value();
				ws();
				const c = text[i++];
				if (c === '}') return o;
				if (c !== ',') fail('expected , or }');
			}
		}
		if (ch === '[') {
			i++;
			const a = [];
			ws();
			if (text[i] === ']') {
				i++;
				return a;
			}
			for (;;) {
				a.push(value());
				ws();
				const c = text[i++];
				if (c === ']') return a;
				if (c !== ',') fail('expected , or ]');
			}
		}
		if (ch === '"') {
			const start = i++;
			while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
			i++;
			return JSON.parse(text.slice(start, i));
		}
		const m = /^(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(
			text.slice(i, i + 400));
		if (!m) fail('unexpected character');
		i += /** @type {RegExpExecArray} */ (m)[0].length;
		const t = /** @type {RegExpExecArray} */ (m)[0];
		if (t === 'true') return true;
		if (t === 'false') return false;
		if (t === 'null') return null;
		return new Num(t);
	};
	const v = value();
	ws();
	if (i !== text.length) fail('trailing data');
	return v;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Byte order of two strings' UTF-8 forms. @param {string} a @param {string} b */
function cmpUtf8(a, b) {
	return cmpBytes(enc.encode(a), enc.encode(b));
}

/** memcmp order. @param {Uint8Array} a @param {Uint8Array} b */
function cmpBytes(a, b) {
	const n = Math.min(a.length, b.length);
	for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
	return a.length - b.length;
}

/** Canonical string escape (docs/PROTOCOL.md, section 1). @param {string} s */
function str(s) {
	let out = '"';
	for (const ch of s) {
		const c = /** @type {number} */ (ch.codePointAt(0));
		if (ch === '"') out += '\\"';
		else if (ch === '\\') out += '\\\\';
		else if (ch === '\b') out += '\\b';
		else if (ch === '\f') out += '\\f';
		else if (ch === '\n') out += '\\n';
		else if (ch === '\r') out += '\\r';
		else if (ch === '\t') out += '\\t';
		else if (c < 0x20) out += '\\u' + c.toString(16).padStart(4, '0');
		else out += ch;
	}
	return out + '"';
}

/** Canonical JSON text of a parseExact value. @param {any} v @returns {string} */
function canonical(v) {
	if (v === null) return 'null';
	if (v === true) return 'true';
	if (v === false) return 'false';
	if (v instanceof Num) return v.raw;
	if (typeof v === 'string') return str(v);
	if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
	const keys = Object.keys(v).sort(cmpUtf8);
	return '{' + keys.map((k) => str(k) + ':' + canonical(v[k])).join(',') + '}';
}

/** @param {string} hex */
function fromHex(hex) {
	if (hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) throw new Error('input_hex is not hex');
	const out = new Uint8Array(hex.length / 2);
	for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
	return out;
}

/** @param {Uint8Array} a @param {string} prefix */
const startsWith = (a, prefix) => dec.decode(a.subarray(0, prefix.length)) === prefix;

const CASE_KEYS = new Set(['name', 'note', 'method', 'input', 'input_text',
	'input_hex', 'expect']);
const ALLOWED_IMPORTS = new Set(['fd_write', 'fd_close', 'fd_seek', 'proc_exit']);

/** Core stderr lines (an assertion's message), for a failure report. */
const stderr = [];
const ready = loadCore('/build/wasm/tenfour.wasm', {
	log: (t) => {
		stderr.push(t);
		console.error(t.replace(/\n$/, ''));
	},
});

/**
 * Runs one vector file on a fresh API handle.
 * @param {string} url
 */
async function runFile(url) {
	const core = await ready;
	let passed = 0;
	/** @type {{name: string, why: string}[]} */
	const failures = [];
	const res = await fetch(url, { cache: 'no-store' });
	if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
	const cases = parseExact(await res.text());
	if (!Array.isArray(cases)) throw new Error(`${url}: not an array of cases`);
	core.reset();
	for (const cs of cases) {
		const name = cs.name ?? '(no name)';
		try {
			const unknown = Object.keys(cs).filter((k) => !CASE_KEYS.has(k));
			if (unknown.length) throw new Error(`unknown member ${unknown[0]}`);
			if (typeof cs.expect !== 'string') throw new Error('no "expect"');
			let input = new Uint8Array(0);
			if ('input' in cs) {
				const text = canonical(cs.input);
				input = enc.encode(text);
				const chk = core.callBytes('json.canonicalize', input).bytes;
				if (cmpBytes(chk, enc.encode(`{"ok":${text}}`)) !== 0)
					throw new Error(`runner canonical input differs: ${text}`);
			} else if (typeof cs.input_text === 'string') {
				input = enc.encode(cs.input_text);
			} else if (typeof cs.input_hex === 'string') {
				input = fromHex(cs.input_hex);
			}
			const { rc, bytes } = core.callBytes(cs.method, input);
			const ok = startsWith(bytes, '{"ok":');
			const err = startsWith(bytes, '{"error":');
			if (rc === 0 ? !ok : !err)
				throw new Error(`return code ${rc} disagrees with output`);
			if (cmpBytes(bytes, enc.encode(cs.expect)) !== 0)
				throw new Error(`output differs\n  expect: ${cs.expect}\n  got:    ${dec.decode(bytes)}`);
			passed++;
		} catch (e) {
			failures.push({ name, why: String(/** @type {any} */ (e)?.message ?? e) });
		}
	}
	return { passed, failed: failures.length, cases: cases.length, failures };
}

/** The imports check of the Node runner. */
async function imports() {
	const core = await ready;
	return { imports: core.imports, bad: core.imports.filter((n) => !ALLOWED_IMPORTS.has(n)) };
}

// @ts-ignore
window.tfVectors = { ready: ready.then(() => true), runFile, imports, stderr };
ready.then(() => {
	/** @type {HTMLElement} */ (document.getElementById('state')).textContent = 'ready';
}, (e) => {
	/** @type {HTMLElement} */ (document.getElementById('state')).textContent = `error: ${e}`;
});
