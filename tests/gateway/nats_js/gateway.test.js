// SPDX-License-Identifier: MIT
// End to end through lwd's NATS gateway with the real nats.js client
// (npm "nats", pinned in package.json): pub/sub and wildcards, queue
// groups, request/reply, headers, no responders (503), unsubscribe after
// N, messages exchanged with the shared-memory `lw` CLI, and TLS.
//
// run_nats_js.sh starts a private lwd and sets NATS_URL (its gateway),
// LW (the lw binary) and LW_DOMAIN (its domain), and a second lwd with
// TLS: NATS_TLS_URL and NATS_TLS_CA (the CA of its certificate); run it
// rather than this file alone.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { connect, StringCodec, headers, ErrorCode } = require('nats');

const URL = process.env.NATS_URL;
const LW = process.env.LW;
const sc = StringCodec();

const TLS_URL = process.env.NATS_TLS_URL;
const TLS_CA = process.env.NATS_TLS_CA;

if (!URL || !LW || !process.env.LW_DOMAIN || !TLS_URL || !TLS_CA)
	throw new Error('NATS_URL, LW, LW_DOMAIN, NATS_TLS_URL and NATS_TLS_CA must be set ' +
		'(run tests/gateway/run_nats_js.sh)');

// A connection closed when test t ends, passed or failed: an open one
// would keep node (and so the test run) alive after a failure.
async function conn(t, opts = {}) {
	// No reconnect: a gateway that drops us must fail the test, not hide.
	const nc = await connect({ servers: URL, reconnect: false, timeout: 3000, ...opts });

	t.after(() => nc.close());
	return nc;
}

// Collects up to n messages of sub, giving up after ms.
async function take(sub, n, ms = 2000) {
	const got = [];
	const timer = setTimeout(() => sub.unsubscribe(), ms);

	for await (const m of sub) {
		got.push(m);
		if (got.length === n)
			break;
	}
	clearTimeout(timer);
	return got;
}

// Waits until an lw child process prints `text` on stderr.
function ready(child, text, ms = 3000) {
	return new Promise((resolve, reject) => {
		let err = '';
		const t = setTimeout(() => reject(new Error(`lw not ready: ${err}`)), ms);

		child.stderr.on('data', (d) => {
			err += d;
			if (err.includes(text)) {
				clearTimeout(t);
				resolve();
			}
		});
	});
}

// Runs an lw command to the end; resolves with { code, stdout, stderr }.
function finished(child) {
	return new Promise((resolve) => {
		let out = '', err = '';

		child.stdout.on('data', (d) => { out += d; });
		child.stderr.on('data', (d) => { err += d; });
		child.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
	});
}

// An lw child process, killed when test t ends if it is still running.
function lw(t, args) {
	const child = spawn(LW, args, { stdio: ['ignore', 'pipe', 'pipe'] });

	t.after(() => { if (child.exitCode === null) child.kill(); });
	return child;
}

test('pub/sub with exact, * and > subscriptions', async (t) => {
	const a = await conn(t), b = await conn(t);
	const exact = b.subscribe('js.orders.new');
	const star = b.subscribe('js.orders.*');
	const full = b.subscribe('js.orders.>');

	await b.flush();
	a.publish('js.orders.new', sc.encode('n1'));
	a.publish('js.orders.eu.paid', sc.encode('p1'));
	await a.flush();
	const [e] = await take(exact, 1);
	const [s] = await take(star, 1);
	const f = await take(full, 2);

	assert.equal(e.subject, 'js.orders.new');
	assert.equal(sc.decode(e.data), 'n1');
	assert.equal(s.subject, 'js.orders.new');
	assert.deepEqual(f.map((m) => [m.subject, sc.decode(m.data)]),
		[['js.orders.new', 'n1'], ['js.orders.eu.paid', 'p1']]);
	// A binary payload with CRLF and NUL inside, and an empty one.
	const sub = b.subscribe('js.bin');
	await b.flush();
	const bin = Uint8Array.from([0x61, 0x0d, 0x0a, 0x00, 0xff]);

	a.publish('js.bin', bin);
	a.publish('js.bin');
	const got = await take(sub, 2);

	assert.deepEqual(Array.from(got[0].data), Array.from(bin));
	assert.equal(got[1].data.length, 0);
});

