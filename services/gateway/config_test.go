package main

import (
	"slices"
	"testing"

	"github.com/parleyhq/parley/contracts/access"
	"github.com/parleyhq/parley/platform/config"
)

// Unset, the procedure lists are left nil so run fills them from the marks in the protos; set,
// PUBLIC_PROCEDURES, INTERNAL_PROCEDURES and RATE_LIMIT_AUTH_PROCEDURES still replace them.
func TestProcedureListsComeFromTheProtosUnlessSet(t *testing.T) {
	cfg, err := config.Load[Config]()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PublicProcedures != nil || cfg.InternalProcedures != nil || cfg.RateLimitAuthProcedures != nil {
		t.Fatalf("unset lists = %v, %v, %v; want nil (run takes contracts/access)", cfg.PublicProcedures, cfg.InternalProcedures, cfg.RateLimitAuthProcedures)
	}
	if len(access.Public()) == 0 || len(access.Internal()) == 0 || len(access.AuthLimited()) == 0 {
		t.Fatalf("contracts/access lists are empty: public %v, internal %v, auth-limited %v", access.Public(), access.Internal(), access.AuthLimited())
	}
	// The default auth-limited set: sign-in (password with its second step, and passkey), sign-up,
	// refresh and the password-reset calls.
	if got, want := slices.Sorted(slices.Values(access.AuthLimited())), []string{
		"/parley.auth.v1.AuthService/BeginPasskeyLogin", "/parley.auth.v1.AuthService/CompleteTwoFactor", "/parley.auth.v1.AuthService/FinishPasskeyLogin",
		"/parley.auth.v1.AuthService/Login", "/parley.auth.v1.AuthService/RefreshToken", "/parley.auth.v1.AuthService/Register",
		"/parley.auth.v1.AuthService/RequestPasswordReset", "/parley.auth.v1.AuthService/ResetPassword",
		"/parley.auth.v1.AuthService/VerifyEmail",
	}; !slices.Equal(got, want) {
		t.Errorf("access.AuthLimited() = %v, want %v", got, want)
	}

	t.Setenv("PUBLIC_PROCEDURES", "/parley.auth.v1.AuthService/Login")
	t.Setenv("INTERNAL_PROCEDURES", "/parley.chat.v1.ChatService/CheckChatAccess,/parley.media.v1.MediaService/BatchGetFiles")
	t.Setenv("RATE_LIMIT_AUTH_PROCEDURES", "/parley.auth.v1.AuthService/Login")
	cfg, err = config.Load[Config]()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/parley.auth.v1.AuthService/Login"}; !slices.Equal(cfg.RateLimitAuthProcedures, want) {
		t.Errorf("RateLimitAuthProcedures = %v, want %v", cfg.RateLimitAuthProcedures, want)
	}
	if want := []string{"/parley.auth.v1.AuthService/Login"}; !slices.Equal(cfg.PublicProcedures, want) {
		t.Errorf("PublicProcedures = %v, want %v", cfg.PublicProcedures, want)
	}
	if want := []string{"/parley.chat.v1.ChatService/CheckChatAccess", "/parley.media.v1.MediaService/BatchGetFiles"}; !slices.Equal(cfg.InternalProcedures, want) {
		t.Errorf("InternalProcedures = %v, want %v", cfg.InternalProcedures, want)
	}
}

// The web app's policy allows S3 where media's upload forms point: with only S3_ENDPOINT set
// that is S3_ENDPOINT, as media decides, and media's links default to media's MEDIA_PUBLIC_URL.
func TestWebSourcesFollowMediasDefaults(t *testing.T) {
	t.Setenv("S3_ENDPOINT", "https://s3.example.com")
	cfg, err := config.Load[Config]()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.webSources(); got.S3PublicEndpoint != "https://s3.example.com" || got.MediaPublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("webSources = %+v, want S3_ENDPOINT and media's MEDIA_PUBLIC_URL default", got)
	}
	t.Setenv("S3_PUBLIC_ENDPOINT", "https://uploads.example.com")
	if cfg, err = config.Load[Config](); err != nil {
		t.Fatal(err)
	}
	if got := cfg.webSources().S3PublicEndpoint; got != "https://uploads.example.com" {
		t.Fatalf("S3_PUBLIC_ENDPOINT set: webSources S3 = %q", got)
	}
}
