// node-http-proxy with a keep-alive agent: the classic Node reverse proxy, for comparison.
//   node bench/peers/http-proxy.ts --port 8081 --upstream http://127.0.0.1:8080
import { Agent, createServer, type ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import { peerArgs } from './args.ts';

const { port, upstream } = peerArgs();
const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: upstream.origin, agent, xfwd: false });
proxy.on('error', (err, _req, res) => {
  const out = res as ServerResponse;
  if (!out.headersSent && typeof out.writeHead === 'function') {
    out.writeHead(502, { 'content-type': 'text/plain' });
    out.end(`upstream error: ${err.message}\n`);
  } else out.destroy();
});
createServer({ keepAliveTimeout: 60_000 }, (req, res) => proxy.web(req, res)).listen(port, '127.0.0.1');
