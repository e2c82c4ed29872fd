package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// Two-factor authentication with an authenticator app: TOTP (RFC 6238) with the parameters every
// app supports (SHA-1, 6 digits, 30-second steps), codes accepted one step either side of now (a
// phone's clock is often a little off), each time step at most once per account.
const (
	TOTPIssuer      = "Parley"
	TOTPPeriod      = 30 * time.Second
	TOTPDigits      = 6
	TOTPSkew        = 1 // steps either side of now
	totpSecretBytes = 20
	// RecoveryCodeCount is how many recovery codes ConfirmTOTP hands out.
	RecoveryCodeCount = 10
	// ChallengeTTL is how long the second step of a sign-in may take.
	ChallengeTTL = 5 * time.Minute
)

// Ways to answer a second-factor challenge (SecondFactorRequired.Methods).
const (
	SecondFactorTOTP     = "totp"
	SecondFactorRecovery = "recovery_code"
)

// SecondFactorRequired is what Login and CompleteOAuth return, as their error, for an account with
// TOTP active: the first factor was right, no session exists yet, and CompleteTwoFactor with the
// challenge and a code finishes the sign-in. It is an error so that a caller that does not know
// about second factors cannot mistake it for a signed-in result: it gets no tokens.
type SecondFactorRequired struct {
	Challenge string
	ExpiresAt time.Time
	Methods   []string
}

func (e *SecondFactorRequired) Error() string {
	return "a second factor is required to finish signing in"
}

// TOTPCredential is an account's stored TOTP enrolment.
type TOTPCredential struct {
	Sealed    []byte // the secret, sealed with TOTPKey
	Confirmed bool   // false: enrolment started, not in force
	LastStep  int64  // the time step of the last accepted code (0: none)
}

// TOTPStatus is whether an account has TOTP in force (read with its credential or account: see
// Store.PasswordCredentials and Store.Account).
type TOTPStatus struct {
	Active                 bool
	RecoveryCodesRemaining int
}

// LoginChallenge is the first step of a two-step sign-in, stored by its token's hash.
type LoginChallenge struct {
	Hash      []byte
	UserID    string
	Method    string // the first factor: the session's method
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ChallengeTarget is the account a live challenge is for.
type ChallengeTarget struct {
	UserID        string
	Method        string
	Email         string // "" when the account has none
	EmailVerified bool
}

// SecondFactorProof is a checked second factor to spend in the store: a TOTP time step (which must
// be later than the last accepted one) or a recovery code's hash (which must be unused).
type SecondFactorProof struct {
	Step         int64
	RecoveryHash []byte
}

// TOTPStore is the persistence of two-factor authentication.
type TOTPStore interface {
	// SaveTOTPEnrollment stores a new, unconfirmed secret for the user, replacing an unconfirmed
	// one; ErrTOTPAlreadyActive when the user has TOTP in force.
	SaveTOTPEnrollment(ctx context.Context, userID string, sealed []byte, keyID string, at time.Time) error
	// TOTPCredential returns the user's enrolment; an error wrapping domainerr.ErrNotFound when none.
	TOTPCredential(ctx context.Context, userID string) (TOTPCredential, error)
	// ConfirmTOTP puts the enrolment whose secret is still sealed in force, records step as used
	// and stores the recovery codes' hashes; ErrTOTPEnrollmentChanged when the enrolment is no
	// longer that unconfirmed one.
	ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64, recoveryHashes [][]byte, at time.Time) error
	// DisableTOTP spends proof (when it has one), then deletes the user's TOTP credential, its
	// recovery codes and open sign-in challenges, in one transaction. ErrTOTPNotActive when TOTP is
	// not in force; ErrSecondFactorSpent when proof was spent meanwhile.
	DisableTOTP(ctx context.Context, userID string, proof SecondFactorProof, at time.Time) error
	// SaveLoginChallenge stores c.
	SaveLoginChallenge(ctx context.Context, c LoginChallenge) error
	// ChallengeTarget returns the account of the unexpired challenge with this hash;
	// ErrChallengeInvalid when there is none.
	ChallengeTarget(ctx context.Context, hash []byte, now time.Time) (ChallengeTarget, error)
	// CompleteTwoFactor ends the challenge, spends proof and stores the session (with its
	// UserLoggedIn event), in one transaction, and returns how many recovery codes are left.
	// ErrChallengeInvalid when the challenge was used or expired meanwhile; ErrSecondFactorSpent
	// when proof is no longer spendable (the step or the recovery code was used);
	// ErrBadSecondFactor for a recovery code the account never had.
	CompleteTwoFactor(ctx context.Context, challengeHash []byte, proof SecondFactorProof, session NewSession) (int, error)
}

