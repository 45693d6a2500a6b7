// grpc's interop cases, written on @grpc/grpc-js (npm): a gRPC client that
// shares no code with grpcio's C core, tonic or h2proto (its HTTP/2 is
// Node's own `http2` module).
//
// node grpc_interop_client.js --server_port P [--server_host H] --test_case CASE|all
// Prints PASS/FAIL per case; exit status 0 only if every case passed.
'use strict';

const grpc = require('@grpc/grpc-js');
const { load } = require('./protos');

const DEADLINE_MS = 10000; // every call is bounded
const REQ_SIZES = [27182, 8, 1828, 45904];
const RESP_SIZES = [31415, 9, 2653, 58979];
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function deadline(ms = DEADLINE_MS) {
  return { deadline: Date.now() + ms };
}

function payload(n) {
  return { type: 0, body: Buffer.alloc(n) };
}

function bodyLen(resp) {
  return resp && resp.payload && resp.payload.body ? resp.payload.body.length : 0;
}

function expectCode(err, code, details) {
  check(err && err.code === code, `expected status ${code}, got ${err && err.code} ${err && err.details}`);
  if (details !== undefined) {
    check(err.details === details, `expected message ${JSON.stringify(details)}, got ${JSON.stringify(err.details)}`);
  }
}

// A unary call as a promise of { resp, err, initial, trailing }.
function unary(client, method, req, md = new grpc.Metadata(), opts = deadline()) {
  return new Promise((resolve) => {
    const out = {};
    const call = client[method](req, md, opts, (err, resp) => {
      out.err = err;
      out.resp = resp;
    });
    call.on('metadata', (m) => (out.initial = m));
    call.on('status', (s) => {
      out.trailing = s.metadata;
      // The callback runs before 'status'; resolve on the next turn.
      setImmediate(() => resolve(out));
    });
  });
}

// Every response of a streaming-response call, then its status.
function collect(call) {
  return new Promise((resolve) => {
    const out = { responses: [] };
    call.on('metadata', (m) => (out.initial = m));
    call.on('data', (r) => out.responses.push(r));
    call.on('error', (e) => (out.err = e));
    call.on('status', (s) => {
      out.trailing = s.metadata;
      setImmediate(() => resolve(out));
    });
  });
}

// The next response of a streaming call (or its error).
function next(call) {
  return new Promise((resolve, reject) => {
    const onData = (r) => {
      call.removeListener('error', onError);
      resolve(r);
    };
    const onError = (e) => {
      call.removeListener('data', onData);
      reject(e);
    };
    call.once('data', onData);
    call.once('error', onError);
  });
}

