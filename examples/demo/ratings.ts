// The demo's gRPC service. Listens on $PORT (h2c), as `trellis run --protocol grpc` gives it.
import * as grpc from '@grpc/grpc-js';
import { Ratings, type RatingReply, type RatingRequest } from './ratings-proto.ts';

const name = process.env.TRELLIS_WORKLOAD ?? 'ratings';
const server = new grpc.Server();
server.addService(Ratings.service, {
  Get(call: grpc.ServerUnaryCall<RatingRequest, RatingReply>, cb: grpc.sendUnaryData<RatingReply>) {
    const stars = 1 + ([...call.request.product].reduce((a, c) => a + c.charCodeAt(0), 0) % 5);
    cb(null, { product: call.request.product, stars, served_by: name });
  },
});
server.bindAsync(
  `127.0.0.1:${process.env.PORT ?? '50051'}`,
  grpc.ServerCredentials.createInsecure(),
  (err) => {
    if (err) throw err;
  },
);
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
