// SPDX-License-Identifier: MIT
// Where lw-control must answer as nats-server does, found by running the
// same nats.js scripts against both (nats-server 2.9/2.10 semantics):
// work-queue partitions, +TERM and retention, pending acks of purged or
// deleted messages, num_redelivered, sealed streams, interest retention
// without consumers, the consumer's limits on pull requests, and config
// checks. Each test states the nats-server behaviour it holds us to.
//
// run_nats_js.sh starts a private lwd + lw-control and sets NATS_URL.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { AckPolicy, RetentionPolicy, DeliverPolicy, nanos, createInbox } = require('nats');

const { setup } = require('./lib_env');

async function seqs(js, stream, durable, batch) {
	const got = [];

	for await (const m of js.fetch(stream, durable, { batch, expires: 500 }))
		got.push(m);
	return got;
}

// The API error a call is refused with.
async function refused(p) {
	try {
		await p;
	} catch (e) {
		return e.api_error || { description: e.message };
	}
	assert.fail('expected the call to be refused');
}

test('work queue: one consumer per part of the stream (10099, 10100)', async (t) => {
	const { jsm } = await setup(t, 'WQP', { retention: RetentionPolicy.Workqueue });

	await jsm.consumers.add('WQP', { durable_name: 'a', ack_policy: AckPolicy.Explicit,
		filter_subject: 'wqp.a.>' });
	let e = await refused(jsm.consumers.add('WQP', { durable_name: 'all',
		ack_policy: AckPolicy.Explicit }));
	assert.equal(e.err_code, 10099);
	e = await refused(jsm.consumers.add('WQP', { durable_name: 'a2',
		ack_policy: AckPolicy.Explicit, filter_subject: 'wqp.a.x' }));
	assert.equal(e.err_code, 10100);
	// a part nobody takes is fine; the same consumer again too
	await jsm.consumers.add('WQP', { durable_name: 'b', ack_policy: AckPolicy.Explicit,
		filter_subject: 'wqp.b.>' });
	await jsm.consumers.add('WQP', { durable_name: 'a', ack_policy: AckPolicy.Explicit,
		filter_subject: 'wqp.a.>' });
});

test('+TERM lets a work-queue message go, as an ack does', async (t) => {
	const { jsm, js } = await setup(t, 'WQT', { retention: RetentionPolicy.Workqueue });

	for (let i = 0; i < 3; i++)
		await js.publish('wqt.x', new Uint8Array(1));
	await jsm.consumers.add('WQT', { durable_name: 'w', ack_policy: AckPolicy.Explicit });
	const got = await seqs(js, 'WQT', 'w', 3);

	assert.equal(got.length, 3);
	got[0].term();
	await got[1].ackAck();
	await got[0].ackAck().catch(() => {}); // flushes the term before the info
	const si = await jsm.streams.info('WQT');

	assert.equal(si.state.messages, 1);
	assert.equal(si.state.first_seq, 3);
});

test('interest retention: kept only while a consumer is to take it', async (t) => {
	const { jsm, js } = await setup(t, 'INT', { retention: RetentionPolicy.Interest });

	// nobody interested: acknowledged with its sequence, not kept
	assert.equal((await js.publish('int.a', new Uint8Array(1))).seq, 1);
	assert.equal((await jsm.streams.info('INT')).state.messages, 0);
	await jsm.consumers.add('INT', { durable_name: 'c', ack_policy: AckPolicy.Explicit });
	await js.publish('int.a', new Uint8Array(1));
	await js.publish('int.a', new Uint8Array(1));
	assert.equal((await jsm.streams.info('INT')).state.messages, 2);
	// +TERM is as final as an ack for interest too
	const got = await seqs(js, 'INT', 'c', 1);

	got[0].term();
	await new Promise((r) => setTimeout(r, 100));
	assert.equal((await jsm.streams.info('INT')).state.messages, 1);
	// the last consumer gone: nothing is of interest any more
	await jsm.consumers.delete('INT', 'c');
	assert.equal((await jsm.streams.info('INT')).state.messages, 0);
});

