// spark-md5.mjs - the CommonJS package spark-md5 (bench/js/node_modules/spark-md5/spark-md5.js)
// as an ES module for pouchdb-browser in the benchmark page.
import { requireCjs } from './cjs.mjs';

export default await requireCjs('/bench/js/node_modules/spark-md5/spark-md5.js');
