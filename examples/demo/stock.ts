// The demo's TCP service: a line protocol. "GET <item>\n" answers "<item> <count>\n".
import net from 'node:net';

const server = net.createServer((socket) => {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      const [verb, item = ''] = line.split(' ');
      socket.write(verb === 'GET' ? `${item} ${item.length * 7}\n` : `ERR unknown command\n`);
    }
    if (buffered.length > 4096) socket.destroy();
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(process.env.PORT ?? 7000), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
