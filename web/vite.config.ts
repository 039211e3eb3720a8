// The dashboard's build: web/ → dist/dashboard/, served by the control plane under /dashboard/
// (src/control/dashboard-static.ts). `npm run dashboard:dev` serves it with hot reload and sends
// /api to the control plane named by TRELLIS_CONTROL.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/dashboard/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // elkjs is one ~1.4 MB module; it is loaded only by the topology view.
    chunkSizeWarningLimit: 1600,
  },
  server: {
    proxy: { '/api': process.env.TRELLIS_CONTROL ?? 'http://127.0.0.1:15000' },
  },
});
