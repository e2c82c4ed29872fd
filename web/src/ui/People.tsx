import { useEffect, useState, type FormEvent } from "react";
import { FriendRequestDirection, type BlockedUser, type Friend, type FriendRequest } from "../gen/parley/friend/v1/friend_pb";
import type { SearchResult } from "../gen/parley/profile/v1/profile_pb";
import { chat, friends, profiles } from "../lib/api";
import { describe, fieldErrors } from "../lib/errors";
import * as store from "../lib/store";
import { Field, FormError } from "./Field";
import { useStore } from "./hooks";

export function People({ onOpenChat }: { onOpenChat: (chatId: string) => void }) {
  const version = useStore((s) => s.friendsVersion);
  const presence = useStore((s) => s.presence);
  const conn = useStore((s) => s.conn);
  const me = useStore((s) => s.me);
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [queryError, setQueryError] = useState<string | undefined>();
  const [error, setError] = useState<string | null>(null);
  const [list, setList] = useState<Friend[]>([]);
  const [incoming, setIncoming] = useState<FriendRequest[]>([]);
  const [outgoing, setOutgoing] = useState<FriendRequest[]>([]);
  const [blocked, setBlocked] = useState<BlockedUser[]>([]);
  const [status, setStatus] = useState("");

  useEffect(() => {
    let live = true;
    Promise.all([
      friends.listFriends({ pageSize: 100 }),
      friends.listFriendRequests({ direction: FriendRequestDirection.INCOMING, pageSize: 100 }),
      friends.listFriendRequests({ direction: FriendRequestDirection.OUTGOING, pageSize: 100 }),
      friends.listBlockedUsers({ pageSize: 100 }),
    ])
      .then(([f, i, o, b]) => {
        if (!live) return;
        setList(f.friends);
        setIncoming(i.requests);
        setOutgoing(o.requests);
        setBlocked(b.blockedUsers);
      })
      .catch((err) => live && setError(describe(err)));
    return () => {
      live = false;
    };
  }, [version]);

  // Presence comes over the socket: ask again once it is live (a query sent before is dropped).
  const live = conn === "live";
  useEffect(() => {
    if (live) store.queryPresence(list.map((x) => x.user?.userId ?? "").filter(Boolean));
  }, [live, list]);

  async function act(what: string, fn: () => Promise<unknown>) {
    setError(null);
    try {
      await fn();
      setStatus(what);
      store.friendsChanged();
    } catch (err) {
      setError(describe(err));
    }
  }

  async function search(e: FormEvent) {
    e.preventDefault();
    setQueryError(undefined);
    setError(null);
    try {
      const r = await profiles.searchUsers({ query, pageSize: 20 });
      setResults(r.results);
    } catch (err) {
      const fe = fieldErrors(err, ["query"]);
      setQueryError(fe.fields.query);
      setError(fe.form);
    }
  }

  async function message(userId: string) {
    try {
      const r = await chat.getChat({ by: { case: "userId", value: userId } });
      if (r.chat) onOpenChat(r.chat.chatId);
    } catch (err) {
      setError(describe(err));
    }
  }

  const friendIds = new Set(list.map((f) => f.user?.userId));
  const outgoingTo = new Map(outgoing.map((r) => [r.toUserId, r.requestId]));

  return (
    <main className="people">
      <h2>People</h2>
      <p className="sr-only" role="status">
        {status}
      </p>
      <form onSubmit={search} role="search" aria-label="Search people">
        <Field label="Search by nickname" name="query" value={query} onChange={(e) => setQuery(e.target.value)} error={queryError} />
        <button type="submit">Search</button>
      </form>
      <FormError error={error} />
      {results && (
        <section aria-label="Search results">
          <h3>Results</h3>
          {results.length === 0 && <p>Nobody found.</p>}
          <ul className="people-list">
            {results.map((r) => {
              const p = r.profile!;
              const id = p.userId;
              return (
                <li key={id} data-testid="search-result">
                  <span className="nick">{p.nickname}</span>
                  {id === me?.userId ? (
                    <span>(you)</span>
                  ) : friendIds.has(id) ? (
                    <span>Friend</span>
                  ) : outgoingTo.has(id) ? (
                    <span>Request sent</span>
                  ) : (
                    <button onClick={() => void act(`Friend request sent to ${p.nickname}`, () => friends.sendFriendRequest({ userId: id }))}>Add {p.nickname} as friend</button>
                  )}
                  {id !== me?.userId && (
                    <button onClick={() => void act(`Blocked ${p.nickname}`, () => friends.blockUser({ userId: id }))}>Block {p.nickname}</button>
                  )}
                </li>
              );
            })}
          </ul>
        </section>
      )}
      <section aria-label="Friend requests">
        <h3>Requests</h3>
        {incoming.length === 0 && outgoing.length === 0 && <p>No pending requests.</p>}
        <ul className="people-list">
          {incoming.map((r) => (
            <li key={r.requestId} data-testid="incoming-request">
              <span className="nick">{r.otherUser?.nickname}</span> wants to be friends
              <button onClick={() => void act("Accepted", () => friends.acceptFriendRequest({ requestId: r.requestId }))}>Accept {r.otherUser?.nickname}</button>
              <button onClick={() => void act("Declined", () => friends.declineFriendRequest({ requestId: r.requestId }))}>Decline {r.otherUser?.nickname}</button>
            </li>
          ))}
          {outgoing.map((r) => (
            <li key={r.requestId} data-testid="outgoing-request">
              Request to <span className="nick">{r.otherUser?.nickname}</span>
              <button onClick={() => void act("Cancelled", () => friends.cancelFriendRequest({ requestId: r.requestId }))}>Cancel request to {r.otherUser?.nickname}</button>
            </li>
          ))}
        </ul>
      </section>
      <section aria-label="Friends">
        <h3>Friends</h3>
        {list.length === 0 && <p>No friends yet.</p>}
        <ul className="people-list">
          {list.map((f) => {
            const u = f.user!;
            const p = presence[u.userId];
            return (
              <li key={u.userId} data-testid="friend">
                <span className={"dot" + (p?.online ? " online" : "")} aria-hidden="true" />
                <span className="nick">{u.nickname}</span>
                <span className="presence" data-testid="presence">
                  {p?.online ? "online" : p?.lastSeen ? `last seen ${new Date(p.lastSeen).toLocaleString()}` : "offline"}
                </span>
                <button onClick={() => void message(u.userId)}>Message {u.nickname}</button>
                <button onClick={() => void act(`Removed ${u.nickname}`, () => friends.removeFriend({ userId: u.userId }))}>Remove {u.nickname}</button>
                <button onClick={() => void act(`Blocked ${u.nickname}`, () => friends.blockUser({ userId: u.userId }))}>Block {u.nickname}</button>
              </li>
            );
          })}
        </ul>
      </section>
      <section aria-label="Blocked people">
        <h3>Blocked</h3>
        {blocked.length === 0 && <p>Nobody blocked.</p>}
        <ul className="people-list">
          {blocked.map((b) => (
            <li key={b.user?.userId}>
              <span className="nick">{b.user?.nickname}</span>
              <button onClick={() => void act(`Unblocked ${b.user?.nickname}`, () => friends.unblockUser({ userId: b.user!.userId }))}>Unblock {b.user?.nickname}</button>
            </li>
          ))}
        </ul>
      </section>
    </main>
  );
}