test('a purge or a delete releases the acks pending on what it removed', async (t) => {
	const { jsm, js } = await setup(t, 'PPA');

	for (let i = 0; i < 4; i++)
		await js.publish('ppa.x', new Uint8Array(1));
	await jsm.consumers.add('PPA', { durable_name: 'c', ack_policy: AckPolicy.Explicit,
		max_ack_pending: 2 });
	assert.equal((await seqs(js, 'PPA', 'c', 2)).length, 2);
	await jsm.streams.deleteMessage('PPA', 1);
	let ci = await jsm.consumers.info('PPA', 'c');

	assert.equal(ci.num_ack_pending, 1);
	await jsm.streams.purge('PPA');
	ci = await jsm.consumers.info('PPA', 'c');
	assert.equal(ci.num_ack_pending, 0);
	assert.equal(ci.delivered.stream_seq, 4);
	assert.equal(ci.ack_floor.stream_seq, 4);
	// not held at max_ack_pending by messages that are gone
	for (let i = 0; i < 3; i++)
		await js.publish('ppa.x', new Uint8Array(1));
	const got = await seqs(js, 'PPA', 'c', 3);

	assert.deepEqual(got.map((m) => m.seq), [5, 6]);
});

test('num_redelivered counts redelivered messages not yet acked', async (t) => {
	const { jsm, js } = await setup(t, 'RDL');

	await js.publish('rdl.x', new Uint8Array(1));
	await jsm.consumers.add('RDL', { durable_name: 'c', ack_policy: AckPolicy.Explicit });
	(await seqs(js, 'RDL', 'c', 1))[0].nak();
	const again = await seqs(js, 'RDL', 'c', 1);

	assert.equal(again[0].info.redeliveryCount, 2);
	assert.equal((await jsm.consumers.info('RDL', 'c')).num_redelivered, 1);
	await again[0].ackAck();
	assert.equal((await jsm.consumers.info('RDL', 'c')).num_redelivered, 0);
});

test('sealed streams: no purge, no delete, no unseal; not created sealed', async (t) => {
	const { jsm, js } = await setup(t, 'SEA');

	await js.publish('sea.x', new Uint8Array(1));
	let e = await refused(jsm.streams.add({ name: 'SEA2', subjects: ['sea2.>'], sealed: true }));
	assert.equal(e.err_code, 10052);
	const si = await jsm.streams.info('SEA');

	const sealed = (await jsm.streams.update('SEA', { ...si.config, sealed: true })).config;
	// what sealing means, shown in the config
	assert.equal(sealed.discard, 'new');
	assert.equal(sealed.deny_delete, true);
	assert.equal(sealed.deny_purge, true);
	e = await refused(jsm.streams.purge('SEA'));
	assert.equal(e.err_code, 10109);
	e = await refused(jsm.streams.deleteMessage('SEA', 1));
	assert.equal(e.err_code, 10109);
	e = await refused(jsm.streams.update('SEA', { ...si.config, sealed: false }));
	assert.equal(e.err_code, 10052);
	assert.equal((await jsm.streams.info('SEA')).state.messages, 1);
});

