/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` and `npm run preview` proxy the API, the WebSocket and media downloads to a running
// gateway (PARLEY_GATEWAY_URL, default the dev stack's http://127.0.0.1:8080), so the app calls
// everything on its own origin as it does when the gateway serves it.
const gateway = process.env.PARLEY_GATEWAY_URL ?? "http://127.0.0.1:8080";
const proxy = {
  "/api": { target: gateway, changeOrigin: true },
  "/ws": { target: gateway, changeOrigin: true, ws: true },
  "/media": { target: gateway, changeOrigin: true },
};

export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    rollupOptions: {
      // The service worker is an entry of its own at /sw.js: a fixed name (browsers look for
      // updates at the registered URL) and, outside assets/, served with Cache-Control no-cache.
      // It imports only src/lib/pushnotify.ts, which the app does not, so no chunk is shared and
      // the output is a self-contained classic script (scripts/size.mjs checks that).
      input: { index: "index.html", sw: "src/sw.ts" },
      output: { entryFileNames: (c) => (c.name === "sw" ? "sw.js" : "assets/[name]-[hash].js") },
    },
  },
  server: { proxy },
  preview: { proxy },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
