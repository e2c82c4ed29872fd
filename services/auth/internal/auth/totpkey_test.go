package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testTOTPKey(t *testing.T, fill byte) *TOTPKey {
	t.Helper()
	k, err := NewTOTPKey(bytes.Repeat([]byte{fill}, TOTPKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A sealed secret opens only for its user and with its key; a changed byte is refused.
func TestTOTPKeySealsPerUser(t *testing.T) {
	k := testTOTPKey(t, 1)
	sealed := k.seal("user-a", []byte("JBSWY3DPEHPK3PXP"))
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed secret contains the plaintext")
	}
	if got, err := k.open("user-a", sealed); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := k.open("user-b", sealed); err == nil {
		t.Fatal("a secret sealed for user-a opened for user-b (a copied row)")
	}
	if _, err := testTOTPKey(t, 2).open("user-a", sealed); err == nil {
		t.Fatal("opened with another key")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := k.open("user-a", tampered); err == nil {
		t.Fatal("a tampered secret opened")
	}
	if bytes.Equal(k.seal("user-a", []byte("x")), k.seal("user-a", []byte("x"))) {
		t.Fatal("two seals of one secret are equal: the nonce is not random")
	}
}

// Recovery-code hashes depend on the key and the user, and the code as normalised.
func TestRecoveryCodeHash(t *testing.T) {
	k := testTOTPKey(t, 1)
	code := newRecoveryCode()
	if len(code) != 14 || strings.Count(code, "-") != 2 {
		t.Fatalf("recovery code %q: want xxxx-xxxx-xxxx", code)
	}
	h := k.recoveryHash("user-a", normalizeRecoveryCode(code))
	if !bytes.Equal(h, k.recoveryHash("user-a", normalizeRecoveryCode(" "+strings.ToUpper(code)+" "))) {
		t.Fatal("case and spaces change the hash")
	}
	if bytes.Equal(h, k.recoveryHash("user-b", normalizeRecoveryCode(code))) || bytes.Equal(h, testTOTPKey(t, 2).recoveryHash("user-a", normalizeRecoveryCode(code))) {
		t.Fatal("the hash does not depend on the user and the key")
	}
}

func TestLoadTOTPKeyRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"short": "c2hvcnQ=\n", "not-base64": "!!!!\n"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadTOTPKey(path, true); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	path := filepath.Join(dir, "gen", "totp-key")
	k, generated, err := LoadTOTPKey(path, true)
	if err != nil || !generated {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file mode: %v, %v", info, err)
	}
	again, _, err := LoadTOTPKey(path, false)
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("reload: %v", err)
	}
}