// Errors of two-factor authentication.
var (
	// ErrTOTPUnavailable: the server has no TOTP key (only when built without one, in tests).
	ErrTOTPUnavailable = domainerr.Errorf(domainerr.ErrFailedPrecondition, "two-factor authentication is not configured on this server")
	// ErrTOTPAlreadyActive: EnrollTOTP or ConfirmTOTP while TOTP is in force.
	ErrTOTPAlreadyActive = domainerr.Errorf(domainerr.ErrFailedPrecondition, "two-factor authentication is already active; disable it first to enrol another app")
	// ErrTOTPNotEnrolling: ConfirmTOTP without EnrollTOTP.
	ErrTOTPNotEnrolling = domainerr.Errorf(domainerr.ErrFailedPrecondition, "no authenticator enrolment to confirm; start with EnrollTOTP")
	// ErrTOTPEnrollmentChanged: another EnrollTOTP or ConfirmTOTP got in first.
	ErrTOTPEnrollmentChanged = domainerr.Errorf(domainerr.ErrFailedPrecondition, "the enrolment was replaced or confirmed by another request meanwhile; start again with EnrollTOTP")
	// ErrTOTPNotActive: DisableTOTP while TOTP is not in force.
	ErrTOTPNotActive = domainerr.Errorf(domainerr.ErrFailedPrecondition, "two-factor authentication is not active")
	// ErrChallengeInvalid: the sign-in challenge is unknown, used or expired.
	ErrChallengeInvalid = domainerr.Errorf(domainerr.ErrUnauthenticated, "sign-in challenge is not valid any more (used or expired); sign in again")
	// ErrBadSecondFactor: the code or recovery code is wrong.
	ErrBadSecondFactor = domainerr.Errorf(domainerr.ErrUnauthenticated, "the code is not correct")
	// ErrSecondFactorSpent: a code whose time step was already used, or a used recovery code.
	ErrSecondFactorSpent = domainerr.Errorf(domainerr.ErrUnauthenticated, "this code was already used; wait for the app to show the next one (a recovery code works once)")
)

// TOTPEnrollment is what EnrollTOTP hands the person for their authenticator app.
type TOTPEnrollment struct {
	Secret string // base32, no padding
	URI    string // otpauth://totp/Parley:<account>?secret=…&issuer=Parley&…
}

func (s *Service) totpAvailable() error {
	if s.totpKey == nil {
		return ErrTOTPUnavailable
	}
	return nil
}

// EnrollTOTP starts enrolling an authenticator app for the caller: a new secret, sealed and stored
// unconfirmed (replacing an unconfirmed one). Nothing changes at sign-in until ConfirmTOTP.
func (s *Service) EnrollTOTP(ctx context.Context, userID string) (TOTPEnrollment, error) {
	if err := s.totpAvailable(); err != nil {
		return TOTPEnrollment{}, err
	}
	acc, err := accountOf(s.store.Account(ctx, userID))
	if err != nil {
		return TOTPEnrollment{}, err
	}
	label := acc.Email
	if label == "" {
		label = acc.UserID
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: label, Period: uint(TOTPPeriod / time.Second), SecretSize: totpSecretBytes,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader,
	})
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("generate totp secret: %w", err)
	}
	sealed := s.totpKey.seal(userID, []byte(key.Secret()))
	if err := s.store.SaveTOTPEnrollment(ctx, userID, sealed, s.totpKey.ID(), s.clock()); err != nil {
		return TOTPEnrollment{}, wrap("save totp enrolment", err)
	}
	return TOTPEnrollment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmTOTP puts the caller's enrolment in force with a current code from the app and returns
