// Listening on a free loopback port, for test servers.
import type net from 'node:net';

export function listen(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function portOf(server: net.Server): number {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('server not listening on TCP');
  return a.port;
}
