package events

import (
	"context"
	"fmt"
)

// Scope is state that lives as long as the database transaction a consumer's handlers run in:
// one event's, or a whole batch's (ConsumerConfig.BatchSize). A handler may keep work there across
// the events of a batch — writes it has not sent yet, answers it already read — and register what
// must happen before the transaction commits. When the transaction rolls back, the scope goes with
// it (and a batch is then handled one event at a time, each in a scope of its own).
type Scope struct {
	values       map[any]any
	beforeCommit []func(context.Context) error
}

type scopeKey struct{}

func withScope(ctx context.Context) (context.Context, *Scope) {
	s := &Scope{}
	return context.WithValue(ctx, scopeKey{}, s), s
}

// ScopeOf returns the scope of the consumer transaction ctx's handler runs in, or nil outside one
// (an RPC's transaction, a consumer without a database).
func ScopeOf(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// Value returns what SetValue stored under key, or nil.
func (s *Scope) Value(key any) any { return s.values[key] }

// SetValue stores v under key for the rest of the transaction.
func (s *Scope) SetValue(key, v any) {
	if s.values == nil {
		s.values = map[any]any{}
	}
	s.values[key] = v
}

// BeforeCommit registers fn to run, in registration order, after the transaction's last handler
// and before its commit; an error fails the transaction as a handler's would.
func (s *Scope) BeforeCommit(fn func(context.Context) error) {
	s.beforeCommit = append(s.beforeCommit, fn)
}

func (s *Scope) runBeforeCommit(ctx context.Context) error {
	for _, fn := range s.beforeCommit {
		if err := fn(ctx); err != nil {
			return fmt.Errorf("before commit: %w", err)
		}
	}
	return nil
}
