// The floor for Node I/O: a net server piping each connection to a new upstream connection
// (no HTTP parsing at all).
//   node bench/peers/tcp-pipe.ts --port 8081 --upstream http://127.0.0.1:8080
import { connect, createServer } from 'node:net';
import { peerArgs } from './args.ts';

const { port, upstream } = peerArgs();
const upstreamPort = Number(upstream.port || 80);
const upstreamHost = upstream.hostname;

createServer({ noDelay: true }, (client) => {
  const server = connect({ host: upstreamHost, port: upstreamPort, noDelay: true });
  client.pipe(server).pipe(client);
  client.on('error', () => server.destroy());
  server.on('error', () => client.destroy());
  client.on('close', () => server.destroy());
  server.on('close', () => client.destroy());
}).listen(port, '127.0.0.1');
