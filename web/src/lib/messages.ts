import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Message } from "../gen/parley/chat/v1/chat_pb";

// One chat's messages as the app holds them: ordered by seq, each seq once. The same message can
// arrive live, again in a sync replay, and from ListMessages (docs/realtime.md, Deduplication), so
// every arrival is an upsert by seq, and `contiguous` is the highest seq below which nothing is
// missing — what `sync` asks from.

export interface ChatMessages {
  /** ascending by seq, unique */
  list: Message[];
  /** every seq in 1..contiguous is held (or was before the oldest loaded page) */
  contiguous: number;
  /** the first seq of the loaded window (older pages not loaded are not gaps) */
  base: number;
}

export const empty: ChatMessages = { list: [], contiguous: 0, base: 1 };

/** Merge messages (any order, duplicates allowed) into a chat's list. A newer version (edited,
 * deleted) replaces an older one; an older one never replaces a newer one. */
export function upsert(cur: ChatMessages, incoming: readonly Message[]): ChatMessages {
  if (incoming.length === 0) return cur;
  const bySeq = new Map<bigint, Message>();
  for (const m of cur.list) bySeq.set(m.seq, m);
  for (const m of incoming) {
    const old = bySeq.get(m.seq);
    bySeq.set(m.seq, old ? newer(old, m) : m);
  }
  const list = [...bySeq.values()].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const base = cur.list.length === 0 ? Number(list[0].seq) : Math.min(cur.base, Number(list[0].seq));
  return { list, base, contiguous: contiguousFrom(list, base) };
}

/** Merge the newest page of a chat into what is held. Messages that arrived live while the page
 * loaded are kept either way. `restart` drops what is held older than the page: after
 * sync_required the held window cannot be joined to the new one, and a gap left in it would make
 * every later sync start from before the gap. */
export function withLatest(cur: ChatMessages, page: readonly Message[], restart: boolean): ChatMessages {
  if (!restart || page.length === 0) return upsert(cur, page);
  const newest = page.reduce((hi, m) => (m.seq > hi ? m.seq : hi), 0n);
  return upsert(upsert(empty, page), cur.list.filter((m) => m.seq > newest));
}

/** Replace one message by id with an update (edit, delete), if held. */
export function patch(cur: ChatMessages, messageId: string, fn: (m: Message) => Message): ChatMessages {
  const i = cur.list.findIndex((m) => m.messageId === messageId);
  if (i < 0) return cur;
  const list = cur.list.slice();
  list[i] = fn(list[i]);
  return { ...cur, list };
}

function contiguousFrom(list: readonly Message[], base: number): number {
  let want = BigInt(base);
  let last = base - 1;
  for (const m of list) {
    if (m.seq < want) continue;
    if (m.seq !== want) break;
    last = Number(m.seq);
    want++;
  }
  return last;
}

function newer(a: Message, b: Message): Message {
  // Deletion is final; otherwise the later edit wins.
  if (a.deleted && !b.deleted) return a;
  if (b.deleted && !a.deleted) return b;
  const ae = a.editedAt ? timestampMs(a.editedAt) : 0;
  const be = b.editedAt ? timestampMs(b.editedAt) : 0;
  if (ae > be) return a;
  // Live frames carry no attachment URLs; keep the ones a listing gave.
  if (b.attachments.some((x) => !x.url) && a.attachments.some((x) => x.url)) {
    return { ...b, attachments: a.attachments };
  }
  return b;
}
