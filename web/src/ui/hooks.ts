import { useSyncExternalStore } from "react";
import { getState, subscribe, type State } from "../lib/store";

export function useStore<T>(select: (s: State) => T): T {
  return useSyncExternalStore(subscribe, () => select(getState()));
}
