package main

import (
	"slices"
	"testing"

	"github.com/parleyhq/parley/contracts/access"
	"github.com/parleyhq/parley/platform/config"
)

// Unset, the procedure lists are left nil so run fills them from the marks in the protos; set,
// PUBLIC_PROCEDURES and INTERNAL_PROCEDURES still replace them.
func TestProcedureListsComeFromTheProtosUnlessSet(t *testing.T) {
	cfg, err := config.Load[Config]()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PublicProcedures != nil || cfg.InternalProcedures != nil {
		t.Fatalf("unset lists = %v, %v; want nil (run takes contracts/access)", cfg.PublicProcedures, cfg.InternalProcedures)
	}
	if len(access.Public()) == 0 || len(access.Internal()) == 0 {
		t.Fatalf("contracts/access lists are empty: public %v, internal %v", access.Public(), access.Internal())
	}

	t.Setenv("PUBLIC_PROCEDURES", "/parley.auth.v1.AuthService/Login")
	t.Setenv("INTERNAL_PROCEDURES", "/parley.chat.v1.ChatService/CheckChatAccess,/parley.media.v1.MediaService/BatchGetFiles")
	cfg, err = config.Load[Config]()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/parley.auth.v1.AuthService/Login"}; !slices.Equal(cfg.PublicProcedures, want) {
		t.Errorf("PublicProcedures = %v, want %v", cfg.PublicProcedures, want)
	}
	if want := []string{"/parley.chat.v1.ChatService/CheckChatAccess", "/parley.media.v1.MediaService/BatchGetFiles"}; !slices.Equal(cfg.InternalProcedures, want) {
		t.Errorf("InternalProcedures = %v, want %v", cfg.InternalProcedures, want)
	}
}