test('queue group: each message to one member, spread over members', async (t) => {
	const pub = await conn(t), m1 = await conn(t), m2 = await conn(t);
	const q1 = m1.subscribe('js.work.*', { queue: 'workers' });
	const q2 = m2.subscribe('js.work.*', { queue: 'workers' });
	const plain = m1.subscribe('js.work.*');
	const counts = [0, 0];
	const drain = async (sub, i) => { for await (const m of sub) { void m; counts[i]++; } };
	const done = [drain(q1, 0), drain(q2, 1)];

	await m1.flush();
	await m2.flush();
	for (let i = 0; i < 30; i++)
		pub.publish('js.work.item', sc.encode(`job ${i}`));
	await pub.flush();
	const all = await take(plain, 30);

	assert.equal(all.length, 30);
	// The plain subscription has them all; give the group the same time.
	await new Promise((r) => setTimeout(r, 200));
	q1.unsubscribe();
	q2.unsubscribe();
	await Promise.all(done);
	assert.equal(counts[0] + counts[1], 30);
	assert.ok(counts[0] > 0 && counts[1] > 0, `both members work: ${counts}`);
});

test('request/reply between two nats.js connections', async (t) => {
	const srv = await conn(t), cli = await conn(t);
	const svc = srv.subscribe('js.svc.echo', {
		callback: (err, m) => {
			if (!err)
				m.respond(sc.encode(`re:${sc.decode(m.data)}`));
		},
	});

	await srv.flush();
	for (const q of ['q1', 'q2']) {
		const r = await cli.request('js.svc.echo', sc.encode(q), { timeout: 2000 });

		assert.equal(sc.decode(r.data), `re:${q}`);
	}
	// Old-style requests (a fresh inbox per request) work too.
	const r = await cli.request('js.svc.echo', sc.encode('q3'), { timeout: 2000, noMux: true });

	assert.equal(sc.decode(r.data), 're:q3');
	svc.unsubscribe();
});

test('headers: single and repeated keys, on publish and on a reply', async (t) => {
	const a = await conn(t);
	const sub = a.subscribe('js.hdr');

	await a.flush();
	const h = headers();

	h.set('Trace-Id', 'abc123');
	h.append('Multi', 'one');
	h.append('Multi', 'two');
	a.publish('js.hdr', sc.encode('body'), { headers: h });
	const [m] = await take(sub, 1);

	assert.ok(m.headers, 'headers arrived');
	assert.equal(m.headers.get('Trace-Id'), 'abc123');
	assert.deepEqual(m.headers.values('Multi'), ['one', 'two']);
	assert.equal(sc.decode(m.data), 'body');

	const svc = a.subscribe('js.hdr.svc', {
		callback: (err, req) => {
			const rh = headers();

			rh.set('X-Answer', req.headers ? req.headers.get('X-Question') : 'none');
			req.respond(sc.encode('ok'), { headers: rh });
		},
	});
	const qh = headers();

	qh.set('X-Question', '42');
	const r = await a.request('js.hdr.svc', sc.encode('?'), { timeout: 2000, headers: qh });

	assert.equal(r.headers.get('X-Answer'), '42');
	svc.unsubscribe();
});

test('no responders: the request fails with code 503 at once', async (t) => {
	const a = await conn(t);
	const t0 = Date.now();

	await assert.rejects(a.request('js.nobody.home', sc.encode('x'), { timeout: 5000 }),
		(err) => err.code === ErrorCode.NoResponders && err.code === '503');
	assert.ok(Date.now() - t0 < 2000, 'no responders is answered, not timed out');
	// The connection is still good, also for the old-style request.
	await assert.rejects(a.request('js.nobody.home', sc.encode('x'), { timeout: 5000, noMux: true }),
		(err) => err.code === '503');
	assert.equal(a.isClosed(), false);
});

