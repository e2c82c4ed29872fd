import { vi } from "vitest";

/** For tests: puts a sessionStorage of the test's own behind the global one (undo with
 * vi.unstubAllGlobals) and returns what it holds, by key. */
export function stubSessionStorage(): Map<string, string> {
  const kept = new Map<string, string>();
  vi.stubGlobal("sessionStorage", {
    get length() {
      return kept.size;
    },
    key: (i: number) => [...kept.keys()][i] ?? null,
    getItem: (k: string) => kept.get(k) ?? null,
    setItem: (k: string, v: string) => void kept.set(k, v),
    removeItem: (k: string) => void kept.delete(k),
    clear: () => kept.clear(),
  } satisfies Storage);
  return kept;
}
