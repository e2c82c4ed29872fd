package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// MethodPasskey is the sign-in method of sessions started with a passkey.
const MethodPasskey = "passkey"

// Kinds of passkey ceremony, as stored.
const (
	CeremonyRegistration = "registration"
	CeremonyLogin        = "login"
)

// MaxPasskeyNameRunes bounds the name a person gives a passkey.
const MaxPasskeyNameRunes = 64

// PasskeyConfig is the relying party passkeys are registered with. Passkeys are off when Origins
// is empty.
type PasskeyConfig struct {
	// RPID is the relying party id: the site's domain ("parley.example", "localhost"); a passkey
	// works only under the RP id it was registered with. Default: the host of the first origin.
	RPID string
	// RPDisplayName is the name the authenticator shows ("Parley" when empty).
	RPDisplayName string
	// Origins are the exact origins ("https://parley.example") the browser may run the ceremonies
	// on; clientDataJSON from any other origin is refused.
	Origins []string
	// CeremonyTTL bounds the time between a Begin and its Finish (default 5 minutes).
	CeremonyTTL time.Duration
}

// Passkey is a stored WebAuthn credential.
type Passkey struct {
	ID                string
	UserID            string
	CredentialID      []byte
	PublicKey         []byte // COSE_Key
	AttestationType   string
	AttestationFormat string
	Transports        []string
	AAGUID            []byte // 16 bytes
	SignCount         uint32
	// Flags are the authenticator data flags of the last ceremony (user verified, backup
	// eligible, backed up).
	Flags      byte
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
}

// PasskeyCeremony is a started registration or sign-in, found by the SHA-256 of its id.
type PasskeyCeremony struct {
	IDHash []byte
	Kind   string
	UserID string // the registering user; "" for a sign-in
	// Session is the library's ceremony state (challenge, RP id, user verification) as JSON.
	Session   []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasskeyUse is a successful sign-in to record.
type PasskeyUse struct {
	PasskeyID string
	SignCount uint32
	Flags     byte
	At        time.Time
}

// PasskeyStore is the persistence of passkeys.
type PasskeyStore interface {
	// SavePasskeyCeremony stores a started ceremony.
	SavePasskeyCeremony(ctx context.Context, c PasskeyCeremony) error
	// TakePasskeyCeremony deletes and returns the unexpired ceremony of this kind with this id
	// hash; an error wrapping domainerr.ErrNotFound when there is none.
	TakePasskeyCeremony(ctx context.Context, idHash []byte, kind string, now time.Time) (PasskeyCeremony, error)
	// AddPasskey stores a passkey; ErrPasskeyTaken when its credential id is registered.
	AddPasskey(ctx context.Context, p Passkey) error
	// Passkeys returns the user's passkeys, the most recently added first.
	Passkeys(ctx context.Context, userID string) ([]Passkey, error)
	// PasskeyByCredentialID returns the passkey with this credential id; an error wrapping
	// domainerr.ErrNotFound when there is none.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (Passkey, error)
	// UsePasskey records a sign-in: the new signature counter, flags and last use. It stores
	// nothing and reports false when the stored counter is not below u.SignCount (both 0 is
	// allowed: the authenticator keeps no counter), so two sign-ins racing with one counter value
	// cannot both pass.
	UsePasskey(ctx context.Context, u PasskeyUse) (bool, error)
	// DeletePasskey removes the user's passkey; false when the user has no such passkey.
	DeletePasskey(ctx context.Context, userID, passkeyID string) (bool, error)
}

// Errors of the passkey use cases.
var (
	ErrPasskeysOff = domainerr.Errorf(domainerr.ErrFailedPrecondition, "passkeys are not configured on this server (AUTH_PASSKEY_ORIGINS)")
	// ErrPasskeyTaken: the authenticator's credential is already registered.
	ErrPasskeyTaken = domainerr.Errorf(domainerr.ErrAlreadyExists, "credential_json: this passkey is already registered")
	// ErrPasskeyNotFound: the caller has no passkey with that id.
	ErrPasskeyNotFound = domainerr.Errorf(domainerr.ErrNotFound, "passkey_id: you have no such passkey")
	// ErrPasskeyUnknown: the assertion names a credential no account has (never registered, or removed).
	ErrPasskeyUnknown = domainerr.Errorf(domainerr.ErrUnauthenticated, "this passkey is not registered here (it may have been removed); sign in another way")
	// ErrPasskeyCloned: the signature counter did not increase.
	ErrPasskeyCloned = domainerr.Errorf(domainerr.ErrUnauthenticated,
		"this passkey's signature counter went backwards, so the authenticator may have been cloned: sign-in refused; sign in another way, remove this passkey and register a new one")
)

// passkeys is the configured relying party.
type passkeys struct {
	wa  *webauthn.WebAuthn
	ttl time.Duration
}

func newPasskeys(c PasskeyConfig) (*passkeys, error) {
	if len(c.Origins) == 0 {
		return nil, nil // passkeys off: no relying party, and no error
	}
	for _, o := range c.Origins {
		if _, err := PasskeyOriginHost(o); err != nil {
			return nil, err
		}
	}
	if c.RPID == "" {
		c.RPID, _ = PasskeyOriginHost(c.Origins[0])
	}
	if c.RPDisplayName == "" {
		c.RPDisplayName = "Parley"
	}
	c.CeremonyTTL = defaults.Positive(c.CeremonyTTL, 5*time.Minute)
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          c.RPID,
		RPDisplayName: c.RPDisplayName,
		RPOrigins:     c.Origins,
		// Usernameless sign-in needs a discoverable credential; user verification (PIN,
		// biometrics) is asked for where the authenticator can do it.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: c.CeremonyTTL, TimeoutUVD: c.CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: c.CeremonyTTL, TimeoutUVD: c.CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return &passkeys{wa: wa, ttl: c.CeremonyTTL}, nil
}

// PasskeyOriginHost returns the host of a passkey origin, refusing anything but
// http(s)://host[:port]. The configuration checks each origin with it before anything connects.
func PasskeyOriginHost(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("passkeys: origin %q is not http(s)://host[:port]", origin)
	}
	return u.Hostname(), nil
}

