// events.mjs - the CommonJS package events (bench/js/node_modules/events/events.js)
// as an ES module for pouchdb-browser in the benchmark page.
import { requireCjs } from './cjs.mjs';

export default await requireCjs('/bench/js/node_modules/events/events.js');
