import { defineConfig } from 'vitest/config';

// The Switchboard server (cargo run) listens on :3000 by default and serves
// Socket.IO at /socket.io/ on the same origin as the app. In `npm run dev`
// the Vite dev server proxies those paths to it.
const target = process.env.SWITCHBOARD_URL ?? 'http://localhost:3000';

export default defineConfig({
  oxc: {
    jsx: { runtime: 'automatic' },
  },
  server: {
    proxy: {
      '/socket.io': { target, ws: true, changeOrigin: true },
      '/healthz': { target, changeOrigin: true },
      '/config.json': { target, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
