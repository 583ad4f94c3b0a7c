// SPDX-License-Identifier: MIT
// lw-control's JetStream API with the real nats.js client (npm "nats",
// pinned in package.json) through lwd's gateway: jetstreamManager (account
// info), stream add / info / getMessage, publish with PubAck, msgID dedup
// and expectations, pull consumer fetch + ack, redelivery after ack_wait,
// max_deliver, work-queue retention, replay from a sequence and a time.
//
// Pull consumers through both nats.js APIs: the older js.fetch() / js.pull()
// and the consumers API (js.consumers.get() then fetch / next / consume,
// ordered consumers), which tells status messages from stored ones by
// "subject == inbox": lw-control delivers under the stored subject.
//
// run_nats_js.sh starts a private lwd + lw-control and sets NATS_URL.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { StringCodec, AckPolicy, DeliverPolicy, RetentionPolicy, ReplayPolicy, nanos,
	consumerOpts, createInbox, headers } = require('nats');

const { setup } = require('./lib_env');
const sc = StringCodec();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function fetchAll(js, stream, durable, batch, expires = 1000) {
	const got = [];

	for await (const m of js.fetch(stream, durable, { batch, expires }))
		got.push(m);
	return got;
}

test('streams: add, publish with PubAck, dedup, expectations, info, get', async (t) => {
	const { nc, jsm, js } = await setup(t, 'ORD');

	// INFO says JetStream is there, as nats-server's does when enabled.
	assert.equal(nc.info.jetstream, true);
	const ai = await jsm.getAccountInfo();
	assert.ok(ai.streams >= 1);
	for (let i = 1; i <= 3; i++) {
		const pa = await js.publish('ord.new', sc.encode(`o${i}`));

		assert.equal(pa.stream, 'ORD');
		assert.equal(pa.seq, i);
		assert.equal(pa.duplicate, false);
	}
	const d1 = await js.publish('ord.new', sc.encode('once'), { msgID: 'm-1' });
	const d2 = await js.publish('ord.new', sc.encode('once'), { msgID: 'm-1' });
	assert.equal(d1.seq, 4);
	assert.equal(d2.seq, 4);
	assert.equal(d2.duplicate, true);
	await assert.rejects(js.publish('ord.new', sc.encode('x'), { expect: { lastSequence: 1 } }),
		/wrong last sequence: 4/);
	const si = await jsm.streams.info('ORD');
	assert.equal(si.state.messages, 4);
	assert.equal(si.state.last_seq, 4);
	assert.deepEqual(si.config.subjects, ['ord.>']);
	const sm = await jsm.streams.getMessage('ORD', { seq: 2 });
	assert.equal(sm.subject, 'ord.new');
	assert.equal(sc.decode(sm.data), 'o2');
	const last = await jsm.streams.getMessage('ORD', { last_by_subj: 'ord.new' });
	assert.equal(last.seq, 4);
	await assert.rejects(jsm.streams.info('NOPE'), /stream not found/);
});

test('pull consumer: fetch + ack, redelivery after ack_wait, max_deliver', async (t) => {
	const { jsm, js } = await setup(t, 'JOBS');

	for (let i = 1; i <= 5; i++)
		await js.publish('jobs.a', sc.encode(`j${i}`));
	await jsm.consumers.add('JOBS', {
		durable_name: 'w', ack_policy: AckPolicy.Explicit, ack_wait: nanos(300),
		max_deliver: 2,
	});
	let got = await fetchAll(js, 'JOBS', 'w', 3);

	assert.deepEqual(got.map((m) => sc.decode(m.data)), ['j1', 'j2', 'j3']);
	assert.equal(got[0].seq, 1);
	assert.equal(got[0].info.stream, 'JOBS');
	got.forEach((m) => m.ack());
	got = await fetchAll(js, 'JOBS', 'w', 2);
	assert.equal(got.length, 2);
	await got[0].ackAck();               // j4 acked, j5 left to time out
	await sleep(450);
	got = [await js.pull('JOBS', 'w')];
	assert.equal(sc.decode(got[0].data), 'j5');
	assert.equal(got[0].info.redeliveryCount, 2);
	assert.equal(got[0].redelivered, true);
	await sleep(450);                    // max_deliver 2: not delivered again
	got = await fetchAll(js, 'JOBS', 'w', 1, 600);
	assert.equal(got.length, 0);
	const ci = await jsm.consumers.info('JOBS', 'w');
	assert.equal(ci.num_ack_pending, 0);
	assert.equal(ci.delivered.stream_seq, 5);
});

