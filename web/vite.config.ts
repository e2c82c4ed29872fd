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
  build: { target: "es2022" },
  server: { proxy },
  preview: { proxy },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