test("pull requests: the consumer's max_batch / max_expires / max_bytes, bad requests", async (t) => {
	const { nc, jsm, js } = await setup(t, 'PRL');

	for (let i = 0; i < 5; i++)
		await js.publish('prl.x', new Uint8Array(1));
	await jsm.consumers.add('PRL', { durable_name: 'c', ack_policy: AckPolicy.Explicit,
		max_batch: 2, max_expires: nanos(1000), max_bytes: 1000 });
	// A pull request from an inbox of its own, as clients send them (a
	// message comes under its stored subject, which a request muxer
	// would not route): the first thing that arrives.
	const status = async (body) => {
		const inbox = createInbox();
		const sub = nc.subscribe(inbox, { max: 1, timeout: 1000 });

		nc.publish('$JS.API.CONSUMER.MSG.NEXT.PRL.c', body, { reply: inbox });
		for await (const m of sub)
			return m.headers && m.headers.code ? `${m.headers.code} ${m.headers.description}`
				: 'message';
		return 'nothing';
	};

	assert.equal(await status(JSON.stringify({ batch: 5, expires: nanos(500) })),
		'409 Exceeded MaxRequestBatch of 2');
	assert.equal(await status(JSON.stringify({ batch: 1, expires: nanos(2000) })),
		'409 Exceeded MaxRequestExpires of 1s');
	assert.equal(await status(JSON.stringify({ batch: 1, max_bytes: 5000, expires: nanos(500) })),
		'409 Exceeded MaxRequestMaxBytes of 1000');
	assert.match(await status('{bad'), /^400 Bad Request/);
	assert.equal(await status(JSON.stringify({ batch: 1, expires: nanos(500),
		idle_heartbeat: nanos(400) })), '400 Bad Request - heartbeat value too large');
	// within the limits: served
	assert.equal(await status(JSON.stringify({ batch: 1, expires: nanos(500) })), 'message');
	// and nats.js's fetch reports the refusal
	await assert.rejects(async () => {
		for await (const m of js.fetch('PRL', 'c', { batch: 5, expires: 500 }))
			m.ack();
	}, /maxrequestbatch/i);
});

test('config checks: duplicate window beyond max_age, start sequence with deliver all, backoff without max_deliver', async (t) => {
	const { nc, jsm } = await setup(t, 'CFG');

	let e = await refused(jsm.streams.add({ name: 'CFG2', subjects: ['cfg2.>'],
		max_age: nanos(1000), duplicate_window: nanos(5000) }));
	assert.equal(e.err_code, 10052);
	// the default window shrinks to max_age instead
	const si = await jsm.streams.add({ name: 'CFG3', subjects: ['cfg3.>'], max_age: nanos(1000) });
	assert.equal(si.config.duplicate_window, nanos(1000));
	e = await refused(jsm.consumers.add('CFG', { durable_name: 'a', ack_policy: AckPolicy.Explicit,
		deliver_policy: DeliverPolicy.All, opt_start_seq: 3 }));
	assert.equal(e.err_code, 10094);
	e = await refused(jsm.consumers.add('CFG', { durable_name: 'b', ack_policy: AckPolicy.Explicit,
		backoff: [nanos(1000), nanos(2000)] }));
	assert.equal(e.err_code, 10116);
	assert.ok(nc.info.jetstream);
});

test('bytes count as nats-server counts them, so max_bytes holds the same messages', async (t) => {
	const { jsm, js } = await setup(t, 'DNB', { max_bytes: 200, discard: 'new' });

	// 30 + subject (5) + data (60)
	await js.publish('dnb.x', new Uint8Array(60));
	assert.equal((await jsm.streams.info('DNB')).state.bytes, 95);
	await js.publish('dnb.x', new Uint8Array(60));
	const e = await refused(js.publish('dnb.x', new Uint8Array(60)));
	assert.equal(e.err_code, 10077);
	assert.equal((await jsm.streams.info('DNB')).state.messages, 2);
});

test('lowering max_msgs_per_subject trims what is already stored', async (t) => {
	const { jsm, js } = await setup(t, 'MPS', { max_msgs_per_subject: 2 });

	for (const s of ['mps.a', 'mps.a', 'mps.b', 'mps.b'])
		await js.publish(s, new Uint8Array(1));
	const si = await jsm.streams.info('MPS');

	await jsm.streams.update('MPS', { ...si.config, max_msgs_per_subject: 1 });
	const after = await jsm.streams.info('MPS');

	assert.equal(after.state.messages, 2);
	assert.equal((await jsm.streams.getMessage('MPS', { last_by_subj: 'mps.a' })).seq, 2);
	assert.equal((await jsm.streams.getMessage('MPS', { last_by_subj: 'mps.b' })).seq, 4);
});