test('work-queue retention: acked messages leave the stream', async (t) => {
	const { jsm, js } = await setup(t, 'WQJ', { retention: RetentionPolicy.Workqueue });

	for (let i = 0; i < 4; i++)
		await js.publish('wqj.t', sc.encode('t'));
	await jsm.consumers.add('WQJ', { durable_name: 'q', ack_policy: AckPolicy.Explicit });
	const got = await fetchAll(js, 'WQJ', 'q', 3);

	assert.equal(got.length, 3);
	for (const m of got)
		await m.ackAck();
	const si = await jsm.streams.info('WQJ');
	assert.equal(si.state.messages, 1);
});

// RFC 3339 with nanoseconds from a BigInt count of ns since the epoch.
function isoNanos(n) {
	const secs = new Date(Number(n / 1000000000n) * 1000).toISOString().replace(/\.\d+Z$/, '');

	return `${secs}.${(n % 1000000000n).toString().padStart(9, '0')}Z`;
}

test('replay from a sequence and from a time', async (t) => {
	const { jsm, js } = await setup(t, 'RP');

	for (let i = 1; i <= 4; i++)
		await js.publish('rp.x', sc.encode(`old${i}`));
	await sleep(20);
	await js.publish('rp.x', sc.encode('new5'));
	await jsm.consumers.add('RP', {
		durable_name: 's3', ack_policy: AckPolicy.None,
		deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 3,
	});
	let got = await fetchAll(js, 'RP', 's3', 10, 1000);
	assert.deepEqual(got.map((m) => m.seq), [3, 4, 5]);
	// The server's stored times (its clock, not ours) of messages 4 and 5,
	// from the ack subject as BigInt (info.timestampNanos is a Number and
	// loses the last bits).
	const tsOf = (m) => BigInt(m.reply.split('.')[7]);
	const ts4 = tsOf(got[1]), ts5 = tsOf(got[2]);
	assert.ok(ts5 >= ts4);
	await jsm.consumers.add('RP', {
		durable_name: 'tm', ack_policy: AckPolicy.None,
		deliver_policy: DeliverPolicy.StartTime, opt_start_time: isoNanos(ts5),
	});
	got = await fetchAll(js, 'RP', 'tm', 10, 1000);
	assert.deepEqual(got.map((m) => sc.decode(m.data)), ts4 === ts5 ? ['old4', 'new5'] : ['new5']);
});

test('consumers API: fetch, next, consume, ordered consumer, stored subjects', async (t) => {
	const { jsm, js } = await setup(t, 'CAPI');

	for (let i = 1; i <= 10; i++)
		await js.publish(i % 2 ? 'capi.odd' : 'capi.even', sc.encode(`c${i}`));
	await jsm.consumers.add('CAPI', { durable_name: 'd', ack_policy: AckPolicy.Explicit });
	const c = await js.consumers.get('CAPI', 'd');
	const got = [];

	for await (const m of await c.fetch({ max_messages: 4, expires: 1000 })) {
		got.push(m);
		m.ack();
	}
	assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4]);
	assert.deepEqual(got.map((m) => m.subject), ['capi.odd', 'capi.even', 'capi.odd', 'capi.even']);
	const one = await c.next({ expires: 1000 });
	assert.equal(one.seq, 5);
	assert.equal(sc.decode(one.data), 'c5');
	await one.ackAck();
	const seen = [];
	const msgs = await c.consume({ max_messages: 3 });

	for await (const m of msgs) {
		seen.push(m.seq);
		m.ack();
		if (seen.length === 5)
			break;
	}
	assert.deepEqual(seen, [6, 7, 8, 9, 10]);
	// nothing left: next() answers null once its expiry passes, no error
	assert.equal(await c.next({ expires: 1000 }), null);
	const oc = await js.consumers.get('CAPI');
	const all = [];

	for await (const m of await oc.fetch({ max_messages: 20, expires: 1000 }))
		all.push(m.seq);
	assert.deepEqual(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
	const ci = await c.info();
	assert.equal(ci.num_pending, 0);
	assert.equal(ci.num_ack_pending, 0);
	assert.equal(ci.delivered.stream_seq, 10);
	// headers_only: no payload, its size in Nats-Msg-Size, headers kept.
	const h = headers();
	h.set('X-Kind', 'big');
	await js.publish('capi.odd', sc.encode('nine bytes'), { headers: h });
	await jsm.consumers.add('CAPI', { durable_name: 'ho', ack_policy: AckPolicy.None,
		headers_only: true, deliver_policy: DeliverPolicy.Last });
	const ho = await (await js.consumers.get('CAPI', 'ho')).next({ expires: 1000 });
	assert.equal(ho.data.length, 0);
	assert.equal(ho.headers.get('Nats-Msg-Size'), '10');
	assert.equal(ho.headers.get('X-Kind'), 'big');
});

