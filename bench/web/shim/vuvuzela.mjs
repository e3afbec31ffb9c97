// vuvuzela.mjs - the CommonJS package vuvuzela (bench/js/node_modules/vuvuzela/index.js)
// as an ES module for pouchdb-browser in the benchmark page.
import { requireCjs } from './cjs.mjs';

export default await requireCjs('/bench/js/node_modules/vuvuzela/index.js');