// passkeyUser is an account as the WebAuthn library sees it. Its user handle is the user id's 16
// bytes: stable, opaque, and no personal data.
type passkeyUser struct {
	id    uuid.UUID
	name  string
	creds []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.id[:] }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (p Passkey) credential() webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:                p.CredentialID,
		PublicKey:         p.PublicKey,
		AttestationType:   p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(p.Flags)),
		Authenticator:     webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

// passkeysOn refuses the ceremonies, which need the relying party, when passkeys are off; the
// stored passkeys can be listed and removed all the same.
func (s *Service) passkeysOn() error {
	if s.passkeys == nil {
		return ErrPasskeysOff
	}
	return nil
}

// BeginPasskeyRegistration starts adding a passkey to the caller's account. It returns the
// ceremony id for FinishPasskeyRegistration and the PublicKeyCredentialCreationOptions (JSON) for
// navigator.credentials.create. The caller's passkeys are excluded, so one authenticator is not
// registered twice.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, userID string) (ceremonyID string, options []byte, err error) {
	if err := s.passkeysOn(); err != nil {
		return "", nil, err
	}
	user, err := s.passkeyUser(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, len(user.creds))
	for i, c := range user.creds {
		exclude[i] = c.Descriptor()
	}
	creation, session, err := s.passkeys.wa.BeginRegistration(user, webauthn.WithExclusions(exclude))
	if err != nil {
		return "", nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	options, err = json.Marshal(creation.Response)
	if err != nil {
		return "", nil, fmt.Errorf("encode creation options: %w", err)
	}
	ceremonyID, err = s.saveCeremony(ctx, CeremonyRegistration, userID, session)
	return ceremonyID, options, err
}

// FinishPasskeyRegistration verifies the attestation response (JSON) against the ceremony and
// stores the passkey under name.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, userID, ceremonyID, credentialJSON, name string) (Passkey, error) {
	name = strings.TrimSpace(name)
	if err := validate.Join(passkeyField("ceremony_id", ceremonyID), passkeyField("credential_json", credentialJSON), validatePasskeyName(name)); err != nil {
		return Passkey{}, err
	}
	if err := s.passkeysOn(); err != nil {
		return Passkey{}, err
	}
	c, err := s.takeCeremony(ctx, ceremonyID, CeremonyRegistration, "BeginPasskeyRegistration")
	if err != nil {
		return Passkey{}, err
	}
	if c.UserID != userID {
		return Passkey{}, ceremonyGone("BeginPasskeyRegistration")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(credentialJSON))
	if err != nil {
		return Passkey{}, s.refused(ctx, domainerr.ErrInvalidArgument, "credential_json: not a passkey registration response", err)
	}
	user, err := s.passkeyUser(ctx, userID)
	if err != nil {
		return Passkey{}, err
	}
	session, err := decodeSession(c)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := s.passkeys.wa.CreateCredential(user, session, parsed)
	if err != nil {
		return Passkey{}, s.refused(ctx, domainerr.ErrInvalidArgument, "credential_json: the passkey was not accepted", err)
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	aaguid := cred.Authenticator.AAGUID
	if len(aaguid) != 16 {
		aaguid = make([]byte, 16)
	}
	p := Passkey{
		ID: newID(), UserID: userID, CredentialID: cred.ID, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		Transports: transports, AAGUID: aaguid, SignCount: cred.Authenticator.SignCount,
		Flags: byte(parsed.Response.AttestationObject.AuthData.Flags), Name: name, CreatedAt: s.clock(),
	}
	if err := s.store.AddPasskey(ctx, p); err != nil {
		return Passkey{}, wrap("add passkey", err)
	}
	s.logger.InfoContext(ctx, "passkey added", slog.String("user", userID), slog.String("passkey", p.ID))
	return p, nil
}

