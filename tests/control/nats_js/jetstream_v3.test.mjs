// SPDX-License-Identifier: MIT
// lw-control with the nats.js 3.x packages (@nats-io/transport-node,
// @nats-io/jetstream, @nats-io/kv; pinned in package.json) through lwd's
// gateway: PubAck, consumers API (fetch, next, consume, ordered), KV
// (put, get, history, watch from the current value) and direct get.
//
// run_nats_js.sh starts a private lwd + lw-control and sets NATS_URL.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';

const URL = process.env.NATS_URL;

if (!URL)
	throw new Error('NATS_URL must be set (run tests/control/run_nats_js.sh)');

test('nats.js 3.x: publish, consumers API, ordered consumer', async (t) => {
	const nc = await connect({ servers: URL, reconnect: false, timeout: 3000 });

	t.after(() => nc.close());
	const jsm = await jetstreamManager(nc);
	await jsm.streams.add({ name: 'V3', subjects: ['v3.>'] });
	const js = jetstream(nc);

	for (let i = 1; i <= 6; i++) {
		const pa = await js.publish(`v3.${i % 2 ? 'odd' : 'even'}`, `m${i}`);

		assert.equal(pa.stream, 'V3');
		assert.equal(pa.seq, i);
	}
	await jsm.consumers.add('V3', { durable_name: 'c', ack_policy: AckPolicy.Explicit });
	const c = await js.consumers.get('V3', 'c');
	const got = [];

	for await (const m of await c.fetch({ max_messages: 3, expires: 1000 })) {
		got.push([m.seq, m.subject, m.string()]);
		m.ack();
	}
	assert.deepEqual(got, [[1, 'v3.odd', 'm1'], [2, 'v3.even', 'm2'], [3, 'v3.odd', 'm3']]);
	const one = await c.next({ expires: 1000 });
	assert.equal(one.seq, 4);
	assert.equal(await one.ackAck(), true);
	const rest = [];
	const it = await c.consume({ max_messages: 10 });

	for await (const m of it) {
		rest.push(m.seq);
		m.ack();
		if (m.seq === 6)
			break;
	}
	assert.deepEqual(rest, [5, 6]);
	const oc = await js.consumers.get('V3');
	const all = [];

	for await (const m of await oc.fetch({ max_messages: 6, expires: 1000 }))
		all.push(m.seq);
	assert.deepEqual(all, [1, 2, 3, 4, 5, 6]);
	const ci = await c.info();
	assert.equal(ci.num_pending, 0);
	assert.equal(ci.num_ack_pending, 0);
});

test('nats.js 3.x: KV put, get, history, watch, direct get', async (t) => {
	const nc = await connect({ servers: URL, reconnect: false, timeout: 3000 });

	t.after(() => nc.close());
	const kv = await new Kvm(nc).create('v3bucket', { history: 3 });

	assert.equal(await kv.put('k1', 'v1'), 1);
	await kv.put('k2', 'x');
	assert.equal((await kv.get('k1')).string(), 'v1');
	assert.equal(await kv.get('missing'), null);
	const w = await kv.watch({ key: 'k1' });
	await kv.put('k1', 'v2');
	const seen = [];

	for await (const e of w) {
		seen.push(e.string());
		if (seen.length === 2)
			break;
	}
	assert.deepEqual(seen, ['v1', 'v2']);
	const h = [];

	for await (const e of await kv.history({ key: 'k1' }))
		h.push(e.string());
	assert.deepEqual(h, ['v1', 'v2']);
	const jsm = await jetstreamManager(nc);
	const m = await jsm.direct.getMessage('KV_v3bucket', { last_by_subj: '$KV.v3bucket.k1' });
	assert.equal(m.string(), 'v2');
	assert.equal(m.seq, 3);
});
