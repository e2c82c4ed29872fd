// Package webauthntest is a software WebAuthn authenticator for tests: it plays the browser and
// the authenticator of navigator.credentials.create and .get. It makes real ES256 (P-256) key
// pairs, real authenticator data and a real CBOR attestation object ("none" attestation), and
// signs real assertions over the hash of the clientDataJSON it writes, so a relying party's
// verification runs unchanged against it. It keeps discoverable credentials (passkeys) in memory.
//
// It depends on the standard library only, so every module's tests can use it (the auth
// service's and the end-to-end tests'). It is not for production code.
package webauthntest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	FlagUserPresent  byte = 0x01
	FlagUserVerified byte = 0x04
	FlagAttestedData byte = 0x40
)

// coseES256 is the COSE algorithm id of ECDSA with SHA-256 on P-256.
const coseES256 = -7

// Credential is a passkey the authenticator holds.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	UserName   string
	Key        *ecdsa.PrivateKey
	// SignCount is the signature counter: Get adds one before signing. Tests set it back to
	// play a cloned authenticator.
	SignCount uint32
}

// Authenticator is a platform authenticator with user verification (it sets UP and UV).
type Authenticator struct {
	// AAGUID identifies the authenticator model; New makes a random one.
	AAGUID [16]byte
	// Transports are reported at registration ("internal", "hybrid" by default).
	Transports []string

	mu    sync.Mutex
	creds []*Credential
}

// New returns an authenticator holding no credential.
func New() *Authenticator {
	a := &Authenticator{Transports: []string{"internal", "hybrid"}}
	_, _ = rand.Read(a.AAGUID[:])
	return a
}

// Credentials returns the credentials held, the oldest first.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

// creationOptions is what Create reads of PublicKeyCredentialCreationOptions (JSON form).
type creationOptions struct {
	RP struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rp"`
	User struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Challenge        string           `json:"challenge"`
	PubKeyCredParams []credParam      `json:"pubKeyCredParams"`
	Exclude          []credDescriptor `json:"excludeCredentials"`
}

type credParam struct {
	Type string `json:"type"`
	Alg  int    `json:"alg"`
}

type credDescriptor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// requestOptions is what Get reads of PublicKeyCredentialRequestOptions (JSON form).
type requestOptions struct {
	Challenge string           `json:"challenge"`
	RPID      string           `json:"rpId"`
	Allow     []credDescriptor `json:"allowCredentials"`
}

