// SPDX-License-Identifier: MIT
// Shared by the lw-control nats.js tests: the server URL that
// run_nats_js.sh passes, and a connection with one stream made for a test
// (closed when the test ends).
'use strict';

const { connect } = require('nats');

const URL = process.env.NATS_URL;

if (!URL)
	throw new Error('NATS_URL must be set (run tests/control/run_nats_js.sh)');

async function setup(t, stream, cfg = {}) {
	const nc = await connect({ servers: URL, reconnect: false, timeout: 3000 });

	t.after(() => nc.close());
	const jsm = await nc.jetstreamManager();
	await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`], ...cfg });
	return { nc, jsm, js: nc.jetstream() };
}

module.exports = { URL, setup };