test('fetch with max_bytes: what fits, then 409 with the pending counts (no wait for expiry)', async (t) => {
	const { jsm, js } = await setup(t, 'MBY');

	for (let i = 0; i < 5; i++)
		await js.publish('mby.a', new Uint8Array(100));
	await jsm.consumers.add('MBY', { durable_name: 'c', ack_policy: AckPolicy.Explicit });
	const c = await js.consumers.get('MBY', 'c');
	const t0 = Date.now();
	let n = 0;

	// max_bytes counts subject, ack reply subject, headers and data, as
	// nats-server's: 100 B payloads take ~150 B each.
	for await (const m of await c.fetch({ max_bytes: 350, expires: 5000 })) {
		n++;
		m.ack();
	}
	assert.equal(n, 2);
	assert.ok(Date.now() - t0 < 2500, `fetch took ${Date.now() - t0} ms`);
	// A message larger than the whole request: nothing, and it stays.
	n = 0;
	for await (const m of await c.fetch({ max_bytes: 50, expires: 5000 }))
		n++;
	assert.equal(n, 0);
	assert.ok(Date.now() - t0 < 5000);
	assert.equal((await c.info()).num_pending, 3);
});

test('push consumer with flow control and idle heartbeats (4 MiB, past the window)', async (t) => {
	const { jsm, js } = await setup(t, 'PSH');
	const big = new Uint8Array(4096);
	const acks = [];

	for (let i = 0; i < 1000; i++)
		acks.push(js.publish('psh.a', big));
	await Promise.all(acks);
	const opts = consumerOpts();

	opts.flowControl();
	opts.idleHeartbeat(500);
	opts.deliverTo(createInbox());
	opts.ackExplicit();
	opts.durable('pd');
	const sub = await js.subscribe('psh.a', opts);
	let n = 0;

	for await (const m of sub) {
		assert.equal(m.subject, 'psh.a');
		assert.equal(m.seq, n + 1);
		m.ack();
		if (++n === 1000)
			break;
	}
	const ci = await jsm.consumers.info('PSH', 'pd');
	assert.equal(ci.config.flow_control, true);
	assert.equal(ci.config.idle_heartbeat, 500000000);
	assert.equal(ci.delivered.stream_seq, 1000);
});

