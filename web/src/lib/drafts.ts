// What a tab keeps for a reload: each chat's composer (text, attachments, the Resends of messages
// that came back) and the messages on their way, per user, in sessionStorage — this tab's only
// (a closed tab the browser reopens gets it back), forgotten at sign-out and when the app opens
// signed out or as another person (forgetDrafts). A send's error is not kept: what came back is a
// draft again after a reload. Nothing here is a secret: text, and of each attachment its id,
// name, type and size (not its signed URLs).

import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { FileSchema, type File as MediaFile } from "../gen/parley/media/v1/media_pb";
import type { Outgoing, Resend } from "./outbox";
import type { Composing } from "./store";

/** What is kept: chat id → its composer, and chat id → its messages on their way, oldest first. */
export interface Kept {
  composing: Record<string, Composing>;
  sending: Record<string, Outgoing<MediaFile>[]>;
}

const PREFIX = "parley.drafts.";

interface StoredChat {
  text: string;
  files: JsonValue[];
  resend?: Resend[];
  sending?: { clientMsgId: string; text: string; files: JsonValue[] }[];
}

function tabStorage(): Storage | undefined {
  try {
    return (globalThis as { sessionStorage?: Storage }).sessionStorage;
  } catch {
    return undefined; // storage refused to this page (its getter throws): drafts last as long as the page
  }
}

/** Keeps userId's drafts for a reload, in place of what was kept before. */
export function keepDrafts(userId: string, kept: Kept): void {
  const storage = tabStorage();
  if (!storage) return;
  const out: Record<string, StoredChat> = {};
  // Only what the composer shows and the send needs: not the file's signed URLs.
  const filesJson = (files: MediaFile[]) =>
    files.map((f) => toJson(FileSchema, create(FileSchema, { fileId: f.fileId, name: f.name, contentType: f.contentType, sizeBytes: f.sizeBytes })));
  for (const [chatId, c] of Object.entries(kept.composing)) {
    if (c.text || c.files.length) out[chatId] = { text: c.text, files: filesJson(c.files), resend: c.resend };
  }
  for (const [chatId, drafts] of Object.entries(kept.sending)) {
    if (!drafts.length) continue;
    out[chatId] ??= { text: "", files: [] };
    out[chatId].sending = drafts.map((d) => ({ clientMsgId: d.clientMsgId, text: d.text, files: filesJson(d.files) }));
  }
  try {
    if (Object.keys(out).length) storage.setItem(PREFIX + userId, JSON.stringify(out));
    else storage.removeItem(PREFIX + userId);
  } catch (err) {
    // Storage full or refused; the screen has them. What was kept before is stale: a reload would
    // bring back as a draft what was sent since, to be sent again under a new key.
    console.warn("drafts not kept for a reload:", err);
    try {
      storage.removeItem(PREFIX + userId);
    } catch {
      // nothing more to do
    }
  }
}

/** What was kept for userId; nothing when it is unreadable. */
export function keptDrafts(userId: string): Kept {
  const kept: Kept = { composing: {}, sending: {} };
  const filesOf = (files: JsonValue[] | undefined) => (files ?? []).map((f) => fromJson(FileSchema, f, { ignoreUnknownFields: true }));
  try {
    const stored = JSON.parse(tabStorage()?.getItem(PREFIX + userId) ?? "{}") as Record<string, StoredChat>;
    for (const [chatId, d] of Object.entries(stored)) {
      const files = filesOf(d.files);
      const resend = resendsIn(d.resend);
      if (d.text || files.length) kept.composing[chatId] = { text: String(d.text), files, ...resend };
      if (d.sending?.length) {
        kept.sending[chatId] = d.sending.map((q) => ({ clientMsgId: String(q.clientMsgId), text: String(q.text ?? ""), files: filesOf(q.files) }));
      }
    }
  } catch (err) {
    console.warn("kept drafts unreadable, dropped:", err);
    return { composing: {}, sending: {} };
  }
  return kept;
}

/** The kept Resends, as a Composing's field; none when any is malformed. A single one is what an
 * older version of the app kept. */
function resendsIn(kept: unknown): { resend?: Resend[] } {
  const rs = Array.isArray(kept) ? kept : [kept];
  return rs.length && rs.every(isResend) ? { resend: rs } : {};
}

function isResend(r: unknown): r is Resend {
  const x = r as Resend | undefined;
  return typeof x?.clientMsgId === "string" && typeof x.text === "string" && Array.isArray(x.fileIds) && x.fileIds.every((id) => typeof id === "string");
}

/** Forgets the drafts this tab keeps, of every user but except: a sign-out, a page opened signed
 * out (a closed tab the browser reopened keeps its sessionStorage), or another person signed in. */
export function forgetDrafts(except?: string): void {
  const storage = tabStorage();
  if (!storage) return;
  try {
    for (let i = storage.length - 1; i >= 0; i--) {
      const k = storage.key(i);
      if (k?.startsWith(PREFIX) && k !== PREFIX + except) storage.removeItem(k);
    }
  } catch (err) {
    console.warn("kept drafts not forgotten:", err);
  }
}