test('unsubscribe after N: {max: N} and unsubscribe(N)', async (t) => {
	const a = await conn(t);
	const s3 = a.subscribe('js.limited', { max: 3 });
	const s2 = a.subscribe('js.limited');

	s2.unsubscribe(2);
	await a.flush();
	for (let i = 1; i <= 6; i++)
		a.publish('js.limited', sc.encode(`m${i}`));
	await a.flush();
	const got3 = await take(s3, 10, 1000);
	const got2 = await take(s2, 10, 1000);

	assert.deepEqual(got3.map((m) => sc.decode(m.data)), ['m1', 'm2', 'm3']);
	assert.deepEqual(got2.map((m) => sc.decode(m.data)), ['m1', 'm2']);
	assert.equal(s3.isClosed(), true);
	assert.equal(s2.isClosed(), true);
	assert.equal(s3.getProcessed(), 3);
});

test('shared memory: lw pub reaches nats.js, nats.js reaches lw sub', async (t) => {
	const nc = await conn(t);
	const sub = nc.subscribe('js.shm.>');

	await nc.flush();
	// lw (shared-memory client) -> gateway -> nats.js, with a header
	const pub = finished(lw(t, ['pub', 'js.shm.in', 'from-lw', '-H', 'Kind:shm', '--reply', 'js.back']));
	const [m] = await take(sub, 1, 3000);

	assert.equal((await pub).code, 0);
	assert.equal(m.subject, 'js.shm.in');
	assert.equal(sc.decode(m.data), 'from-lw');
	assert.equal(m.reply, 'js.back');
	assert.equal(m.headers.get('Kind'), 'shm');

	// nats.js -> gateway -> lw sub --raw --count 1
	const child = lw(t, ['sub', 'js.to.shm', '--raw', '--count', '1', '--timeout-ms', '5000']);
	const out = finished(child);

	await ready(child, 'Subscribing on');
	nc.publish('js.to.shm', sc.encode('from-nats-js'));
	await nc.flush();
	const res = await out;

	assert.equal(res.code, 0, res.stderr);
	assert.equal(res.stdout, 'from-nats-js\n');

	// lw req -> nats.js responder
	const svc = nc.subscribe('js.shm.svc', {
		callback: (err, q) => q.respond(sc.encode(`js-answer:${sc.decode(q.data)}`)),
	});

	await nc.flush();
	const rq = await finished(lw(t, ['req', 'js.shm.svc', 'ping', '--raw']));

	assert.equal(rq.code, 0, rq.stderr);
	assert.equal(rq.stdout.trim(), 'js-answer:ping');
	svc.unsubscribe();
	sub.unsubscribe();
});

test('TLS: nats.js upgrades after INFO and verifies the server certificate', async (t) => {
	const a = await conn(t, { servers: TLS_URL, tls: { caFile: TLS_CA } });
	const b = await conn(t, { servers: TLS_URL, tls: { caFile: TLS_CA } });
	const sub = b.subscribe('js.tls.>');
	const svc = b.subscribe('js.tls.svc', { callback: (err, m) => m.respond(sc.encode('tls-ok')) });

	await b.flush();
	const big = new Uint8Array(500000).map((_, i) => i % 251);

	a.publish('js.tls.one', sc.encode('secret'));
	a.publish('js.tls.big', big);
	const got = await take(sub, 2, 3000);

	assert.equal(sc.decode(got[0].data), 'secret');
	assert.deepEqual(Buffer.from(got[1].data), Buffer.from(big));
	const r = await a.request('js.tls.svc', sc.encode('?'), { timeout: 2000 });

	assert.equal(sc.decode(r.data), 'tls-ok');
	svc.unsubscribe();
	// A client that does not trust the CA cannot get in.
	await assert.rejects(connect({ servers: TLS_URL, reconnect: false, timeout: 3000,
		tls: { ca: '' } }));
});
