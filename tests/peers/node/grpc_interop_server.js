// grpc's interop TestService on @grpc/grpc-js (npm), for h2proto's clients.
//
// node grpc_interop_server.js [--port P]
// Prints "READY <port>" once serving (--port 0, the default, picks one) and
// serves until its stdin closes. Like grpcio's servicers, grpc-js handlers
// cannot see whether a request message arrived compressed, so
// `expect_compressed` is not checked; a response asked for compressed goes
// out gzip'd when the client accepts it.
'use strict';

const grpc = require('@grpc/grpc-js');
const { load } = require('./protos');

const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';

function payload(n) {
  return { type: 0, body: Buffer.alloc(n) };
}

// Sends the echoed initial metadata; returns the trailers to end with.
function echoMetadata(call) {
  const initial = call.metadata.get(ECHO_INITIAL);
  if (initial.length) {
    const md = new grpc.Metadata();
    md.set(ECHO_INITIAL, initial[0]);
    call.sendMetadata(md);
  }
  const trailers = new grpc.Metadata();
  const trailing = call.metadata.get(ECHO_TRAILING);
  if (trailing.length) trailers.set(ECHO_TRAILING, trailing[0]);
  return trailers;
}

// The status a request asks for, as a grpc-js error, or null for OK.
function statusOf(req, trailers) {
  const s = req.response_status;
  if (!s || !s.code) return null;
  return { code: s.code, details: s.message, metadata: trailers };
}

function sleep(us) {
  return new Promise((resolve) => setTimeout(resolve, us / 1000));
}

// Writes the responses `req` asks for; false if the call was ended with an error.
async function respond(call, req, trailers) {
  const err = statusOf(req, trailers);
  if (err) {
    call.emit('error', err);
    return false;
  }
  for (const p of req.response_parameters || []) {
    if (p.interval_us > 0) await sleep(p.interval_us);
    if (call.cancelled) return false;
    // WriteFlags.NoCompress (2) unless this response asked to be compressed.
    const flags = p.compressed && p.compressed.value ? 0 : 2;
    call.write({ payload: payload(p.size) }, flags);
  }
  return true;
}

const service = {
  EmptyCall(call, cb) {
    cb(null, {}, echoMetadata(call));
  },

  UnaryCall(call, cb) {
    const trailers = echoMetadata(call);
    const err = statusOf(call.request, trailers);
    if (err) return cb(err);
    cb(null, { payload: payload(call.request.response_size) }, trailers);
  },

  async StreamingOutputCall(call) {
    const trailers = echoMetadata(call);
    if (await respond(call, call.request, trailers)) call.end(trailers);
  },

  StreamingInputCall(call, cb) {
    const trailers = echoMetadata(call);
    let total = 0;
    call.on('data', (req) => (total += req.payload ? req.payload.body.length : 0));
    call.on('end', () => cb(null, { aggregated_payload_size: total }, trailers));
    call.on('error', () => {});
  },

  FullDuplexCall(call) {
    const trailers = echoMetadata(call);
    // Requests are answered one at a time, in order.
    let chain = Promise.resolve(true);
    call.on('data', (req) => {
      chain = chain.then((ok) => ok && respond(call, req, trailers));
    });
    call.on('end', () => {
      chain.then((ok) => ok && call.end(trailers));
    });
    call.on('error', () => {});
  },

  HalfDuplexCall(call) {
    const trailers = echoMetadata(call);
    const reqs = [];
    call.on('data', (req) => reqs.push(req));
    call.on('end', async () => {
      for (const req of reqs) if (!(await respond(call, req, trailers))) return;
      call.end(trailers);
    });
    call.on('error', () => {});
  },
};

function main() {
  let port = 0;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') port = Number(argv[++i]);
    else if (argv[i].startsWith('--port=')) port = Number(argv[i].slice(7));
  }
  const testing = load();
  // gzip for responses a client accepts it for (server_compressed_* cases).
  const server = new grpc.Server({ 'grpc.default_compression_algorithm': 2 });
  server.addService(testing.TestService.service, service);
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) {
      console.log(`FAIL bind: ${err.message}`);
      process.exit(1);
    }
    console.log(`READY ${bound}`);
  });
  process.stdin.resume();
  process.stdin.on('end', () => server.tryShutdown(() => process.exit(0)));
}

main();
