// run-vectors.mjs - runs every case of tests/vectors/*.json through the
// WebAssembly build in Node and compares the output bytes with "expect",
// as tests/core/test_vectors.c does natively (format:
// tests/vectors/README.md).  Last line: "wasm-vectors: N passed, N failed".
//
//   node tests/wasm/run-vectors.mjs build/wasm/tenfour.wasm [FILE...]
//
// Also counted: the module imports nothing but fd_write/fd_close/fd_seek/
// proc_exit (the core is sans-I/O; core.mjs makes every other WASI call
// throw, so a core that read a clock would fail its cases too).

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCore } from '../../web/sdk/core.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

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
	const fail = (what) => {
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
		i += m[0].length;
		if (m[0] === 'true') return true;
		if (m[0] === 'false') return false;
		if (m[0] === 'null') return null;
		return new Num(m[0]);
	};
	const v = value();
	ws();
	if (i !== text.length) fail('trailing data');
	return v;
}

const enc = new TextEncoder();

/** Canonical string escape (docs/PROTOCOL.md, section 1). @param {string} s */
function str(s) {
	let out = '"';
	for (const ch of s) {
		const c = ch.codePointAt(0);
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
	const keys = Object.keys(v).sort((a, b) =>
		Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
	return '{' + keys.map((k) => str(k) + ':' + canonical(v[k])).join(',') + '}';
}

const CASE_KEYS = new Set(['name', 'note', 'method', 'input', 'input_text',
	'input_hex', 'expect']);
const ALLOWED_IMPORTS = new Set(['fd_write', 'fd_close', 'fd_seek', 'proc_exit']);

const wasmPath = process.argv[2];
if (!wasmPath) {
	console.error('usage: node run-vectors.mjs tenfour.wasm [vector files]');
	process.exit(2);
}

let passed = 0;
let failed = 0;
/** @param {string} name @param {string} why */
const fail = (name, why) => {
	failed++;
	console.error(`FAIL ${name}\n  ${why}`);
};

const core = await loadCore(resolve(wasmPath));
const bad = core.imports.filter((n) => !ALLOWED_IMPORTS.has(n));
if (bad.length) fail('imports', `the core imports ${bad.join(', ')}`);
else passed++;

let files = process.argv.slice(3);
if (files.length === 0) {
	const dir = join(root, 'tests/vectors');
	files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
		.map((f) => join(dir, f));
}

for (const file of files) {
	const rel = file.startsWith(root + '/') ? file.slice(root.length + 1) : file;
	let cases;
	try {
		cases = parseExact(readFileSync(file, 'utf8'));
		if (!Array.isArray(cases)) throw new Error('not an array of cases');
	} catch (e) {
		fail(rel, `cannot read or parse: ${e.message}`);
		continue;
	}
	core.reset();
	for (const cs of cases) {
		const name = `${rel}: ${cs.name ?? '(no name)'}`;
		try {
			const unknown = Object.keys(cs).filter((k) => !CASE_KEYS.has(k));
			if (unknown.length) throw new Error(`unknown member ${unknown[0]}`);
			if (typeof cs.expect !== 'string') throw new Error('no "expect"');
			let input = new Uint8Array(0);
			if ('input' in cs) {
				const text = canonical(cs.input);
				input = enc.encode(text);
				// The runner's writer must agree with the core's, so
				// that native and wasm see the same input bytes.
				const chk = core.callBytes('json.canonicalize', input).bytes;
				if (Buffer.compare(Buffer.from(chk), Buffer.from(`{"ok":${text}}`)))
					throw new Error(`runner canonical input differs: ${text}`);
			} else if (typeof cs.input_text === 'string') {
				input = enc.encode(cs.input_text);
			} else if (typeof cs.input_hex === 'string') {
				input = Uint8Array.from(Buffer.from(cs.input_hex, 'hex'));
			}
			const { rc, bytes } = core.callBytes(cs.method, input);
			const out = Buffer.from(bytes);
			const ok = out.subarray(0, 6).toString() === '{"ok":';
			const err = out.subarray(0, 9).toString() === '{"error":';
			if (rc === 0 ? !ok : !err)
				throw new Error(`return code ${rc} disagrees with output`);
			if (Buffer.compare(out, Buffer.from(cs.expect, 'utf8')) !== 0)
				throw new Error(`output differs\n  expect: ${cs.expect}\n  got:    ${out.toString()}`);
			passed++;
		} catch (e) {
			fail(name, e.message);
		}
	}
}

console.log(`wasm-vectors: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