const CASES = {
  async empty_unary(c) {
    const { err, resp } = await unary(c, 'EmptyCall', {});
    check(!err, `error ${err && err.message}`);
    check(resp && Object.keys(resp).length === 0, 'non-empty reply');
  },

  async large_unary(c) {
    const { err, resp } = await unary(c, 'UnaryCall', { response_size: 314159, payload: payload(271828) });
    check(!err, `error ${err && err.message}`);
    check(bodyLen(resp) === 314159 && resp.payload.body.every((b) => b === 0), 'wrong payload');
  },

  async client_streaming(c) {
    const resp = await new Promise((resolve, reject) => {
      const call = c.StreamingInputCall(deadline(), (err, r) => (err ? reject(err) : resolve(r)));
      for (const n of REQ_SIZES) call.write({ payload: payload(n) });
      call.end();
    });
    check(resp.aggregated_payload_size === 74922, `aggregated ${resp.aggregated_payload_size}`);
  },

  async server_streaming(c) {
    const req = { response_parameters: RESP_SIZES.map((size) => ({ size })) };
    const { err, responses } = await collect(c.StreamingOutputCall(req, deadline()));
    check(!err, `error ${err && err.message}`);
    const sizes = responses.map(bodyLen);
    check(JSON.stringify(sizes) === JSON.stringify(RESP_SIZES), `sizes ${sizes}`);
  },

  async ping_pong(c) {
    const call = c.FullDuplexCall(deadline());
    const done = collect(call);
    for (let i = 0; i < REQ_SIZES.length; i++) {
      const got = next(call);
      call.write({ response_parameters: [{ size: RESP_SIZES[i] }], payload: payload(REQ_SIZES[i]) });
      check(bodyLen(await got) === RESP_SIZES[i], `response ${i}`);
    }
    call.end();
    const { err, responses } = await done;
    check(!err, `error ${err && err.message}`);
    check(responses.length === REQ_SIZES.length, `${responses.length} responses`);
  },

  async empty_stream(c) {
    const call = c.FullDuplexCall(deadline());
    const done = collect(call);
    call.end();
    const { err, responses } = await done;
    check(!err, `error ${err && err.message}`);
    check(responses.length === 0, 'responses to an empty stream');
  },

  async custom_metadata(c) {
    const md = () => {
      const m = new grpc.Metadata();
      m.set(ECHO_INITIAL, 'test_initial_metadata_value');
      m.set(ECHO_TRAILING, Buffer.from([0xab, 0xab, 0xab]));
      return m;
    };
    const checkMd = (initial, trailing) => {
      check(initial && initial.get(ECHO_INITIAL)[0] === 'test_initial_metadata_value', 'initial metadata');
      const t = trailing && trailing.get(ECHO_TRAILING)[0];
      check(Buffer.isBuffer(t) && t.equals(Buffer.from([0xab, 0xab, 0xab])), 'trailing metadata');
    };
    const u = await unary(c, 'UnaryCall', { response_size: 314159, payload: payload(271828) }, md());
    check(!u.err && bodyLen(u.resp) === 314159, 'unary payload');
    checkMd(u.initial, u.trailing);
    const call = c.FullDuplexCall(md(), deadline());
    const done = collect(call);
    call.write({ response_parameters: [{ size: 314159 }], payload: payload(271828) });
    call.end();
    const d = await done;
    check(!d.err && d.responses.length === 1 && bodyLen(d.responses[0]) === 314159, 'duplex payload');
    checkMd(d.initial, d.trailing);
  },

  async status_code_and_message(c) {
    await statusWith(c, 'test status message');
  },

  async special_status_message(c) {
    await statusWith(c, '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n');
  },

  async unimplemented_method(c) {
    const { err } = await unary(c, 'UnimplementedCall', {});
    expectCode(err, grpc.status.UNIMPLEMENTED);
  },

  async unimplemented_service(c, testing, target) {
    const other = new testing.UnimplementedService(target, grpc.credentials.createInsecure());
    const { err } = await unary(other, 'UnimplementedCall', {});
    other.close();
    expectCode(err, grpc.status.UNIMPLEMENTED);
  },

  async cancel_after_begin(c) {
    const err = await new Promise((resolve) => {
      const call = c.StreamingInputCall(deadline(), (e) => resolve(e));
      setTimeout(() => call.cancel(), 100);
    });
    expectCode(err, grpc.status.CANCELLED);
  },

  async cancel_after_first_response(c) {
    const call = c.FullDuplexCall(deadline());
    const done = collect(call);
    const got = next(call);
    call.write({ response_parameters: [{ size: 31415 }], payload: payload(27182) });
    check(bodyLen(await got) === 31415, 'first response');
    call.cancel();
    const { err, responses } = await done;
    expectCode(err, grpc.status.CANCELLED);
    check(responses.length === 1, 'a response after cancel');
  },

  async timeout_on_sleeping_server(c) {
    const call = c.FullDuplexCall(deadline(1));
    const done = collect(call);
    call.write({ payload: payload(27182) });
    const { err } = await done;
    expectCode(err, grpc.status.DEADLINE_EXCEEDED);
  },

  async client_compressed_unary(c, testing, target) {
    const probe = await unary(c, 'UnaryCall', {
      response_size: 314159,
      payload: payload(271828),
      expect_compressed: { value: true },
    });
    expectCode(probe.err, grpc.status.INVALID_ARGUMENT);
    const gz = new testing.TestService(target, grpc.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': 2, // gzip
    });
    try {
      for (const [client, compressed] of [
        [gz, true],
        [c, false],
      ]) {
        const { err, resp } = await unary(client, 'UnaryCall', {
          response_size: 314159,
          payload: payload(271828),
          expect_compressed: { value: compressed },
        });
        check(!err && bodyLen(resp) === 314159, `compressed=${compressed}: ${err && err.message}`);
      }
    } finally {
      gz.close();
    }
  },

  async server_compressed_unary(c) {
    for (const compressed of [true, false]) {
      const { err, resp } = await unary(c, 'UnaryCall', {
        response_size: 314159,
        payload: payload(271828),
        response_compressed: { value: compressed },
      });
      check(!err && bodyLen(resp) === 314159, `compressed=${compressed}: ${err && err.message}`);
    }
  },

  async client_compressed_streaming(c, testing, target) {
    const probe = await new Promise((resolve) => {
      const call = c.StreamingInputCall(deadline(), (err) => resolve(err));
      call.write({ payload: payload(27182), expect_compressed: { value: true } });
      call.end();
    });
    expectCode(probe, grpc.status.INVALID_ARGUMENT);
    const gz = new testing.TestService(target, grpc.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': 2,
    });
    try {
      const resp = await new Promise((resolve, reject) => {
        const call = gz.StreamingInputCall(deadline(), (err, r) => (err ? reject(err) : resolve(r)));
        call.write({ payload: payload(27182), expect_compressed: { value: true } });
        // WriteFlags.NoCompress (2) for the second message, as grpc's case asks.
        call.write({ payload: payload(45904), expect_compressed: { value: false } }, 2);
        call.end();
      });
      check(resp.aggregated_payload_size === 73086, `aggregated ${resp.aggregated_payload_size}`);
    } finally {
      gz.close();
    }
  },

  async server_compressed_streaming(c) {
    const req = {
      response_parameters: [
        { size: 31415, compressed: { value: true } },
        { size: 92653, compressed: { value: false } },
      ],
    };
    const { err, responses } = await collect(c.StreamingOutputCall(req, deadline()));
    check(!err, `error ${err && err.message}`);
    const sizes = responses.map(bodyLen);
    check(JSON.stringify(sizes) === '[31415,92653]', `sizes ${sizes}`);
  },
};