test('KV bucket (max_msgs_per_subject, allow_direct) and DIRECT.GET', async (t) => {
	const { nc } = await setup(t, 'KVHOST');
	const js = nc.jetstream();
	const jsm = await nc.jetstreamManager();
	const kv = await js.views.kv('cfg', { history: 2 });

	await kv.put('a.b', sc.encode('one'));
	await kv.put('a.b', sc.encode('two'));
	await kv.put('a.b', sc.encode('three'));
	await kv.put('c', sc.encode('see'));
	const e = await kv.get('a.b');
	assert.equal(sc.decode(e.value), 'three');
	assert.equal(e.revision, 3);
	assert.equal(await kv.get('nope'), null);
	await kv.delete('c');
	assert.equal((await kv.get('c')).operation, 'DEL');
	const hist = [];
	for await (const x of await kv.history({ key: 'a.b' }))
		hist.push(sc.decode(x.value));
	assert.deepEqual(hist, ['two', 'three']);   // history 2: the oldest went
	const st = await kv.status();
	assert.equal(st.streamInfo.config.allow_direct, true);
	const m = await jsm.direct.getMessage('KV_cfg', { last_by_subj: '$KV.cfg.a.b' });
	assert.equal(m.subject, '$KV.cfg.a.b');
	assert.equal(m.seq, 3);
	assert.equal(m.stream, 'KV_cfg');
	assert.equal(sc.decode(m.data), 'three');
	const bySeq = await jsm.direct.getMessage('KV_cfg', { seq: 2 });
	assert.equal(sc.decode(bySeq.data), 'two');
	await assert.rejects(jsm.direct.getMessage('KV_cfg', { seq: 99 }), /message not found/);
	// A watcher (an ordered push consumer, last value per key) sees the
	// current value, then a new one put right after it started: delivery
	// waits until its subscription exists, as with nats-server.
	const w = await kv.watch({ key: 'a.b' });
	await kv.put('a.b', sc.encode('four'));
	const seen = [];
	for await (const e of w) {
		seen.push(sc.decode(e.value));
		if (seen.length === 2)
			break;
	}
	assert.deepEqual(seen, ['three', 'four']);
});

test('consumers with wildcard filters (the filter travels in the API subject)', async (t) => {
	const { jsm, js } = await setup(t, 'WF');

	await js.publish('wf.eu.new', sc.encode('1'));
	await js.publish('wf.us.new', sc.encode('2'));
	await js.publish('wf.eu.old', sc.encode('3'));
	// nats.js sends $JS.API.CONSUMER.CREATE.WF.<name>.wf.*.new: '*' and
	// '>' in a publish subject are plain tokens, as with nats-server.
	const ci = await jsm.consumers.add('WF', {
		durable_name: 'news', ack_policy: AckPolicy.Explicit, filter_subject: 'wf.*.new',
	});
	assert.equal(ci.config.filter_subject, 'wf.*.new');
	assert.equal(ci.num_pending, 2);
	const all = await jsm.consumers.add('WF', {
		durable_name: 'all', ack_policy: AckPolicy.Explicit, filter_subject: 'wf.>',
	});
	assert.equal(all.num_pending, 3);
	const up = await jsm.consumers.update('WF', 'news', { description: 'new orders', max_deliver: 4 });
	assert.equal(up.config.description, 'new orders');
	assert.equal(up.config.filter_subject, 'wf.*.new');
	const c = await js.consumers.get('WF', 'news');
	const got = [];
	for await (const m of await c.fetch({ max_messages: 5, expires: 1000 })) {
		got.push(m.subject);
		m.ack();
	}
	assert.deepEqual(got, ['wf.eu.new', 'wf.us.new']);
	// Ordered consumers (and so KV watchers of "key.>") name themselves
	// and send their filter the same way.
	const oc = await js.consumers.get('WF', { filterSubjects: ['wf.eu.>'] });
	const seen = [];
	for await (const m of await oc.fetch({ max_messages: 5, expires: 1000 }))
		seen.push(m.subject);
	assert.deepEqual(seen, ['wf.eu.new', 'wf.eu.old']);
});

test('KV purge rolls a key up (Nats-Rollup), create and update check revisions', async (t) => {
	const { nc } = await setup(t, 'NOROLL');
	const js = nc.jetstream();
	const jsm = await nc.jetstreamManager();
	const kv = await js.views.kv('roll', { history: 5 });

	assert.equal(await kv.create('k', sc.encode('v1')), 1);
	await assert.rejects(kv.create('k', sc.encode('again')), /wrong last sequence/);
	assert.equal(await kv.update('k', sc.encode('v2'), 1), 2);
	await assert.rejects(kv.update('k', sc.encode('stale'), 1), /wrong last sequence/);
	await kv.put('k', sc.encode('v3'));
	await kv.put('other', sc.encode('stays'));
	await kv.purge('k');
	// The purge marker replaced the key's whole history; other keys stay.
	const hist = [];
	for await (const x of await kv.history({ key: 'k' }))
		hist.push(x.operation);
	assert.deepEqual(hist, ['PURGE']);
	assert.equal(sc.decode((await kv.get('other')).value), 'stays');
	const si = await jsm.streams.info('KV_roll');
	assert.equal(si.state.messages, 2);
	// After a purge the key can be created again.
	assert.ok(await kv.create('k', sc.encode('new')) > 0);
	// A stream that does not allow rollups refuses the header.
	const h = headers();
	h.set('Nats-Rollup', 'sub');
	await assert.rejects(js.publish('noroll.a', sc.encode('x'), { headers: h }),
		/rollup not permitted/);
	assert.equal((await jsm.streams.info('NOROLL')).state.messages, 0);
});