// the recovery codes (shown once; only their keyed hashes are kept).
func (s *Service) ConfirmTOTP(ctx context.Context, userID, code string) ([]string, error) {
	if err := checkCodeFormat("code", code); err != nil {
		return nil, err
	}
	if err := s.totpAvailable(); err != nil {
		return nil, err
	}
	cred, err := s.store.TOTPCredential(ctx, userID)
	switch {
	case errors.Is(err, domainerr.ErrNotFound):
		return nil, ErrTOTPNotEnrolling
	case err != nil:
		return nil, fmt.Errorf("load totp credential: %w", err)
	case cred.Confirmed:
		return nil, ErrTOTPAlreadyActive
	}
	secret, err := s.totpKey.open(userID, cred.Sealed)
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(string(secret), code, s.clock())
	if !ok {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "code: is not the code your app shows now (is the device's clock right?)")
	}
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = s.totpKey.recoveryHash(userID, normalizeRecoveryCode(codes[i]))
	}
	if err := s.store.ConfirmTOTP(ctx, userID, cred.Sealed, step, hashes, s.clock()); err != nil {
		return nil, wrap("confirm totp", err)
	}
	return codes, nil
}

// DisableTOTP turns the caller's TOTP off after re-authentication from client (a network key, as
// Login's): the current password when the account has one, else a current code or a recovery
// code. Wrong answers are throttled like failed logins of the account.
func (s *Service) DisableTOTP(ctx context.Context, userID, password, code, recoveryCode, client string) error {
	if err := s.totpAvailable(); err != nil {
		return err
	}
	acc, err := accountOf(s.store.AccountPassword(ctx, userID))
	if err != nil {
		return err
	}
	if acc.PasswordHash != "" && password == "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "current_password: required to turn two-factor authentication off")
	}
	if acc.PasswordHash == "" {
		if err := checkOneFactor(code, recoveryCode); err != nil {
			return err
		}
	}
	cred, err := s.store.TOTPCredential(ctx, userID)
	if errors.Is(err, domainerr.ErrNotFound) || err == nil && !cred.Confirmed {
		return ErrTOTPNotActive
	}
	if err != nil {
		return fmt.Errorf("load totp credential: %w", err)
	}

	key := secondFactorKey(acc.Email, userID, client)
	if err := s.beginAttempt(ctx, key); err != nil {
		return err
	}
	var proof SecondFactorProof
	if acc.PasswordHash != "" {
		ok := false
		if len([]rune(password)) <= MaxPasswordRunes {
			if ok, _, err = s.hasher.Verify(ctx, password, acc.PasswordHash); err != nil {
				return wrap("verify password", err)
			}
		}
		if !ok {
			return ErrWrongCurrentPassword
		}
	} else {
		proof, err = s.checkSecondFactor(userID, cred, code, recoveryCode)
		if err != nil {
			return asFieldError(err, code)
		}
	}
	if err := s.store.DisableTOTP(ctx, userID, proof, s.clock()); err != nil {
		return asFieldError(wrap("disable totp", err), code)
	}
	return s.succeedAttempt(ctx, key)
}

