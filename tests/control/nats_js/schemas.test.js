// lw-control's JetStream API answers and advisories checked against the
// JSON schemas nats-server's API is described by (nats-io/jsm.go
// "schemas/", kept beside the project in ../shared/reference/nats-schemas;
// NATS_SCHEMAS names that folder). Every document a request returns is
// validated against the schema its "type" names; PubAcks (which carry no
// type) against pub_ack_response. The schemas are reference data, not
// part of this repository: without them the test says so and skips.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const Ajv = require('ajv');
const { connect, StringCodec, headers } = require('nats');

const sc = StringCodec();
const DIR = process.env.NATS_SCHEMAS || '';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every schema under jetstream/, by its title (= the document's "type").
function loadSchemas(dir) {
	const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
	const byType = new Map();
	const walk = (d) => {
		for (const e of fs.readdirSync(d, { withFileTypes: true })) {
			const p = path.join(d, e.name);
			if (e.isDirectory())
				walk(p);
			else if (e.name.endsWith('.json')) {
				const s = JSON.parse(fs.readFileSync(p, 'utf8'));

				// Some files repeat an $id; none uses $ref, so drop it.
				delete s.$id;
				if (s.title && !byType.has(s.title))
					byType.set(s.title, ajv.compile(s));
			}
		}
	};
	walk(path.join(dir, 'jetstream'));
	return byType;
}

const haveSchemas = DIR !== '' && fs.existsSync(path.join(DIR, 'jetstream'));

test('API answers and advisories match the JetStream schemas', { skip: haveSchemas ? false :
	`no schema folder (NATS_SCHEMAS=${DIR || 'unset'})` }, async (t) => {
	const schemas = loadSchemas(DIR);
	const nc = await connect({ servers: process.env.NATS_URL, reconnect: false });
	t.after(() => nc.close());
	const docs = [];
	const req = async (subj, body) => {
		const m = await nc.request(subj, body === undefined ? new Uint8Array(0) :
			sc.encode(JSON.stringify(body)), { timeout: 3000 });
		const doc = JSON.parse(sc.decode(m.data));
		docs.push({ subj, doc });
		return doc;
	};
	const next = async (consumer, reply) => {
		const sub = nc.subscribe(reply, { max: 1 });
		nc.publish(`$JS.API.CONSUMER.MSG.NEXT.SCH.${consumer}`,
			sc.encode(JSON.stringify({ batch: 1, expires: 1e9 })), { reply });
		for await (const m of sub)
			return m;
		return null;
	};
	nc.subscribe('$JS.EVENT.ADVISORY.>', {
		callback: (e, m) => docs.push({ subj: m.subject, doc: JSON.parse(sc.decode(m.data)) }),
	});

	await req('$JS.API.INFO');
	await req('$JS.API.STREAM.CREATE.SCH', { name: 'SCH', subjects: ['sch.>'], max_msgs_per_subject: 5,
		storage: 'file', num_replicas: 1, discard: 'old', duplicate_window: 120e9 });
	await req('$JS.API.STREAM.CREATE.SCH', { name: 'SCH', subjects: ['other.>'] }); // an error
	for (let i = 0; i < 5; i++) {
		const h = headers();
		h.set('Nats-Msg-Id', `id${i % 3}`);
		const m = await nc.request(`sch.a${i % 2}`, sc.encode(`x${i}`), { headers: h, timeout: 3000 });
		docs.push({ subj: 'PubAck', doc: JSON.parse(sc.decode(m.data)), type: 'io.nats.jetstream.api.v1.pub_ack_response' });
	}
	await req('$JS.API.STREAM.UPDATE.SCH', { name: 'SCH', subjects: ['sch.>'], max_msgs_per_subject: 10 });
	await req('$JS.API.STREAM.INFO.SCH', { subjects_filter: '>', deleted_details: true });
	await req('$JS.API.STREAM.INFO.NOPE');
	await req('$JS.API.STREAM.NAMES', { offset: 0 });
	await req('$JS.API.STREAM.LIST', { offset: 0 });
	await req('$JS.API.STREAM.MSG.GET.SCH', { seq: 1 });
	await req('$JS.API.STREAM.MSG.GET.SCH', { last_by_subj: 'sch.a1' });
	await req('$JS.API.STREAM.MSG.GET.SCH', { seq: 999 });
	await req('$JS.API.STREAM.MSG.DELETE.SCH', { seq: 2 });
	await req('$JS.API.CONSUMER.CREATE.SCH.MD', { stream_name: 'SCH', config: { durable_name: 'MD',
		ack_policy: 'explicit', max_deliver: 1, ack_wait: 300e6, filter_subject: 'sch.a0' } });
	await req('$JS.API.CONSUMER.CREATE.SCH', { stream_name: 'SCH', config: { ack_policy: 'none',
		deliver_policy: 'last_per_subject' } });
	await req('$JS.API.CONSUMER.DURABLE.CREATE.SCH.T', { stream_name: 'SCH', config: {
		durable_name: 'T', ack_policy: 'explicit' } });
	await req('$JS.API.CONSUMER.INFO.SCH.MD');
	await req('$JS.API.CONSUMER.INFO.SCH.NOPE');
	await req('$JS.API.CONSUMER.NAMES.SCH', {});
	await req('$JS.API.CONSUMER.LIST.SCH', {});
	// A MAX_DELIVERIES advisory (one delivery allowed, not acked) and a
	// MSG_TERMINATED one (+TERM).
	assert.ok(await next('MD', '_INBOX.sch.md'));
	(await next('T', '_INBOX.sch.t')).respond(sc.encode('+TERM'));
	for (let i = 0; i < 50; i++) {
		const kinds = new Set(docs.map((d) => d.doc.type));
		if (kinds.has('io.nats.jetstream.advisory.v1.max_deliver') &&
		    kinds.has('io.nats.jetstream.advisory.v1.terminated'))
			break;
		await sleep(100);
	}
	await req('$JS.API.CONSUMER.DELETE.SCH.MD');
	await req('$JS.API.STREAM.PURGE.SCH', { filter: 'sch.a1', keep: 1 });
	await req('$JS.API.STREAM.DELETE.SCH');
	// The lifecycle advisories, as nats-server sends them.
	const lifecycle = ['$JS.EVENT.ADVISORY.STREAM.CREATED.SCH', '$JS.EVENT.ADVISORY.STREAM.UPDATED.SCH',
		'$JS.EVENT.ADVISORY.CONSUMER.CREATED.SCH.MD', '$JS.EVENT.ADVISORY.CONSUMER.DELETED.SCH.MD',
		'$JS.EVENT.ADVISORY.STREAM.DELETED.SCH'];
	for (let i = 0; i < 30 && !lifecycle.every((s) => docs.some((d) => d.subj === s)); i++)
		await sleep(100);
	for (const s of lifecycle)
		assert.ok(docs.some((d) => d.subj === s), `no advisory on ${s}`);
	// The audit of every API request: its subject, request and answer.
	const audits = docs.filter((d) => d.subj === '$JS.EVENT.ADVISORY.API');
	const upd = audits.find((d) => d.doc.subject === '$JS.API.STREAM.UPDATE.SCH');
	assert.ok(upd, 'no audit of STREAM.UPDATE');
	assert.equal(JSON.parse(upd.doc.request).max_msgs_per_subject, 10);
	assert.equal(JSON.parse(upd.doc.response).type, 'io.nats.jetstream.api.v1.stream_update_response');
	assert.ok(audits.some((d) => d.doc.subject === '$JS.API.CONSUMER.INFO.SCH.NOPE' &&
		JSON.parse(d.doc.response).error.err_code === 10014), 'no audit of a refused request');
	assert.ok(!audits.some((d) => d.doc.subject.startsWith('$JS.API.CONSUMER.MSG.NEXT.')),
		'pulls are not audited');

	const kinds = new Set(docs.map((d) => d.type || d.doc.type));
	for (const k of ['max_deliver', 'terminated', 'stream_action', 'consumer_action', 'api_audit'])
		assert.ok(kinds.has(`io.nats.jetstream.advisory.v1.${k}`), `no ${k} advisory`);
	const bad = [];
	for (const d of docs) {
		const type = d.type || d.doc.type;
		const validate = schemas.get(type);
		assert.ok(validate, `${d.subj}: no schema for type ${type}`);
		if (!validate(d.doc))
			bad.push(`${d.subj} (${type}): ${JSON.stringify(validate.errors.slice(0, 3))}`);
	}
	assert.deepEqual(bad, []);
	assert.ok(docs.length >= 29, `only ${docs.length} documents checked`);
});
