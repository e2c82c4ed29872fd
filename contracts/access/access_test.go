package access_test

import (
	"slices"
	"testing"

	"github.com/parleyhq/parley/contracts/access"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
)

// The marks in the protos are a security boundary: this pins them, so a changed mark is a
// deliberate edit of this test too. publicAuth are the auth service's public procedures, for
// TestPublicProcedures and TestUnauthenticatedPerService.
var publicAuth = []string{
	authv1connect.AuthServiceBeginOAuthProcedure,
	authv1connect.AuthServiceBeginPasskeyLoginProcedure,
	authv1connect.AuthServiceCompleteOAuthProcedure,
	authv1connect.AuthServiceCompleteTwoFactorProcedure,
	authv1connect.AuthServiceFinishPasskeyLoginProcedure,
	authv1connect.AuthServiceListOAuthProvidersProcedure,
	authv1connect.AuthServiceLoginProcedure,
	authv1connect.AuthServiceLogoutProcedure,
	authv1connect.AuthServiceRefreshTokenProcedure,
	authv1connect.AuthServiceRegisterProcedure,
	authv1connect.AuthServiceRequestPasswordResetProcedure,
	authv1connect.AuthServiceResetPasswordProcedure,
	authv1connect.AuthServiceVerifyEmailProcedure,
}

func TestPublicProcedures(t *testing.T) {
	want := append(slices.Clone(publicAuth), profilev1connect.ProfileServiceCheckNicknameProcedure)
	assertSet(t, "Public", access.Public(), want)
}

// The gateway's auth budget guards sign-in (both steps), sign-up, token refresh, email
// verification and password resets: pinned
// like the marks.
func TestAuthLimitedProcedures(t *testing.T) {
	want := []string{
		authv1connect.AuthServiceCompleteTwoFactorProcedure,
		authv1connect.AuthServiceBeginPasskeyLoginProcedure,
		authv1connect.AuthServiceFinishPasskeyLoginProcedure,
		authv1connect.AuthServiceLoginProcedure,
		authv1connect.AuthServiceRefreshTokenProcedure,
		authv1connect.AuthServiceRegisterProcedure,
		authv1connect.AuthServiceRequestPasswordResetProcedure,
		authv1connect.AuthServiceResetPasswordProcedure,
		authv1connect.AuthServiceVerifyEmailProcedure,
	}
	assertSet(t, "AuthLimited", access.AuthLimited(), want)
	public := access.Public()
	for _, p := range access.AuthLimited() {
		if !slices.Contains(public, p) {
			t.Errorf("%s is auth-limited but not public: RATE_LIMIT_AUTH is for public calls", p)
		}
	}
}

func TestInternalProcedures(t *testing.T) {
	want := []string{
		chatv1connect.ChatServiceCheckChatAccessProcedure,
		friendv1connect.FriendServiceCheckFriendshipProcedure,
		mediav1connect.MediaServiceBatchGetFilesProcedure,
		notificationv1connect.NotificationServiceNotifyProcedure,
		notificationv1connect.NotificationServiceSendEmailVerificationProcedure,
		notificationv1connect.NotificationServiceSendPasswordResetProcedure,
	}
	assertSet(t, "Internal", access.Internal(), want)
}

func TestUnauthenticatedPerService(t *testing.T) {
	cases := map[string][]string{
		authv1connect.AuthServiceName:       publicAuth,
		profilev1connect.ProfileServiceName: {profilev1connect.ProfileServiceCheckNicknameProcedure},
		mediav1connect.MediaServiceName:     {mediav1connect.MediaServiceBatchGetFilesProcedure},
		notificationv1connect.NotificationServiceName: {
			notificationv1connect.NotificationServiceNotifyProcedure,
			notificationv1connect.NotificationServiceSendEmailVerificationProcedure,
			notificationv1connect.NotificationServiceSendPasswordResetProcedure,
		},
		// CheckFriendship and CheckChatAccess are internal but called with the user's forwarded token.
		friendv1connect.FriendServiceName: {},
		chatv1connect.ChatServiceName:     {},
	}
	for service, want := range cases {
		assertSet(t, "Unauthenticated("+service+")", access.Unauthenticated(service), want)
	}
}

// Every procedure of every service is seen, so an unregistered service cannot silently read as
// having no public procedures.
func TestAllSeesEveryService(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range access.All() {
		seen[p.Service] = true
	}
	for _, s := range []string{
		authv1connect.AuthServiceName, profilev1connect.ProfileServiceName, friendv1connect.FriendServiceName,
		chatv1connect.ChatServiceName, notificationv1connect.NotificationServiceName, mediav1connect.MediaServiceName,
	} {
		if !seen[s] {
			t.Errorf("All() has no procedure of %s", s)
		}
	}
}

func assertSet(t *testing.T, name string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}