// CompleteTwoFactor finishes a sign-in that Login or CompleteOAuth answered with
// SecondFactorRequired, from client (a network key, as Login's): with the app's current code or
// an unused recovery code. Wrong codes are throttled like failed logins of the account's email.
func (s *Service) CompleteTwoFactor(ctx context.Context, challenge, code, recoveryCode, client string) (userID string, tokens Tokens, recoveryLeft int, err error) {
	var challengeErr error
	if challenge == "" {
		challengeErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "challenge: required")
	}
	if err := validate.Join(challengeErr, checkOneFactor(code, recoveryCode)); err != nil {
		return "", Tokens{}, 0, err
	}
	if err := s.totpAvailable(); err != nil {
		return "", Tokens{}, 0, err
	}
	if !wellFormedRefreshToken(challenge) {
		return "", Tokens{}, 0, ErrChallengeInvalid
	}
	hash := HashRefreshToken(challenge)
	target, err := s.store.ChallengeTarget(ctx, hash, s.clock())
	if err != nil {
		return "", Tokens{}, 0, wrap("find sign-in challenge", err)
	}
	key := secondFactorKey(target.Email, target.UserID, client)
	if err := s.beginAttempt(ctx, key); err != nil {
		return "", Tokens{}, 0, err
	}
	cred, err := s.store.TOTPCredential(ctx, target.UserID)
	if errors.Is(err, domainerr.ErrNotFound) || err == nil && !cred.Confirmed {
		return "", Tokens{}, 0, ErrChallengeInvalid // turned off since the challenge was issued
	}
	if err != nil {
		return "", Tokens{}, 0, fmt.Errorf("load totp credential: %w", err)
	}
	proof, err := s.checkSecondFactor(target.UserID, cred, code, recoveryCode)
	if err != nil {
		return "", Tokens{}, 0, err
	}
	now := s.clock()
	session, refresh := s.newSession(ctx, target.UserID, target.Method, now)
	left, err := s.store.CompleteTwoFactor(ctx, hash, proof, session)
	if err != nil {
		return "", Tokens{}, 0, wrap("complete sign-in", err)
	}
	if err := s.succeedAttempt(ctx, key); err != nil {
		return "", Tokens{}, 0, err
	}
	tokens, err = s.tokensFor(session, refresh, target.EmailVerified, now)
	return target.UserID, tokens, left, err
}

// secondFactorRequired is called by every sign-in whose first factor succeeded for an existing
// account, before a session is made, with the account's TOTP status (read with the first factor's
// credential): for an account with TOTP in force it stores a challenge and returns it as
// *SecondFactorRequired; otherwise nil.
func (s *Service) secondFactorRequired(ctx context.Context, userID, method string, status TOTPStatus) error {
	if !status.Active {
		return nil
	}
	token, hash := NewRefreshToken()
	now := s.clock()
	c := LoginChallenge{Hash: hash, UserID: userID, Method: method, CreatedAt: now, ExpiresAt: now.Add(ChallengeTTL)}
	if err := s.store.SaveLoginChallenge(ctx, c); err != nil {
		return fmt.Errorf("save sign-in challenge: %w", err)
	}
	methods := []string{SecondFactorTOTP}
	if status.RecoveryCodesRemaining > 0 {
		methods = append(methods, SecondFactorRecovery)
	}
	return &SecondFactorRequired{Challenge: token, ExpiresAt: c.ExpiresAt, Methods: methods}
}

// checkSecondFactor checks a code (against cred's secret, later than its last accepted step) or
// a recovery code (by its hash; the store finds out whether it is unused).
func (s *Service) checkSecondFactor(userID string, cred TOTPCredential, code, recoveryCode string) (SecondFactorProof, error) {
	if recoveryCode != "" {
		normalized := normalizeRecoveryCode(recoveryCode)
		if len(normalized) != recoveryCodeLen {
			return SecondFactorProof{}, ErrBadSecondFactor
		}
		return SecondFactorProof{RecoveryHash: s.totpKey.recoveryHash(userID, normalized)}, nil
	}
	secret, err := s.totpKey.open(userID, cred.Sealed)
	if err != nil {
		return SecondFactorProof{}, err
	}
	step, ok := matchTOTP(string(secret), code, s.clock())
	switch {
	case !ok:
		return SecondFactorProof{}, ErrBadSecondFactor
	case step <= cred.LastStep:
		return SecondFactorProof{}, ErrSecondFactorSpent
	}
	return SecondFactorProof{Step: step}, nil
}