// ListPasskeys returns the caller's passkeys, the most recently added first.
func (s *Service) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	list, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return list, nil
}

// DeletePasskey removes one of the caller's passkeys.
func (s *Service) DeletePasskey(ctx context.Context, userID, passkeyID string) error {
	id, err := validate.UUID("passkey_id", passkeyID)
	if err != nil {
		return err
	}
	found, err := s.store.DeletePasskey(ctx, userID, id)
	if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	if !found {
		return ErrPasskeyNotFound
	}
	s.logger.InfoContext(ctx, "passkey removed", slog.String("user", userID), slog.String("passkey", id))
	return nil
}

// BeginPasskeyLogin starts a usernameless sign-in: the options (JSON) for navigator.credentials.get
// name no credential, so the authenticator offers the passkeys it holds for the relying party.
func (s *Service) BeginPasskeyLogin(ctx context.Context) (ceremonyID string, options []byte, err error) {
	if err := s.passkeysOn(); err != nil {
		return "", nil, err
	}
	assertion, session, err := s.passkeys.wa.BeginDiscoverableLogin()
	if err != nil {
		return "", nil, fmt.Errorf("begin passkey login: %w", err)
	}
	options, err = json.Marshal(assertion.Response)
	if err != nil {
		return "", nil, fmt.Errorf("encode request options: %w", err)
	}
	ceremonyID, err = s.saveCeremony(ctx, CeremonyLogin, "", session)
	return ceremonyID, options, err
}

// FinishPasskeyLogin verifies the assertion response (JSON) against the ceremony and signs in the
// passkey's account from the device ctx carries (WithClient), as Login does. A passkey is two
// factors already (the device, and the user verification it does), so no second factor is asked.
// A signature counter that did not increase refuses the sign-in (ErrPasskeyCloned).
func (s *Service) FinishPasskeyLogin(ctx context.Context, ceremonyID, credentialJSON string) (string, Tokens, error) {
	if err := validate.Join(passkeyField("ceremony_id", ceremonyID), passkeyField("credential_json", credentialJSON)); err != nil {
		return "", Tokens{}, err
	}
	if err := s.passkeysOn(); err != nil {
		return "", Tokens{}, err
	}
	c, err := s.takeCeremony(ctx, ceremonyID, CeremonyLogin, "BeginPasskeyLogin")
	if err != nil {
		return "", Tokens{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(credentialJSON))
	if err != nil {
		return "", Tokens{}, s.refused(ctx, domainerr.ErrInvalidArgument, "credential_json: not a passkey sign-in response", err)
	}
	session, err := decodeSession(c)
	if err != nil {
		return "", Tokens{}, err
	}
	var (
		stored    Passkey
		lookupErr error
	)
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		stored, lookupErr = s.store.PasskeyByCredentialID(ctx, rawID)
		if errors.Is(lookupErr, domainerr.ErrNotFound) {
			lookupErr = ErrPasskeyUnknown
		}
		if lookupErr != nil {
			return nil, lookupErr
		}
		uid, err := uuid.Parse(stored.UserID)
		if err != nil {
			lookupErr = fmt.Errorf("stored passkey %s: user id: %w", stored.ID, err)
			return nil, lookupErr
		}
		if !bytes.Equal(userHandle, uid[:]) {
			lookupErr = ErrPasskeyUnknown // the handle names another account than the credential's
			return nil, lookupErr
		}
		return &passkeyUser{id: uid, creds: []webauthn.Credential{stored.credential()}}, nil
	}
	_, cred, err := s.passkeys.wa.ValidatePasskeyLogin(handler, session, parsed)
	if lookupErr != nil {
		return "", Tokens{}, wrap("find passkey", lookupErr)
	}
	if err != nil {
		return "", Tokens{}, s.refused(ctx, domainerr.ErrUnauthenticated, "the passkey was not accepted", err)
	}
	now := s.clock()
	if cred.Authenticator.CloneWarning {
		s.logger.WarnContext(ctx, "passkey signature counter went backwards: possible cloned authenticator",
			slog.String("user", stored.UserID), slog.String("passkey", stored.ID),
			slog.Uint64("stored", uint64(stored.SignCount)), slog.Uint64("presented", uint64(parsed.Response.AuthenticatorData.Counter)))
		return "", Tokens{}, ErrPasskeyCloned
	}
	ok, err := s.store.UsePasskey(ctx, PasskeyUse{PasskeyID: stored.ID, SignCount: cred.Authenticator.SignCount,
		Flags: byte(parsed.Response.AuthenticatorData.Flags), At: now})
	if err != nil {
		return "", Tokens{}, fmt.Errorf("record passkey use: %w", err)
	}
	if !ok {
		s.logger.WarnContext(ctx, "passkey signature counter reused by a concurrent sign-in: possible cloned authenticator",
			slog.String("user", stored.UserID), slog.String("passkey", stored.ID))
		return "", Tokens{}, ErrPasskeyCloned
	}
	acc, err := accountOf(s.store.Account(ctx, stored.UserID))
	if err != nil {
		return "", Tokens{}, err
	}
	tokens, err := s.startSession(ctx, stored.UserID, MethodPasskey, acc.EmailVerified, now)
	if err != nil {
		return "", Tokens{}, err
	}
	return stored.UserID, tokens, nil
}

