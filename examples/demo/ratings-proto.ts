// Loads ratings.proto for the ratings server and its clients.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface RatingRequest {
  product: string;
}
export interface RatingReply {
  product: string;
  stars: number;
  served_by: string;
}

const pkg = grpc.loadPackageDefinition(
  protoLoader.loadSync(fileURLToPath(new URL('ratings.proto', import.meta.url)), { defaults: true }),
);
export const Ratings = (pkg['demo'] as grpc.GrpcObject)['Ratings'] as grpc.ServiceClientConstructor;