test('info details: an empty stream starts at 0, zero counts left out, last_active, ephemeral threshold, heartbeat sequences', async (t) => {
	const { nc, jsm, js } = await setup(t, 'INF');
	let si = await jsm.streams.info('INF');

	assert.equal(si.state.first_seq, 0);
	assert.equal(si.state.num_deleted, undefined);
	assert.equal(si.state.num_subjects, undefined);
	await js.publish('inf.a', new Uint8Array(1));
	si = await jsm.streams.info('INF');
	assert.equal(si.state.first_seq, 1);
	assert.equal(si.state.num_subjects, 1);
	await jsm.consumers.add('INF', { durable_name: 'd', ack_policy: AckPolicy.Explicit });
	const got = await seqs(js, 'INF', 'd', 1);

	await got[0].ackAck();
	const ci = await jsm.consumers.info('INF', 'd');

	assert.ok(Date.parse(ci.delivered.last_active) > 0);
	assert.ok(Date.parse(ci.ack_floor.last_active) > 0);
	const eph = await jsm.consumers.add('INF', { ack_policy: AckPolicy.Explicit });

	assert.equal(eph.config.inactive_threshold, nanos(5000));
	// a pull request's idle heartbeat carries the last sequences sent
	const inbox = createInbox();
	const sub = nc.subscribe(inbox, { max: 1, timeout: 2000 });

	nc.publish('$JS.API.CONSUMER.MSG.NEXT.INF.d', JSON.stringify({ batch: 1,
		expires: nanos(1000), idle_heartbeat: nanos(200) }), { reply: inbox });
	for await (const m of sub) {
		assert.equal(m.headers.code, 100);
		assert.equal(m.headers.get('Nats-Last-Consumer'), '1');
		assert.equal(m.headers.get('Nats-Last-Stream'), '1');
	}
});

test('no_wait with part of a batch ends with 408; deleting a deleted sequence is 10043, past the end 10057', async (t) => {
	const { nc, jsm, js } = await setup(t, 'NWP');

	for (let i = 0; i < 3; i++)
		await js.publish('nwp.a', new Uint8Array(1));
	await jsm.consumers.add('NWP', { durable_name: 'd', ack_policy: AckPolicy.None });
	const inbox = createInbox();
	const sub = nc.subscribe(inbox, { max: 4, timeout: 2000 });
	const seen = [];

	nc.publish('$JS.API.CONSUMER.MSG.NEXT.NWP.d', JSON.stringify({ batch: 5, no_wait: true }),
		{ reply: inbox });
	for await (const m of sub)
		seen.push(m.headers && m.headers.code ? m.headers.code : 'message');
	assert.deepEqual(seen, ['message', 'message', 'message', 408]);
	await jsm.streams.deleteMessage('NWP', 2);
	let e = await refused(jsm.streams.deleteMessage('NWP', 2));
	assert.equal(e.err_code, 10043);
	assert.equal(e.description, 'sequence 2 not found');
	e = await refused(jsm.streams.deleteMessage('NWP', 7));
	assert.equal(e.err_code, 10057);
	await jsm.streams.deleteMessage('NWP', 1);
	e = await refused(jsm.streams.deleteMessage('NWP', 1));
	assert.equal(e.err_code, 10057);
});

test('consumer names and lists come sorted by name, in pages of 1024 names / 256 infos', async (t) => {
	const { nc, jsm } = await setup(t, 'CPG');
	const names = [];

	for (let i = 299; i >= 0; i--)
		names.push(`c${String(i).padStart(3, '0')}`);
	for (const n of names)
		await jsm.consumers.add('CPG', { durable_name: n, ack_policy: AckPolicy.None });
	names.sort();
	const api = async (subj, body) =>
		JSON.parse(new TextDecoder().decode((await nc.request(subj, JSON.stringify(body))).data));
	let r = await api('$JS.API.CONSUMER.LIST.CPG', {});
	assert.equal(r.total, 300);
	assert.equal(r.limit, 256);
	assert.equal(r.consumers.length, 256);
	r = await api('$JS.API.CONSUMER.LIST.CPG', { offset: 256 });
	assert.equal(r.offset, 256);
	assert.deepEqual(r.consumers.map((c) => c.name), names.slice(256));
	r = await api('$JS.API.CONSUMER.NAMES.CPG', { offset: 10 });
	assert.equal(r.total, 300);
	assert.deepEqual(r.consumers, names.slice(10));
	// nats.js follows the pages
	const all = [];

	for await (const ci of jsm.consumers.list('CPG'))
		all.push(ci.name);
	assert.deepEqual(all.sort(), names);
});

