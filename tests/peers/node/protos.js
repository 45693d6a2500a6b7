// The interop protos of tests/peers/grpc/, loaded for @grpc/grpc-js.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const PROTOS = path.join(__dirname, '..', 'grpc');

// The `grpc.testing` package: TestService, UnimplementedService, messages.
function load() {
  const def = loader.loadSync(['test.proto'], {
    includeDirs: [PROTOS],
    keepCase: true,
    defaults: true,
    enums: Number,
  });
  return grpc.loadPackageDefinition(def).grpc.testing;
}

module.exports = { load };
