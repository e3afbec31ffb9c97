// core.mjs - loads the tenfour core (tenfour.wasm, the C core built for
// wasm32-wasi as a reactor) in Node or a browser and calls its JSON API.
//
//   import { loadCore } from './core.mjs';
//   const core = await loadCore('build/wasm/tenfour.wasm');
//   core.call('uuid.v7', { now: Date.now(), random: '00112233445566778899' });
//
// Methods and their inputs: include/tenfour/api.h and tests/vectors/README.md.
//
// The core is sans-I/O: it never reads a clock, a random source, a file or a
// socket; time and random bytes are members of the input.  The WASI imports
// given here prove it: the only ones that work are fd_write (stderr, for an
// assertion message), fd_close/fd_seek (which stdio links in) and
// proc_exit; clock_time_get, random_get and every other import throw.
//
// No dependencies; plain ES module; works in Node >= 18 and in browsers.

/**
 * An error document of the core: {"error":{code, message, where?, offset?,
 * line?, col?}}.
 */
export class TenfourError extends Error {
	/**
	 * @param {{code: string, message: string, where?: string,
	 *          offset?: number, line?: number, col?: number}} e
	 * @param {string} method
	 */
	constructor(e, method) {
		super(`${method}: ${e.message}`);
		this.name = 'TenfourError';
		/** @type {string} wire code, e.g. "clock_skew" */
		this.code = e.code;
		/** @type {string|undefined} */
		this.where = e.where;
		/** @type {number|undefined} */
		this.offset = e.offset;
		/** @type {number|undefined} */
		this.line = e.line;
		/** @type {number|undefined} */
		this.col = e.col;
		/** @type {string} */
		this.method = method;
	}
}

/**
 * @typedef {object} TenfourCore
 * @property {(method: string, input?: unknown) => any} call
 *   Calls a method; `input` is an object (sent as JSON), a string (its
 *   exact UTF-8 bytes) or a Uint8Array (exact bytes).  Returns the parsed
 *   "ok" result; throws TenfourError for an error document.
 * @property {(method: string, input?: unknown) => {rc: number, bytes: Uint8Array}} callBytes
 *   The same, returning the exact output bytes and the return code
 *   (0 or the negative TF_E* code) without parsing.
 * @property {() => void} reset  Drops the loaded schema and every replica.
 * @property {string[]} imports  The WASI functions the module imports.
 * @property {WebAssembly.Instance} instance
 */

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** WASI errno values used by the shim. */
const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_SPIPE = 70;

/** Imports the core may use; everything else is a sans-I/O violation. */
const ALLOWED = new Set(['fd_write', 'fd_close', 'fd_seek', 'proc_exit']);

/**
 * The wasi_snapshot_preview1 import object for `module`: every function it
 * imports gets an implementation, the forbidden ones one that throws.
 * @param {WebAssembly.Module} module
 * @param {() => WebAssembly.Memory} memory
 * @param {(text: string) => void} log
 */