func (s *Service) passkeyUser(ctx context.Context, userID string) (*passkeyUser, error) {
	uid, err := uuid.Parse(userID)
	if err != nil {
		return nil, domainerr.Errorf(domainerr.ErrUnauthenticated, "the access token names no account")
	}
	acc, err := accountOf(s.store.Account(ctx, userID))
	if err != nil {
		return nil, err
	}
	list, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	u := &passkeyUser{id: uid, name: acc.Email}
	if u.name == "" {
		u.name = "Parley account " + userID[:8]
	}
	for _, p := range list {
		u.creds = append(u.creds, p.credential())
	}
	return u, nil
}

func (s *Service) saveCeremony(ctx context.Context, kind, userID string, session *webauthn.SessionData) (string, error) {
	data, err := json.Marshal(session)
	if err != nil {
		return "", fmt.Errorf("encode ceremony: %w", err)
	}
	id := randomToken()
	now := s.clock()
	err = s.store.SavePasskeyCeremony(ctx, PasskeyCeremony{IDHash: hashState(id), Kind: kind, UserID: userID, Session: data,
		CreatedAt: now, ExpiresAt: now.Add(s.passkeys.ttl)})
	if err != nil {
		return "", fmt.Errorf("save passkey ceremony: %w", err)
	}
	return id, nil
}

// takeCeremony uses up a ceremony: whatever the Finish call then decides, the challenge cannot be
// answered twice.
func (s *Service) takeCeremony(ctx context.Context, id, kind, begin string) (PasskeyCeremony, error) {
	c, err := s.store.TakePasskeyCeremony(ctx, hashState(id), kind, s.clock())
	if errors.Is(err, domainerr.ErrNotFound) {
		return c, ceremonyGone(begin)
	}
	if err != nil {
		return c, fmt.Errorf("take passkey ceremony: %w", err)
	}
	return c, nil
}

func ceremonyGone(begin string) error {
	return domainerr.Errorf(domainerr.ErrFailedPrecondition, "ceremony_id: unknown, used or expired; start again with %s", begin)
}

func decodeSession(c PasskeyCeremony) (webauthn.SessionData, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(c.Session, &session); err != nil {
		return session, fmt.Errorf("decode passkey ceremony: %w", err)
	}
	return session, nil
}

// refused turns the library's verdict on a response into a domain error of kind, "msg: details".
// The library's debugging information (expected and received values) is logged, not returned.
func (s *Service) refused(ctx context.Context, kind error, msg string, err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s.logger.InfoContext(ctx, "passkey response refused", slog.String("error", pe.Details), slog.String("debug", pe.DevInfo))
		if pe.Details != "" {
			return domainerr.Errorf(kind, "%s: %s", msg, pe.Details)
		}
	}
	return domainerr.Errorf(kind, "%s: %v", msg, err)
}

func passkeyField(field, v string) error {
	if v == "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required", field)
	}
	return nil
}

func validatePasskeyName(name string) error {
	switch {
	case name == "":
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "name: required")
	case !utf8.ValidString(name):
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "name: must be UTF-8")
	case utf8.RuneCountInString(name) > MaxPasskeyNameRunes:
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "name: at most %d characters", MaxPasskeyNameRunes)
	case strings.ContainsFunc(name, unicode.IsControl):
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "name: must not contain control characters")
	}
	return nil
}