async function statusWith(c, message) {
  const status = { code: 2, message };
  const u = await unary(c, 'UnaryCall', { response_status: status });
  expectCode(u.err, grpc.status.UNKNOWN, message);
  const call = c.FullDuplexCall(deadline());
  const done = collect(call);
  call.write({ response_status: status });
  call.end();
  const d = await done;
  expectCode(d.err, grpc.status.UNKNOWN, message);
}

function args() {
  const a = { server_host: '127.0.0.1', test_case: 'all' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z_]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unknown argument ${argv[i]}`);
    a[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
  }
  if (!a.server_port) throw new Error('--server_port is required');
  return a;
}

async function main() {
  const a = args();
  const names = a.test_case === 'all' ? Object.keys(CASES) : [a.test_case];
  if (names.some((n) => !CASES[n])) {
    console.log(`unknown test case ${a.test_case}`);
    return 2;
  }
  const testing = load();
  const target = `${a.server_host}:${a.server_port}`;
  const client = new testing.TestService(target, grpc.credentials.createInsecure());
  let failed = 0;
  for (const name of names) {
    try {
      await CASES[name](client, testing, target);
      console.log(`PASS ${name}`);
    } catch (e) {
      console.log(`FAIL ${name}: ${e && e.message}`);
      failed++;
    }
  }
  client.close();
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL: ${e && e.stack}`);
    process.exit(1);
  },
);