function wasiImports(module, memory, log) {
	/** @type {Record<string, Function>} */
	const fns = {
		/**
		 * @param {number} fd @param {number} iovs @param {number} n
		 * @param {number} nwritten
		 */
		fd_write(fd, iovs, n, nwritten) {
			if (fd !== 1 && fd !== 2) return ERRNO_BADF;
			const view = new DataView(memory().buffer);
			let total = 0;
			let text = '';
			for (let i = 0; i < n; i++) {
				const ptr = view.getUint32(iovs + 8 * i, true);
				const len = view.getUint32(iovs + 8 * i + 4, true);
				text += new TextDecoder().decode(
					new Uint8Array(memory().buffer, ptr, len));
				total += len;
			}
			log(text);
			view.setUint32(nwritten, total, true);
			return ERRNO_SUCCESS;
		},
		fd_close() {
			return ERRNO_SUCCESS;
		},
		fd_seek() {
			return ERRNO_SPIPE;
		},
		/** @param {number} code */
		proc_exit(code) {
			throw new Error(`tenfour core exited (code ${code}): an ` +
				'assertion failed or it aborted; see stderr');
		},
	};
	/** @type {Record<string, Function>} */
	const wasi = {};
	for (const imp of WebAssembly.Module.imports(module)) {
		if (imp.module !== 'wasi_snapshot_preview1' || imp.kind !== 'function')
			throw new Error(`tenfour.wasm imports ${imp.module}.${imp.name}`);
		wasi[imp.name] = ALLOWED.has(imp.name) ? fns[imp.name] : () => {
			throw new Error(`sans-I/O violation: the core called ${imp.name}`);
		};
	}
	return wasi;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/**
 * Compiles `source`: a path or URL (string or URL), bytes, a Response or a
 * compiled module.  Browsers stream-compile URLs.
 * @param {string|URL|ArrayBuffer|Uint8Array|Response|WebAssembly.Module} source
 * @returns {Promise<WebAssembly.Module>}
 */
async function compile(source) {
	if (source instanceof WebAssembly.Module) return source;
	if (source instanceof ArrayBuffer || ArrayBuffer.isView(source))
		return WebAssembly.compile(/** @type {BufferSource} */ (source));
	if (typeof Response !== 'undefined' && source instanceof Response)
		return WebAssembly.compileStreaming(source);
	if (isNode) {
		const { readFile } = await import('node:fs/promises');
		const s = String(source);
		const bytes = await readFile(s.startsWith('file:') ? new URL(s) : s);
		return WebAssembly.compile(bytes);
	}
	return WebAssembly.compileStreaming(fetch(String(source)));
}

/**
 * Loads the core.
 * @param {string|URL|ArrayBuffer|Uint8Array|Response|WebAssembly.Module} source
 * @param {{log?: (text: string) => void}} [opts] where core stderr goes
 * @returns {Promise<TenfourCore>}
 */
export async function loadCore(source, opts = {}) {
	const module = await compile(source);
	const log = opts.log ?? ((t) => console.error(t.replace(/\n$/, '')));
	/** @type {WebAssembly.Memory|undefined} */
	let mem;
	const memory = () => /** @type {WebAssembly.Memory} */ (mem);
	const instance = await WebAssembly.instantiate(module, {
		wasi_snapshot_preview1: wasiImports(module, memory, log),
	});
	const ex = /** @type {any} */ (instance.exports);
	mem = ex.memory;
	if (typeof ex._initialize === 'function') ex._initialize();

	// One scratch buffer in wasm memory holds the method name and the
	// input of a call (grown as needed, never shrunk): no allocation per
	// call, strings encoded straight into it.
	let scratch = 0;
	let scratchCap = 0;
	/** @param {number} n */
	const ensure = (n) => {
		if (n <= scratchCap) return;
		const cap = Math.max(n, 2 * scratchCap, 4096);
		const p = ex.tf_wasm_alloc(cap) >>> 0;
		if (p === 0) throw new Error('tenfour core: out of memory');
		if (scratch) ex.tf_wasm_free(scratch);
		scratch = p;
		scratchCap = cap;
	};

	/**
	 * Writes method and input into the scratch buffer; returns the input
	 * length (the method starts at scratch, the input after it).
	 * @param {string} method @param {unknown} input
	 */
	const put = (method, input) => {
		const text = input instanceof Uint8Array ? null
			: typeof input === 'string' ? input : JSON.stringify(input ?? {});
		const max = method.length * 3 + (text === null
			? /** @type {Uint8Array} */ (input).length : text.length * 3);
		ensure(max);
		const mem8 = new Uint8Array(memory().buffer, scratch, scratchCap);
		const ml = enc.encodeInto(method, mem8).written;
		let il;
		if (text === null) {
			mem8.set(/** @type {Uint8Array} */ (input), ml);
			il = /** @type {Uint8Array} */ (input).length;
		} else {
			il = enc.encodeInto(text, mem8.subarray(ml)).written;
		}
		return { ml, il };
	};

	/**
	 * Calls; the output stays in wasm memory until the next call.
	 * @param {string} method @param {unknown} input
	 */
	const raw = (method, input) => {
		const { ml, il } = put(method, input);
		const rc = ex.tf_wasm_call(scratch, ml, scratch + ml, il);
		const ptr = ex.tf_wasm_out_ptr() >>> 0;
		const len = ex.tf_wasm_out_len() >>> 0;
		return { rc, view: new Uint8Array(memory().buffer, ptr, len) };
	};

	/** @param {string} method @param {unknown} input */
	const callBytes = (method, input) => {
		const { rc, view } = raw(method, input);
		return { rc, bytes: view.slice() };
	};

	/** @param {string} method @param {unknown} input */
	const call = (method, input) => {
		const doc = JSON.parse(dec.decode(raw(method, input).view));
		if (doc.error) throw new TenfourError(doc.error, method);
		return doc.ok;
	};

	return {
		call,
		callBytes,
		reset: () => {
			// tf_wasm_reset frees the api handle, not the scratch buffer.
			ex.tf_wasm_reset();
		},
		imports: WebAssembly.Module.imports(module).map((i) => i.name),
		instance,
	};
}