// beginAttempt applies the login throttle to a second-factor attempt (counted as a failure until
// succeedAttempt takes it back).
func (s *Service) beginAttempt(ctx context.Context, key LoginKey) error {
	var wait time.Duration
	if err := s.store.UpdateLoginThrottle(ctx, key, func(st *LoginThrottleState) { wait = s.throttle.Begin(st, s.clock()) }); err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	if wait > 0 {
		return throttledError(wait)
	}
	return nil
}

func (s *Service) succeedAttempt(ctx context.Context, key LoginKey) error {
	if err := s.store.UpdateLoginThrottle(ctx, key, func(st *LoginThrottleState) { s.throttle.Succeed(st, s.clock()) }); err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	return nil
}

// secondFactorKey is the throttle key of an account's second factor: its email's, as Login's, so
// password and code guesses share one budget; an account without an email by its user id (which
// no email can equal: it has no "@").
func secondFactorKey(email, userID, client string) LoginKey {
	if email == "" {
		return NewLoginKey(userThrottleName(userID), client)
	}
	return NewLoginKey(email, client)
}

func userThrottleName(userID string) string { return "user:" + userID }

// ThrottledAccounts are the login throttle's account keys (LoginKey.Account) an account's rows may
// be under: its email's, when it has one, and its user id's (second-factor attempts made while it
// had no email). Deleting the account deletes them.
func ThrottledAccounts(email, userID string) [][]byte {
	accounts := [][]byte{NewLoginKey(userThrottleName(userID), "").Account}
	if email != "" {
		accounts = append(accounts, NewLoginKey(email, "").Account)
	}
	return accounts
}

// asFieldError turns the public sign-in's answers to a wrong code into the field errors of a
// bearer call (DisableTOTP): an Unauthenticated there would read as "your access token is bad".
func asFieldError(err error, code string) error {
	field := "recovery_code"
	if code != "" {
		field = "code"
	}
	switch {
	case errors.Is(err, ErrBadSecondFactor):
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: is not correct", field)
	case errors.Is(err, ErrSecondFactorSpent):
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: was already used; wait for the app's next code (a recovery code works once)", field)
	}
	return err
}

// checkOneFactor requires exactly one of a code and a recovery code, the code as 6 digits.
func checkOneFactor(code, recoveryCode string) error {
	switch {
	case code == "" && recoveryCode == "":
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "code: required, the 6 digits your authenticator app shows (or give a recovery_code instead)")
	case code != "" && recoveryCode != "":
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "recovery_code: give either code or recovery_code, not both")
	case code != "":
		return checkCodeFormat("code", code)
	case len(recoveryCode) > 64:
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "recovery_code: must look like xxxx-xxxx-xxxx")
	}
	return nil
}

func checkCodeFormat(field, code string) error {
	if code == "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required, the 6 digits your authenticator app shows", field)
	}
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be the 6 digits your authenticator app shows", field)
	}
	return nil
}

// matchTOTP finds the time step within TOTPSkew of now whose code is code.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	opts := totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	current := now.Unix() / int64(TOTPPeriod/time.Second)
	var found int64
	for step := current - TOTPSkew; step <= current+TOTPSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*int64(TOTPPeriod/time.Second), 0), opts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = step // the latest matching step: never accept an earlier one after it
		}
	}
	return found, found > 0
}

// Recovery codes: 12 characters of the RFC 4648 base32 alphabet, lower case (60 random bits),
// shown as xxxx-xxxx-xxxx. Spaces, dashes and case are ignored when one is typed in.
const (
	recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
	recoveryCodeLen  = 12
)

func newRecoveryCode() string {
	b := make([]byte, recoveryCodeLen)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(recoveryAlphabet[c&31])
	}
	return sb.String()
}

func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, code)
}