test('object store (chunks, rollup of the metadata): put, get, list, delete', async (t) => {
	const { nc } = await setup(t, 'OSHOST');
	const os = await nc.jetstream().views.os('files');
	const data = new Uint8Array(300000);

	for (let i = 0; i < data.length; i++)
		data[i] = i % 251;
	const info = await os.put({ name: 'blob.bin' }, new ReadableStream({
		start(c) { c.enqueue(data); c.close(); },
	}));
	assert.equal(info.size, data.length);
	assert.ok(info.chunks > 1);
	const r = await os.get('blob.bin');
	const parts = [];
	for await (const c of r.data)
		parts.push(Buffer.from(c));
	assert.ok(!(await r.error));
	assert.ok(Buffer.concat(parts).equals(Buffer.from(data)));
	await os.putBlob({ name: 'small.txt' }, sc.encode('hello'));
	assert.deepEqual((await os.list()).map((e) => e.name).sort(), ['blob.bin', 'small.txt']);
	await os.delete('small.txt');
	assert.deepEqual((await os.list()).map((e) => e.name), ['blob.bin']);
	assert.equal(await os.get('small.txt'), null);
});

test('replay_policy original keeps the stored spacing; deleting a consumer ends its pulls', async (t) => {
	const { jsm, js } = await setup(t, 'RPO');

	for (let i = 0; i < 3; i++) {
		await js.publish('rpo.a', sc.encode(`x${i}`));
		await sleep(300);
	}
	await jsm.consumers.add('RPO', {
		durable_name: 'o', ack_policy: AckPolicy.None, replay_policy: ReplayPolicy.Original,
	});
	const c = await js.consumers.get('RPO', 'o');
	const t0 = Date.now();
	const at = [];

	for await (const m of await c.fetch({ max_messages: 3, expires: 3000 })) {
		at.push(Date.now() - t0);
		if (at.length === 3)
			break;
	}
	assert.equal(at.length, 3);
	assert.ok(at[1] - at[0] >= 250, `gap ${at[1] - at[0]} ms`);
	assert.ok(at[2] - at[1] >= 250, `gap ${at[2] - at[1]} ms`);
	await assert.rejects(jsm.consumers.add('RPO', { durable_name: 'bad', replay_policy: 'later' }),
		/replay policy/);

	await jsm.consumers.add('RPO', { durable_name: 'del', ack_policy: AckPolicy.Explicit,
		deliver_policy: DeliverPolicy.New });
	const d = await js.consumers.get('RPO', 'del');
	const it = await d.fetch({ max_messages: 1, expires: 5000 });
	const started = Date.now();

	const deleted = sleep(300).then(() => jsm.consumers.delete('RPO', 'del'));

	await assert.rejects((async () => {
		for await (const m of it)
			m.ack();
	})(), /consumer deleted/);
	assert.ok(Date.now() - started < 3000);
	assert.equal(await deleted, true);
});