test('direct get statuses: empty, malformed, nothing asked, two things asked', async (t) => {
	const { nc, js } = await setup(t, 'DGS', { allow_direct: true });

	await js.publish('dgs.a', new Uint8Array(1));
	const status = async (body) => {
		const m = await nc.request('$JS.API.DIRECT.GET.DGS', body, { timeout: 2000 });
		return m.headers && m.headers.code ? `${m.headers.code} ${m.headers.description}` : 'message';
	};
	assert.equal(await status(new Uint8Array(0)), '408 Empty Request');
	assert.equal(await status('nope'), '408 Malformed Request');
	assert.equal(await status('{}'), '408 Empty Request');
	assert.equal(await status(JSON.stringify({ seq: 1, last_by_subj: 'dgs.a' })), '408 Bad Request');
	assert.equal(await status(JSON.stringify({ seq: 1 })), 'message');
	assert.equal(await status(JSON.stringify({ seq: 9 })), '404 Message Not Found');
});

test('no_wait with an expiry and nothing there waits for the first messages (408 at expiry)', async (t) => {
	const { nc, jsm, js } = await setup(t, 'NWE');

	await jsm.consumers.add('NWE', { durable_name: 'd', ack_policy: AckPolicy.None });
	const pull = (expires) => {
		const inbox = createInbox();
		const sub = nc.subscribe(inbox, { timeout: 3000 });
		nc.publish('$JS.API.CONSUMER.MSG.NEXT.NWE.d',
			JSON.stringify({ batch: 5, no_wait: true, expires: expires * 1e6 }), { reply: inbox });
		return (async () => {
			const seen = [];
			const t0 = Date.now();

			for await (const m of sub) {
				seen.push(m.headers && m.headers.code ? m.headers.code : 'message');
				if (m.headers && m.headers.code)
					break;
			}
			return { seen, ms: Date.now() - t0 };
		})();
	};
	// nothing comes: no 404 at once, a 408 at the expiry
	let r = await pull(400);
	assert.deepEqual(r.seen, [408]);
	assert.ok(r.ms >= 300, `ended after ${r.ms} ms`);
	// messages come while it waits: it takes them and ends
	const p = pull(2000);
	await new Promise((res) => setTimeout(res, 200));
	await js.publish('nwe.a', new Uint8Array(1));
	await js.publish('nwe.a', new Uint8Array(1));
	r = await p;
	assert.equal(r.seen[0], 'message');
	assert.equal(r.seen[r.seen.length - 1], 408);
	assert.ok(r.ms < 1500, `ended after ${r.ms} ms`);
});

test('a durable with inactive_threshold goes once inactive that long; one without stays', async (t) => {
	const { jsm } = await setup(t, 'DIT');

	await jsm.consumers.add('DIT', { durable_name: 'brief', ack_policy: AckPolicy.Explicit,
		inactive_threshold: nanos(400) });
	await jsm.consumers.add('DIT', { durable_name: 'stays', ack_policy: AckPolicy.Explicit });
	let gone = false;

	for (let i = 0; i < 40 && !gone; i++) {
		await new Promise((r) => setTimeout(r, 100));
		const e = await jsm.consumers.info('DIT', 'brief').then(() => null, (x) => x);
		gone = e !== null && e.api_error && e.api_error.err_code === 10014;
	}
	assert.ok(gone, 'the inactive durable is still there after 4 s');
	assert.equal((await jsm.consumers.info('DIT', 'stays')).name, 'stays');
});

