package realtime_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

// syncChats builds the chats of a sync frame: each id with last_seq 0.
func syncChats(ids ...string) []map[string]any {
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"chat_id": id, "last_seq": 0}
	}
	return out
}

// errorFor matches the error frame about one chat of a sync.
func errorFor(ref, chatID string) func(frame) bool {
	return func(f frame) bool {
		return f.typ() == realtime.TypeError && f.str("ref") == ref && f.str("chat_id") == chatID
	}
}

// The chat-service calls a user's frames cause are bounded by a budget shared by the user's
// connections: frames over it are answered resource_exhausted without a call, and the answers
// about unknown chats are remembered, so asking again costs nothing.
func TestFramesSpendABudgetOfUpstreamCalls(t *testing.T) {
	t.Parallel()
	const budget = 6
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) {
		o.UpstreamCalls = budget
		o.UpstreamInterval = time.Hour // no refill while the test runs
	}})
	g := e.startGateway(t)
	a, b := newUUID(), newUUID()
	chatID := e.chat.addChat(a, b, 3)
	c := mustDial(t, g, e.iss.Token(t, a))
	c2 := mustDial(t, g, e.iss.Token(t, a)) // the same user's second connection shares the budget
	cb := mustDial(t, g, e.iss.Token(t, b))
	gets0, lists0 := e.chat.calls()

	// One sync frame naming ten chats that are not the user's: six calls, then refusals.
	unknown := make([]string, 10)
	for i := range unknown {
		unknown[i] = newUUID()
	}
	c.send(t, map[string]any{"type": "sync", "ref": "s1", "chats": syncChats(unknown...)})
	c.waitFor(t, "sync_complete", func(f frame) bool { return f.typ() == realtime.TypeSyncComplete && f.str("ref") == "s1" })
	for i, id := range unknown {
		f := c.waitFor(t, "the error about chat "+id, errorFor("s1", id))
		want := "not_found"
		if i >= budget {
			want = "resource_exhausted"
			if msg := f.str("message"); !strings.Contains(msg, fmt.Sprintf("at most %d", budget)) || !strings.Contains(msg, "1h0m0s") {
				t.Fatalf("the refusal does not name the limit: %q", msg)
			}
		}
		wantEq(t, fmt.Sprintf("code for chat %d", i), f.str("code"), want)
	}
	gets, lists := e.chat.calls()
	wantEq(t, "GetChat calls for the sync", gets-gets0, budget)
	wantEq(t, "ListMessages calls for the sync", lists-lists0, 0)

	// The chats just found unknown, again, from the other connection and in another spelling:
	// answered from memory, no call.
	for i, id := range unknown[:budget] {
		ref := fmt.Sprintf("t%d", i)
		c2.send(t, map[string]any{"type": "typing", "chat_id": strings.ToUpper(id), "ref": ref})
		f := c2.waitFor(t, "typing refused", func(f frame) bool { return f.typ() == realtime.TypeError && f.str("ref") == ref })
		wantEq(t, "typing in an unknown chat", f.str("code"), "not_found")
	}
	c2.send(t, map[string]any{"type": "sync", "ref": "s2", "chats": syncChats(unknown[:budget]...)})
	c2.waitFor(t, "sync_complete", func(f frame) bool { return f.typ() == realtime.TypeSyncComplete && f.str("ref") == "s2" })
	for _, id := range unknown[:budget] {
		wantEq(t, "sync of an unknown chat", c2.waitFor(t, "error", errorFor("s2", id)).str("code"), "not_found")
	}

	// With the budget spent, even the user's real chat waits: typing is refused, nothing relayed.
	c.send(t, map[string]any{"type": "typing", "chat_id": chatID, "ref": "real"})
	f := c.waitFor(t, "typing refused", func(f frame) bool { return f.typ() == realtime.TypeError && f.str("ref") == "real" })
	wantEq(t, "typing over the budget", f.str("code"), "resource_exhausted")
	c.send(t, map[string]any{"type": "sync", "ref": "s3", "chats": syncChats(chatID)})
	wantEq(t, "sync over the budget", c.waitFor(t, "error", errorFor("s3", chatID)).str("code"), "resource_exhausted")
	c.waitFor(t, "sync_complete", func(f frame) bool { return f.typ() == realtime.TypeSyncComplete && f.str("ref") == "s3" })
	e.barrier(t, cb, b)
	wantEq(t, "typing frames the peer got", cb.count(isType(realtime.TypeTyping)), 0)
	wantEq(t, "messages replayed over the budget", c.count(isType(realtime.TypeMessage)), 0)

	gets, lists = e.chat.calls()
	wantEq(t, "GetChat calls in all", gets-gets0, budget)
	wantEq(t, "ListMessages calls in all", lists-lists0, 0)
}