// Create runs navigator.credentials.create on origin with options (PublicKeyCredentialCreationOptions
// as JSON, binary members base64url) and returns the PublicKeyCredential as JSON (its toJSON()).
// It refuses, as a real authenticator does, when it holds an excluded credential or ES256 is not
// offered.
func (a *Authenticator) Create(optionsJSON, origin string) (string, error) {
	var o creationOptions
	if err := json.Unmarshal([]byte(optionsJSON), &o); err != nil {
		return "", fmt.Errorf("creation options: %w", err)
	}
	if o.RP.ID == "" {
		return "", errors.New("creation options: rp.id is empty")
	}
	handle, err := decodeB64(o.User.ID)
	if err != nil || len(handle) == 0 {
		return "", fmt.Errorf("creation options: user.id %q: not base64url", o.User.ID)
	}
	es256 := false
	for _, p := range o.PubKeyCredParams {
		es256 = es256 || (p.Type == "public-key" && p.Alg == coseES256)
	}
	if !es256 {
		return "", errors.New("creation options: ES256 (-7) not offered")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range o.Exclude {
		id, _ := decodeB64(ex.ID)
		for _, c := range a.creds {
			if bytes.Equal(c.ID, id) && c.RPID == o.RP.ID {
				return "", errors.New("InvalidStateError: the authenticator already holds an excluded credential")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	cred := &Credential{ID: make([]byte, 32), RPID: o.RP.ID, UserHandle: handle, UserName: o.User.Name, Key: key}
	_, _ = rand.Read(cred.ID)

	clientData, err := clientDataJSON("webauthn.create", o.Challenge, origin)
	if err != nil {
		return "", err
	}
	authData := authenticatorData(o.RP.ID, FlagUserPresent|FlagUserVerified|FlagAttestedData, cred.SignCount)
	authData = append(authData, a.AAGUID[:]...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(cred.ID)))
	authData = append(authData, cred.ID...)
	authData = append(authData, coseKey(&key.PublicKey)...)

	// attestationObject: {"fmt": "none", "attStmt": {}, "authData": bytes}
	var att []byte
	att = cborHead(att, majorMap, 3)
	att = cborText(att, "fmt")
	att = cborText(att, "none")
	att = cborText(att, "attStmt")
	att = cborHead(att, majorMap, 0)
	att = cborText(att, "authData")
	att = cborBytes(att, authData)

	a.creds = append(a.creds, cred)
	return credentialJSON(cred, map[string]any{
		"clientDataJSON":    b64(clientData),
		"attestationObject": b64(att),
		"transports":        a.Transports,
	})
}

// Get runs navigator.credentials.get on origin with options (PublicKeyCredentialRequestOptions as
// JSON). With no allowCredentials it picks the newest credential it holds for the RP id (the
// person choosing their passkey). The signature counter goes up by one, then the assertion is
// signed. It returns the PublicKeyCredential as JSON (its toJSON()).
func (a *Authenticator) Get(optionsJSON, origin string) (string, error) {
	var o requestOptions
	if err := json.Unmarshal([]byte(optionsJSON), &o); err != nil {
		return "", fmt.Errorf("request options: %w", err)
	}
	if o.RPID == "" {
		return "", errors.New("request options: rpId is empty")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var cred *Credential
	for i := len(a.creds) - 1; i >= 0 && cred == nil; i-- {
		c := a.creds[i]
		if c.RPID != o.RPID {
			continue
		}
		if len(o.Allow) == 0 {
			cred = c
		}
		for _, d := range o.Allow {
			if id, _ := decodeB64(d.ID); bytes.Equal(id, c.ID) {
				cred = c
			}
		}
	}
	if cred == nil {
		return "", fmt.Errorf("NotAllowedError: no credential for %q", o.RPID)
	}
	cred.SignCount++
	clientData, err := clientDataJSON("webauthn.get", o.Challenge, origin)
	if err != nil {
		return "", err
	}
	authData := authenticatorData(o.RPID, FlagUserPresent|FlagUserVerified, cred.SignCount)
	clientHash := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(append([]byte(nil), authData...), clientHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, signed[:])
	if err != nil {
		return "", err
	}
	return credentialJSON(cred, map[string]any{
		"clientDataJSON":    b64(clientData),
		"authenticatorData": b64(authData),
		"signature":         b64(sig),
		"userHandle":        b64(cred.UserHandle),
	})
}

// credentialJSON is the PublicKeyCredential of cred as its toJSON() gives it, with response (the
// attestation's or the assertion's members).
func credentialJSON(cred *Credential, response map[string]any) (string, error) {
	id := b64(cred.ID)
	b, err := json.Marshal(map[string]any{
		"id":                      id,
		"rawId":                   id,
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response":                response,
	})
	return string(b), err
}

func clientDataJSON(typ, challenge, origin string) ([]byte, error) {
	if challenge == "" {
		return nil, errors.New("options: challenge is empty")
	}
	return json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, strings.TrimRight(challenge, "="), origin, false})
}

// authenticatorData is rpIdHash (32) | flags (1) | signCount (4, big-endian).
func authenticatorData(rpID string, flags byte, count uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte(nil), h[:]...)
	out = append(out, flags)
	return binary.BigEndian.AppendUint32(out, count)
}

// coseKey is the EC2 COSE_Key of pub: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
func coseKey(pub *ecdsa.PublicKey) []byte {
	raw, err := pub.Bytes() // 0x04 | x (32) | y (32)
	if err != nil {
		panic(err)
	}
	var out []byte
	out = cborHead(out, majorMap, 5)
	out = cborInt(out, 1)
	out = cborInt(out, 2)
	out = cborInt(out, 3)
	out = cborInt(out, coseES256)
	out = cborInt(out, -1)
	out = cborInt(out, 1)
	out = cborInt(out, -2)
	out = cborBytes(out, raw[1:33])
	out = cborInt(out, -3)
	out = cborBytes(out, raw[33:65])
	return out
}

// CBOR (RFC 8949) major types used here.
const (
	majorUint  = 0
	majorNeg   = 1
	majorBytes = 2
	majorText  = 3
	majorMap   = 5
)

func cborHead(out []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(out, m|byte(n))
	case n <= 0xff:
		return append(out, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(out, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(out, m|26), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(out, m|27), n)
	}
}

func cborInt(out []byte, v int64) []byte {
	if v >= 0 {
		return cborHead(out, majorUint, uint64(v))
	}
	return cborHead(out, majorNeg, uint64(-1-v))
}

func cborBytes(out, b []byte) []byte { return append(cborHead(out, majorBytes, uint64(len(b))), b...) }

func cborText(out []byte, s string) []byte {
	return append(cborHead(out, majorText, uint64(len(s))), s...)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