test('work queue without explicit ack: 10084 for a pull consumer, 10098 for a push one', async (t) => {
	const { jsm } = await setup(t, 'WQA', { retention: RetentionPolicy.Workqueue });

	let e = await refused(jsm.consumers.add('WQA', { durable_name: 'p', ack_policy: AckPolicy.None }));
	assert.equal(e.err_code, 10084);
	e = await refused(jsm.consumers.add('WQA', { durable_name: 'q', ack_policy: AckPolicy.None,
		deliver_subject: createInbox() }));
	assert.equal(e.err_code, 10098);
});

test('configs of the wrong JSON types are refused (10025); UTF-8 names are fine; wildcard deliver subjects 10079', async (t) => {
	const { nc, jsm } = await setup(t, 'TYP');
	const api = async (subj, body) =>
		JSON.parse(new TextDecoder().decode((await nc.request(subj,
			typeof body === 'string' ? body : JSON.stringify(body))).data));

	let r = await api('$JS.API.STREAM.CREATE.TY1', { name: 'TY1', subjects: ['ty1.>'], max_msgs: '100' });
	assert.equal(r.error && r.error.err_code, 10025);
	r = await api('$JS.API.STREAM.CREATE.TY2', '[1,2,3]');
	assert.equal(r.error && r.error.err_code, 10025);
	r = await api('$JS.API.STREAM.CREATE.TY3', { name: 'TY3', subjects: ['ty3.>'], max_age: 1.5 });
	assert.equal(r.error && r.error.err_code, 10025);
	r = await api('$JS.API.CONSUMER.CREATE.TYP', { stream_name: 'TYP',
		config: { ack_policy: 'explicit', max_deliver: '5' } });
	assert.equal(r.error && r.error.err_code, 10025);
	r = await api('$JS.API.CONSUMER.CREATE.TYP', { stream_name: 'TYP',
		config: { ack_policy: 'none', deliver_subject: 'out.*' } });
	assert.equal(r.error && r.error.err_code, 10079);
	const si = await jsm.streams.add({ name: 'été', subjects: ['ete.>'] });
	assert.equal(si.config.name, 'été');
	await jsm.streams.delete('été');
});

test('config floors and forms: max_age and duplicate_window >= 100ms, ephemeral create with a durable name, sample_freq, backoff sets ack_wait, purge past the end', async (t) => {
	const { nc, jsm, js } = await setup(t, 'FLR');
	const api = async (subj, body) =>
		JSON.parse(new TextDecoder().decode((await nc.request(subj, JSON.stringify(body))).data));

	// a KV TTL of 700 meant as ms is 700 ns: refused, not every value gone at once
	let e = await refused(jsm.streams.add({ name: 'FLR2', subjects: ['flr2.>'], max_age: 700 }));
	assert.equal(e.err_code, 10052);
	assert.match(e.description, /max age needs to be >= 100ms/);
	e = await refused(jsm.streams.add({ name: 'FLR3', subjects: ['flr3.>'],
		duplicate_window: nanos(50) }));
	assert.equal(e.err_code, 10052);
	assert.match(e.description, /duplicates window needs to be >= 100ms/);
	const r = await api('$JS.API.CONSUMER.CREATE.FLR', { stream_name: 'FLR',
		config: { durable_name: 'd', ack_policy: 'explicit' } });
	assert.equal(r.error && r.error.err_code, 10020);
	e = await refused(jsm.consumers.add('FLR', { durable_name: 's',
		ack_policy: AckPolicy.Explicit, sample_freq: 'abc' }));
	assert.equal(e.err_code, 10095);
	const ci = await jsm.consumers.add('FLR', { durable_name: 'b', ack_policy: AckPolicy.Explicit,
		backoff: [nanos(300), nanos(600)], max_deliver: 5 });
	assert.equal(ci.config.ack_wait, nanos(300));
	for (let i = 0; i < 3; i++)
		await js.publish('flr.x', new Uint8Array(1));
	// purging up to a sequence past the end: the next message gets it
	await jsm.streams.purge('FLR', { seq: 10 });
	const si = await jsm.streams.info('FLR');
	assert.equal(si.state.first_seq, 10);
	assert.equal(si.state.last_seq, 9);
	assert.equal((await js.publish('flr.x', new Uint8Array(1))).seq, 10);
});