// A chat id that is not the user's, asked about again and again (typing, sync, any spelling),
// costs one call to the chat service.
func TestAnUnknownChatIDCostsOneCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	g := e.startGateway(t)
	c := mustDial(t, g, e.iss.Token(t, newUUID()))
	gets0, _ := e.chat.calls()
	id := newUUID()
	for i := range 6 {
		ref := fmt.Sprintf("t%d", i)
		spelling := id
		if i%2 == 1 {
			spelling = strings.ToUpper(id)
		}
		c.send(t, map[string]any{"type": "typing", "chat_id": spelling, "ref": ref})
		f := c.waitFor(t, "typing refused", func(f frame) bool { return f.typ() == realtime.TypeError && f.str("ref") == ref })
		wantEq(t, "code", f.str("code"), "not_found")
	}
	for i := range 3 {
		ref := fmt.Sprintf("s%d", i)
		c.send(t, map[string]any{"type": "sync", "ref": ref, "chats": syncChats(strings.ToUpper(id))})
		// One sync at a time: the next one waits for this one's sync_complete.
		c.waitFor(t, "sync_complete", func(f frame) bool { return f.typ() == realtime.TypeSyncComplete && f.str("ref") == ref })
		wantEq(t, "code", c.waitFor(t, "error", errorFor(ref, id)).str("code"), "not_found")
	}
	gets, _ := e.chat.calls()
	wantEq(t, "GetChat calls", gets-gets0, 1)
}

// Frames about someone else's chat reveal nothing and reach nobody: typing and sync for a chat
// the user is not a participant of get the answer a chat that does not exist gets, the
// participants receive no typing frame, and no message is replayed.
func TestFramesForSomeoneElsesChatRevealNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	gw1, gw2 := e.startGateway(t), e.startGateway(t)
	a, b, stranger := newUUID(), newUUID(), newUUID()
	chatID := e.chat.addChat(a, b, 5)
	ca := mustDial(t, gw1, e.iss.Token(t, a))
	cb := mustDial(t, gw2, e.iss.Token(t, b))
	cs := mustDial(t, gw1, e.iss.Token(t, stranger))
	nowhere := newUUID() // a chat that does not exist: the answer to compare with

	answer := func(f frame) string { return f.str("code") + ": " + f.str("message") }
	for i, id := range []string{chatID, strings.ToUpper(chatID), nowhere} {
		ref := fmt.Sprintf("t%d", i)
		cs.send(t, map[string]any{"type": "typing", "chat_id": id, "ref": ref})
	}
	var typingAnswers []string
	for i := range 3 {
		ref := fmt.Sprintf("t%d", i)
		f := cs.waitFor(t, "typing refused", func(f frame) bool { return f.typ() == realtime.TypeError && f.str("ref") == ref })
		typingAnswers = append(typingAnswers, answer(f))
	}
	for _, got := range typingAnswers {
		if !strings.HasPrefix(got, "not_found: ") || got != typingAnswers[2] {
			t.Fatalf("typing answers %q: someone else's chat must look like no chat", typingAnswers)
		}
	}

	cs.send(t, map[string]any{"type": "sync", "ref": "s1", "chats": syncChats(chatID, nowhere)})
	cs.waitFor(t, "sync_complete", func(f frame) bool { return f.typ() == realtime.TypeSyncComplete && f.str("ref") == "s1" })
	foreign, missing := cs.waitFor(t, "error", errorFor("s1", chatID)), cs.waitFor(t, "error", errorFor("s1", nowhere))
	if answer(foreign) != answer(missing) || foreign.str("code") != "not_found" {
		t.Fatalf("sync answered %q for someone else's chat and %q for no chat", answer(foreign), answer(missing))
	}

	e.barrier(t, ca, a)
	e.barrier(t, cb, b)
	e.barrier(t, cs, stranger)
	wantEq(t, "typing frames A got", ca.count(isType(realtime.TypeTyping)), 0)
	wantEq(t, "typing frames B got", cb.count(isType(realtime.TypeTyping)), 0)
	for _, f := range cs.frames() {
		switch f.typ() {
		case realtime.TypeMessage, realtime.TypeSyncDone, realtime.TypeSyncRequired, realtime.TypeTyping:
			t.Fatalf("the stranger got %v", f)
		}
	}
}

// A sync may follow the previous one's last frame at once: sync_complete, or the error refusing
// the frame, means the connection takes the next sync (the protocol's `aborted` is only for a
// sync sent before that). The gateway used to free the connection just after sending the frame,
// so a quick client was sometimes told a sync was still running.
func TestSyncRightAfterTheLastFrameOfTheOneBefore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) { o.FrameRate, o.FrameBurst = 10000, 10000 }})
	g := e.startGateway(t)
	c := mustDial(t, g, e.iss.Token(t, newUUID()))
	for i := range 300 {
		ref := fmt.Sprintf("s%d", i)
		last := func(f frame) bool {
			return f.str("ref") == ref && (f.typ() == realtime.TypeSyncComplete || f.typ() == realtime.TypeError)
		}
		if i%2 == 0 {
			c.send(t, map[string]any{"type": "sync", "ref": ref, "chats": []any{}})
		} else {
			c.send(t, map[string]any{"type": "sync", "ref": ref, "chats": syncChats("not-a-uuid")})
		}
		f := c.waitFor(t, "the sync's last frame", last)
		if f.typ() == realtime.TypeError && f.str("code") != "invalid_argument" {
			t.Fatalf("sync %d refused: %v", i, f)
		}
	}
}