test('an answer over max_payload is refused with an error, not dropped (the client would time out)', async (t) => {
	const { nc, jsm } = await setup(t, 'BIGI');
	const pad = 'x'.repeat(200);
	const n = 5500; // ~210 bytes of JSON a subject: past the 1 MiB default

	for (let i = 0; i < n; i++)
		nc.publish(`bigi.${pad}.${i}`, new Uint8Array(0));
	await nc.flush();
	for (let k = 0; k < 100 && (await jsm.streams.info('BIGI')).state.messages < n; k++)
		await sleep(50);
	assert.equal((await jsm.streams.info('BIGI')).state.num_subjects, n);
	let err;

	try {
		await jsm.streams.info('BIGI', { subjects_filter: '>' });
	} catch (e) {
		err = e.api_error;
	}
	assert.ok(err, 'the info must be refused');
	assert.equal(err.err_code, 10023);
	assert.match(err.description, /max_payload/);
	// the audit shows the answer that was sent
	const audits = nc.subscribe('$JS.EVENT.ADVISORY.API', { timeout: 3000 });
	await nc.flush();
	await jsm.streams.info('BIGI', { subjects_filter: '>' }).catch(() => null);
	for await (const m of audits) {
		const a = JSON.parse(sc.decode(m.data));
		if (a.subject !== '$JS.API.STREAM.INFO.BIGI')
			continue;
		assert.equal(JSON.parse(a.response).error.err_code, 10023);
		break;
	}
	// a narrower filter still answers
	const si = await jsm.streams.info('BIGI', { subjects_filter: `bigi.${pad}.1` });
	assert.equal(Object.keys(si.state.subjects).length, 1);
});

// nats-server 2.10 settings (lwd says 2.10.0, so clients send them): each
// is done or refused, never accepted and then ignored.
test('2.10 settings: first_seq, consumer_limits, filter_subjects checks; compression refused', async (t) => {
	const { nc, js } = await setup(t, 'TEN');
	const api = async (subj, body) =>
		JSON.parse(new TextDecoder().decode((await nc.request(subj, JSON.stringify(body))).data));

	let r = await api('$JS.API.STREAM.CREATE.TENF', { name: 'TENF', subjects: ['tenf.>'],
		first_seq: 100, consumer_limits: { max_ack_pending: 10, inactive_threshold: nanos(2000) } });
	assert.equal(r.config.first_seq, 100);
	assert.equal(r.state.first_seq, 100);
	assert.deepEqual(r.config.consumer_limits, { max_ack_pending: 10, inactive_threshold: nanos(2000) });
	assert.equal((await js.publish('tenf.a', sc.encode('x'))).seq, 100);
	r = await api('$JS.API.CONSUMER.CREATE.TENF', { stream_name: 'TENF',
		config: { ack_policy: 'explicit' } });
	assert.equal(r.config.max_ack_pending, 10);
	assert.equal(r.config.inactive_threshold, nanos(2000));
	r = await api('$JS.API.STREAM.CREATE.TENC', { name: 'TENC', subjects: ['tenc.>'], compression: 's2' });
	assert.equal(r.error && r.error.err_code, 10052);
	assert.match(r.error.description, /compression/);
	r = await api('$JS.API.CONSUMER.CREATE.TEN.f1', { stream_name: 'TEN',
		config: { name: 'f1', ack_policy: 'explicit', filter_subjects: ['ten.>', 'ten.a'] } });
	assert.equal(r.error && r.error.err_code, 10138);
	r = await api('$JS.API.CONSUMER.CREATE.TEN.f2', { stream_name: 'TEN',
		config: { name: 'f2', ack_policy: 'explicit', filter_subject: 'ten.b',
			filter_subjects: ['ten.a'] } });
	assert.equal(r.error && r.error.err_code, 10136);
	r = await api('$JS.API.CONSUMER.CREATE.TEN.f3', { stream_name: 'TEN',
		config: { name: 'f3', ack_policy: 'explicit', filter_subjects: ['ten.a', 'ten.b'],
			pause_until: '2099-01-01T00:00:00Z' } });
	assert.deepEqual(r.config.filter_subjects, ['ten.a', 'ten.b']);
	assert.equal(r.config.pause_until, undefined);
	// pausing is 2.11's: a clear refusal, not a 503 that reads as "JetStream not enabled"
	r = await api('$JS.API.CONSUMER.PAUSE.TEN.f3', { pause_until: '2099-01-01T00:00:00Z' });
	assert.equal(r.error && r.error.err_code, 10003);
	assert.match(r.error.description, /not supported/);
});
